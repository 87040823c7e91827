/**
 * Server-side state of one scheduled task and the rules that decide, for NVFlare 2.3's four
 * task managers, who gets the task and when it is done (`nvflare/apis/impl/bcast_manager.py`,
 * `send_manager.py`, `seq_relay_manager.py` and the controller's monitor loop). Pure state and
 * time arithmetic: the engine feeds it the clock and the liveness of sites, and owns timers,
 * frames and filters.
 */
import type { TaskCompletion, TaskSpec } from '../core/controller.js';
import type { Payload, TaskResult } from '../core/messages.js';

export type TaskMode =
  | { readonly kind: 'broadcast'; readonly minResponses: number; readonly graceMs: number }
  | { readonly kind: 'forever'; readonly resendIntervalMs: number }
  | {
      readonly kind: 'send';
      readonly order: 'sequential' | 'any';
      readonly assignTimeoutMs: number;
    }
  | {
      readonly kind: 'relay';
      readonly assignTimeoutMs: number;
      readonly resultTimeoutMs: number;
      readonly dynamic: boolean;
    };

/** One hand-over of the task to one site (NVFlare's ClientTask). */
export interface Assignment {
  readonly site: string;
  /** Index in the relay's target list; -1 for other modes. */
  readonly index: number;
  readonly sentAt: number;
  sendCount: number;
  resultAt: number | undefined;
  /** A result frame arrived and is being filtered: no re-send to this site meanwhile. */
  resultPending: boolean;
  /** The task data after the server's data-out filters, kept for re-sends. */
  prepared: Promise<PreparedData> | undefined;
}

export type PreparedData =
  | { readonly ok: true; readonly payload: Payload | null }
  | { readonly ok: false; readonly rc: 'task-data-filter-error' | 'bad-task-data'; reason: string };

/** What the engine knows about site liveness when it checks the exit rules. */
export interface Liveness {
  isAlive(site: string): boolean;
  /** False when no site at all is dead: lets the rules skip their per-target scans. */
  readonly anyDead: boolean;
}

/** `send`: hand out (a new assignment); `resend`: the same assignment again. */
export type SendDecision = 'send' | 'resend' | 'block' | 'skip';

interface RelayWindow {
  /** -1 when nobody can get the task now. */
  readonly start: number;
  readonly end: number;
  /** True when the relay went past its last target. */
  readonly ended: boolean;
  /** When the window changes by time alone (for the engine's timer). */
  readonly wakeAt: number | undefined;
}

export class ScheduledTask {
  readonly assignments: Assignment[] = [];
  /** Latest assignment per site. */
  readonly bySite = new Map<string, Assignment>();
  /** Results by site, in arrival order (a later result from the same site moves to the end). */
  readonly results = new Map<string, TaskResult>();
  completion: TaskCompletion | undefined;
  minReachedAt: number | undefined;
  #relayLast: Assignment | undefined;
  /**
   * The task's frame when every site gets the same bytes (see `ServerEngine#taskFrame`), one per
   * value of the `resend` flag; dropped when the task ends.
   */
  readonly sharedFrames = new Map<boolean, Uint8Array>();
  /** Distinct targets, for O(1) membership (relays may add targets; see `#addTarget`). */
  readonly #targetSet: Set<string>;

  constructor(
    readonly id: string,
    readonly spec: TaskSpec,
    readonly mode: TaskMode,
    readonly targets: string[],
    readonly scheduledAt: number,
  ) {
    this.#targetSet = new Set(targets);
  }

  #isTarget(site: string): boolean {
    return this.#targetSet.has(site);
  }

  get open(): boolean {
    return this.completion === undefined;
  }

  /** Decides whether `site`, asking now, gets this task. */
  checkSend(site: string, now: number): SendDecision {
    const mine = this.bySite.get(site);
    // Asked again before answering: the same task again (the controller's re-send rule).
    if (mine !== undefined && mine.resultAt === undefined) {
      return mine.resultPending ? 'skip' : 'resend';
    }
    const mode = this.mode;
    switch (mode.kind) {
      case 'broadcast':
        return this.#isTarget(site) && !this.results.has(site) ? 'send' : 'skip';
      case 'forever': {
        if (!this.#isTarget(site)) return 'skip';
        // Stays standing for every ask; paced so a fast client does not spin on it.
        const last = mine?.resultAt;
        return last !== undefined && now - last < mode.resendIntervalMs ? 'skip' : 'send';
      }
      case 'send':
        return this.#checkSendOne(site, now, mode.order, mode.assignTimeoutMs);
      case 'relay':
        return this.#checkRelay(site, now, mode.dynamic);
    }
  }

  #checkSendOne(site: string, now: number, order: string, assignMs: number): SendDecision {
    if (this.assignments.length > 0) return 'skip';
    const idx = this.targets.indexOf(site);
    if (idx < 0) return 'skip';
    if (order === 'any') return 'send';
    const eligible = assignMs > 0 ? Math.floor((now - this.scheduledAt) / assignMs) : 0;
    // A later target waits (blocked) for its turn or for the task to end.
    return idx <= eligible ? 'send' : 'block';
  }

  #checkRelay(site: string, now: number, dynamic: boolean): SendDecision {
    if (dynamic && !this.#isTarget(site)) {
      this.targets.push(site);
      this.#targetSet.add(site);
    }
    if (!this.#isTarget(site)) return 'skip';
    const window = this.relayWindow(now);
    if (window.start < 0) return 'block';
    for (let i = window.start; i < window.end; i++) {
      if (this.targets[i] === site) return 'send';
    }
    return 'skip';
  }

  /** Records a hand-over decided by `checkSend`. */
  claim(site: string, now: number, decision: 'send' | 'resend'): Assignment {
    const existing = this.bySite.get(site);
    if (decision === 'resend' && existing !== undefined) {
      existing.sendCount++;
      return existing;
    }
    let index = -1;
    if (this.mode.kind === 'relay') {
      const window = this.relayWindow(now);
      for (let i = window.start; i < window.end; i++) {
        if (this.targets[i] === site) {
          index = i;
          break;
        }
      }
    }
    const assignment: Assignment = {
      site,
      index,
      sentAt: now,
      sendCount: 1,
      resultAt: undefined,
      resultPending: false,
      prepared: undefined,
    };
    this.assignments.push(assignment);
    this.bySite.set(site, assignment);
    if (this.mode.kind === 'relay') this.#relayLast = assignment;
    return assignment;
  }

  /** Stores a result; false when `site` has no open assignment (unexpected result). */
  recordResult(result: TaskResult, now: number): boolean {
    const mine = this.bySite.get(result.site);
    if (mine === undefined || mine.resultAt !== undefined) return false;
    mine.resultAt = now;
    this.results.delete(result.site);
    this.results.set(result.site, result);
    return true;
  }

  /** Sites that got the task and have not answered. */
  outstanding(): string[] {
    return [...this.bySite.values()].filter((a) => a.resultAt === undefined).map((a) => a.site);
  }

  /** Targets that have not answered (whether or not they got the task). */
  unanswered(): string[] {
    return [...this.#targetSet].filter((t) => !this.results.has(t));
  }

  /** The exit rules, in NVFlare's order: manager rule, then timeout, then dead sites. */
  checkExit(now: number, liveness: Liveness): TaskCompletion | undefined {
    const byRule = this.#managerExit(now, liveness);
    if (byRule !== undefined) return byRule;
    const timeoutMs = this.spec.timeoutMs ?? 0;
    if (timeoutMs > 0 && now - this.scheduledAt >= timeoutMs) return 'timeout';
    return liveness.anyDead ? this.#deadExit((s) => liveness.isAlive(s)) : undefined;
  }

  #managerExit(now: number, liveness: Liveness): TaskCompletion | undefined {
    const mode = this.mode;
    switch (mode.kind) {
      case 'broadcast': {
        const targets = this.#targetSet;
        if (this.results.size >= targets.size) return 'ok';
        // min 0 = every target; a min above the target count can only be met by all.
        const min =
          mode.minResponses === 0 ? targets.size : Math.min(mode.minResponses, targets.size);
        if (this.results.size < min) return undefined;
        // Improvement over 2.3: when every target still out is dead, nothing more can arrive,
        // so the grace wait would only delay the round.
        if (liveness.anyDead && this.unanswered().every((s) => !liveness.isAlive(s))) {
          return 'ok';
        }
        this.minReachedAt ??= now;
        return now - this.minReachedAt >= mode.graceMs ? 'ok' : undefined;
      }
      case 'forever':
        return undefined;
      case 'send':
        return this.assignments.some((a) => a.resultAt !== undefined) ? 'ok' : undefined;
      case 'relay': {
        const window = this.relayWindow(now);
        if (!window.ended) return undefined;
        return this.#relayLast?.resultAt !== undefined ? 'ok' : 'timeout';
      }
    }
  }

  #deadExit(alive: (site: string) => boolean): TaskCompletion | undefined {
    const mode = this.mode;
    switch (mode.kind) {
      case 'broadcast': {
        const targets = this.#targetSet;
        const min =
          mode.minResponses === 0 ? targets.size : Math.min(mode.minResponses, targets.size);
        const aliveOut = this.unanswered().filter(alive).length;
        // All still out are dead (2.3's rule), or too few alive ones are left to reach the
        // minimum (our addition: fail fast instead of waiting for the task timeout).
        if (aliveOut === 0 || this.results.size + aliveOut < min) return 'client-dead';
        return undefined;
      }
      case 'forever':
        return undefined;
      case 'send': {
        const taken = this.assignments[0];
        if (taken !== undefined) return alive(taken.site) ? undefined : 'client-dead';
        return this.targets.some(alive) ? undefined : 'client-dead';
      }
      case 'relay': {
        const last = this.#relayLast;
        const from = last === undefined ? 0 : last.index + (last.resultAt === undefined ? 0 : 1);
        const rest = this.targets.slice(from);
        return rest.length > 0 && !rest.some(alive) ? 'client-dead' : undefined;
      }
    }
  }

  /**
   * The relay's window of eligible targets (2.3's `_determine_window`): after the last target
   * answered (or ran out of `resultTimeoutMs`), the next target may take the task; with an
   * assignment timeout the window grows by one target per timeout, skipping silent targets.
   */
  relayWindow(now: number): RelayWindow {
    if (this.mode.kind !== 'relay') return { start: -1, end: -1, ended: false, wakeAt: undefined };
    const { assignTimeoutMs, resultTimeoutMs } = this.mode;
    const last = this.#relayLast;
    let start: number;
    let startTime: number;
    if (last === undefined) {
      start = 0;
      startTime = this.scheduledAt;
    } else if (last.resultAt !== undefined) {
      start = last.index + 1;
      startTime = last.resultAt;
    } else if (resultTimeoutMs > 0 && now - last.sentAt > resultTimeoutMs) {
      start = last.index + 1;
      startTime = last.sentAt + resultTimeoutMs;
    } else {
      const wakeAt = resultTimeoutMs > 0 ? last.sentAt + resultTimeoutMs + 1 : undefined;
      return { start: -1, end: -1, ended: false, wakeAt };
    }
    const n = this.targets.length;
    if (n > 0 && start >= n) return { start: -1, end: 0, ended: true, wakeAt: undefined };
    const size = assignTimeoutMs > 0 ? Math.floor((now - startTime) / assignTimeoutMs) + 1 : 1;
    const end = start + size;
    if (assignTimeoutMs > 0 && end > n + 1) {
      return { start: -1, end: 0, ended: true, wakeAt: undefined };
    }
    const wakeAt = assignTimeoutMs > 0 ? startTime + size * assignTimeoutMs : undefined;
    return { start, end: Math.min(end, n), ended: false, wakeAt };
  }

  /** The next moment this task's state changes by time alone, for the engine's timer. */
  nextWake(now: number): number | undefined {
    const times: number[] = [];
    const timeoutMs = this.spec.timeoutMs ?? 0;
    if (timeoutMs > 0) times.push(this.scheduledAt + timeoutMs);
    const mode = this.mode;
    switch (mode.kind) {
      case 'broadcast':
        if (this.minReachedAt !== undefined) times.push(this.minReachedAt + mode.graceMs);
        break;
      case 'forever':
        for (const a of this.bySite.values()) {
          if (a.resultAt !== undefined) times.push(a.resultAt + mode.resendIntervalMs);
        }
        break;
      case 'send':
        if (this.assignments.length === 0 && mode.order === 'sequential' && mode.assignTimeoutMs) {
          const k = Math.floor((now - this.scheduledAt) / mode.assignTimeoutMs) + 1;
          if (k < this.targets.length) times.push(this.scheduledAt + k * mode.assignTimeoutMs);
        }
        break;
      case 'relay': {
        const wake = this.relayWindow(now).wakeAt;
        if (wake !== undefined) times.push(wake);
        break;
      }
    }
    const future = times.filter((t) => t > now);
    return future.length === 0 ? undefined : Math.min(...future);
  }
}
