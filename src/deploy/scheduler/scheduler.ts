/**
 * Job scheduling (NVFlare 2.3's `DefaultJobScheduler`, in typed form): at most `maxJobs` jobs run
 * at once; a submitted job starts when every mandatory site and at least `minClients` of its
 * sites are online with the job's `resourceSpec` available. A job that cannot start is retried
 * with a doubling interval (from `minScheduleIntervalMs` up to `maxScheduleIntervalMs`), and
 * after `maxScheduleCount` failed attempts it is given up (finished:can-not-schedule).
 *
 * Pure: the caller passes the clock (a monotonic `performance.now()` in ms, so a wall-clock jump
 * never changes back-off) and the online sites; nothing here does I/O.
 */
import type { JobRequirements } from '../jobstore/store.js';

export type Resources = Readonly<Record<string, number>>;

/**
 * What each site offers and what running jobs hold. A reservation is all-or-nothing per job and
 * released when the job ends or fails to deploy.
 */
export class ResourceLedger {
  readonly #capacity = new Map<string, Resources>();
  readonly #held = new Map<string, Map<string, Resources>>();

  /** Declares (or re-declares, on reconnect) what a site offers. */
  declare(site: string, resources: Resources): void {
    this.#capacity.set(site, { ...resources });
  }

  /** What is still free at `site`. */
  available(site: string): Resources {
    const free: Record<string, number> = { ...(this.#capacity.get(site) ?? {}) };
    for (const perSite of this.#held.values()) {
      for (const [res, amount] of Object.entries(perSite.get(site) ?? {})) {
        free[res] = (free[res] ?? 0) - amount;
      }
    }
    return free;
  }

  /** Why `site` cannot give `spec` now, or null when it can. */
  shortfall(site: string, spec: Resources | undefined): string | null {
    if (spec === undefined) return null;
    const free = this.available(site);
    for (const [res, amount] of Object.entries(spec)) {
      const have = free[res] ?? 0;
      if (have < amount) return `site ${site} has ${have} ${res} free, needs ${amount}`;
    }
    return null;
  }

  reserve(jobId: string, grants: ReadonlyMap<string, Resources>): void {
    this.#held.set(jobId, new Map(grants));
  }

  release(jobId: string): void {
    this.#held.delete(jobId);
  }

  /** Releases one site's share (a site dropped at deploy). */
  releaseSite(jobId: string, site: string): void {
    this.#held.get(jobId)?.delete(site);
  }
}

export type Placement =
  | { readonly ok: true; readonly sites: readonly string[] }
  | { readonly ok: false; readonly reason: string };

/**
 * Which sites a job would run on now. `online` lists connected sites (in a stable order);
 * `@ALL` means every online site.
 */
export function place(
  req: JobRequirements,
  online: readonly string[],
  ledger: ResourceLedger,
): Placement {
  const onlineSet = new Set(online);
  const wanted = req.sites === '@ALL' ? online : req.sites;
  for (const m of req.mandatoryClients) {
    if (!onlineSet.has(m)) return { ok: false, reason: `mandatory site ${m} is not online` };
    const short = ledger.shortfall(m, req.resourceSpec[m]);
    if (short !== null) return { ok: false, reason: `mandatory ${short}` };
  }
  const sites: string[] = [];
  const missing: string[] = [];
  for (const s of wanted) {
    const short = onlineSet.has(s) ? ledger.shortfall(s, req.resourceSpec[s]) : `${s} offline`;
    if (short === null) sites.push(s);
    else missing.push(short.replace(/^site /, ''));
  }
  if (sites.length < req.minClients) {
    const why = missing.length > 0 ? ` (${missing.join('; ')})` : '';
    return {
      ok: false,
      reason:
        `${sites.length} of the job's sites are online with resources, ` +
        `minClients is ${req.minClients}${why}`,
    };
  }
  return { ok: true, sites };
}

export interface SchedulerOptions {
  /** Jobs running at once; default 1. */
  readonly maxJobs?: number | undefined;
  /** First retry interval; default 10 s (NVFlare's default). */
  readonly minScheduleIntervalMs?: number | undefined;
  /** Cap of the doubling interval; default 600 s. */
  readonly maxScheduleIntervalMs?: number | undefined;
  /** Failed attempts before can-not-schedule; default 10. */
  readonly maxScheduleCount?: number | undefined;
}

export interface Candidate {
  readonly id: string;
  readonly requirements: JobRequirements;
  /** Failed attempts so far (persisted in the job store, so it survives a restart). */
  readonly scheduleCount: number;
}

export type Decision =
  | { readonly kind: 'start'; readonly jobId: string; readonly sites: readonly string[] }
  | {
      readonly kind: 'retry';
      readonly jobId: string;
      readonly reason: string;
      readonly count: number;
    }
  | { readonly kind: 'give-up'; readonly jobId: string; readonly reason: string };

/** Decides which submitted jobs to start, retry later, or give up on. */
export class Scheduler {
  readonly maxJobs: number;
  readonly minIntervalMs: number;
  readonly maxIntervalMs: number;
  readonly maxScheduleCount: number;
  /** Monotonic time before which a job is not tried again. */
  readonly #notBefore = new Map<string, number>();

  constructor(options: SchedulerOptions = {}) {
    this.maxJobs = options.maxJobs ?? 1;
    this.minIntervalMs = options.minScheduleIntervalMs ?? 10_000;
    this.maxIntervalMs = options.maxScheduleIntervalMs ?? 600_000;
    this.maxScheduleCount = options.maxScheduleCount ?? 10;
  }

  /** Delay after the `count`-th failed attempt: min × 2^(count−1), capped at max. */
  backoff(count: number): number {
    return Math.min(this.maxIntervalMs, this.minIntervalMs * 2 ** Math.max(0, count - 1));
  }

  /**
   * One scheduling pass over `candidates` (submitted jobs, oldest first). Started jobs get their
   * resources reserved in `ledger` here, so two jobs never take the same resources.
   */
  tick(
    now: number,
    candidates: readonly Candidate[],
    running: number,
    online: readonly string[],
    ledger: ResourceLedger,
  ): Decision[] {
    const out: Decision[] = [];
    let slots = this.maxJobs - running;
    for (const job of candidates) {
      if (slots <= 0) break;
      if ((this.#notBefore.get(job.id) ?? Number.NEGATIVE_INFINITY) > now) continue;
      const placement = place(job.requirements, online, ledger);
      if (placement.ok) {
        const grants = new Map<string, Resources>();
        for (const s of placement.sites) grants.set(s, job.requirements.resourceSpec[s] ?? {});
        ledger.reserve(job.id, grants);
        this.#notBefore.delete(job.id);
        out.push({ kind: 'start', jobId: job.id, sites: placement.sites });
        slots--;
        continue;
      }
      const count = job.scheduleCount + 1;
      if (count >= this.maxScheduleCount) {
        this.#notBefore.delete(job.id);
        out.push({
          kind: 'give-up',
          jobId: job.id,
          reason: `could not schedule after ${count} attempts: ${placement.reason}`,
        });
      } else {
        this.#notBefore.set(job.id, now + this.backoff(count));
        out.push({ kind: 'retry', jobId: job.id, reason: placement.reason, count });
      }
    }
    return out;
  }

  /** Forgets a job's back-off (it was aborted or deleted). */
  forget(jobId: string): void {
    this.#notBefore.delete(jobId);
  }
}
