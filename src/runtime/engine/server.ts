/**
 * The server engine: runs a job's workflows against `ControllerApi`, hands tasks to sites that
 * pull them (long-poll), applies the server's filters, relays peer messages and watches site
 * liveness. Semantics follow NVFlare 2.3's controller (`nvflare/apis/impl/controller.py`); the
 * exit rules themselves live in `tasks.ts`.
 *
 * Everything a site sends arrives as a frame from an authenticated identity (the driver's job);
 * names written inside messages are checked against it, never trusted.
 */
import type { JobStatus, RunSummary, ServerApp, SitePolicy } from '../core/app.js';
import { NO_FILTERS } from '../core/app.js';
import { type JobState, type SiteContext, TypedStore } from '../core/context.js';
import type {
  BroadcastOptions,
  ControllerApi,
  RelayOptions,
  SendOptions,
  TaskCompletion,
  TaskHandle,
  TaskOutcome,
  TaskSpec,
} from '../core/controller.js';
import { safeMessage, VflareError } from '../core/errors.js';
import type { FilterChains, FilterContext } from '../core/filter.js';
import { type Logger, silentLogger } from '../core/logger.js';
import type { Payload, TaskData, TaskHeaders, TaskResult } from '../core/messages.js';
import { SERVER } from '../core/peer.js';
import { decodeMessage, encodeMessage } from '../transport/codec.js';
import type { FrameSendOptions, ServerEndpoint } from '../transport/driver.js';
import type {
  GetTaskMessage,
  PeerReplyMessage,
  PeerRequestMessage,
  WireMessage,
} from '../transport/wire.js';
import { payloadProblem } from './check.js';
import { applyFilters, chainFor } from './filters.js';
import { PeerEndpoint } from './peer.js';
import { type Liveness, type PreparedData, ScheduledTask, type TaskMode } from './tasks.js';

/** Defaults shared by the engine, the client runner and the simulator. */
export const ENGINE_DEFAULTS = Object.freeze({
  heartbeatIntervalMs: 5_000,
  deadSiteGraceMs: 30_000,
  longPollMs: 10_000,
  maxLongPollMs: 30_000,
  foreverResendIntervalMs: 500,
  byeTimeoutMs: 10_000,
  joinTimeoutMs: 30_000,
});

export interface ServerEngineOptions {
  readonly jobId: string;
  /** Job name for `summary.json`; default: `jobId`. */
  readonly jobName?: string;
  /** The job's participating sites, in deploy order. */
  readonly clients: readonly string[];
  readonly app: ServerApp;
  readonly endpoint: ServerEndpoint;
  /** The server's own privacy policy: its filters run before the job's. */
  readonly policy?: SitePolicy;
  /** The server's output folder for the job. */
  readonly workspace: string;
  readonly seed: number;
  readonly logger?: Logger;
  /** How often sites heartbeat (sent to them on `welcome`); default 5 000 ms. */
  readonly heartbeatIntervalMs?: number;
  /** A site silent this long is dead; default 30 000 ms. */
  readonly deadSiteGraceMs?: number;
  /** Cap on a site's long-poll wait; default 30 000 ms. */
  readonly maxLongPollMs?: number;
  /** A `broadcastForever` task goes back to a site at most this often; default 500 ms. */
  readonly foreverResendIntervalMs?: number;
  /** How long to wait for sites to finalize after the job ends; default 10 000 ms. */
  readonly byeTimeoutMs?: number;
  /**
   * How long `run` waits for every site to join before the first workflow starts; sites that
   * join later still take part. Default 30 000 ms.
   */
  readonly joinTimeoutMs?: number;
  /** Aborts the job: running tasks are aborted at every site. */
  readonly signal?: AbortSignal;
}

interface Poll {
  readonly reqId: number;
  readonly timer: ReturnType<typeof setTimeout>;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const TRANSFER: FrameSendOptions = { transfer: true };
const SHARED: FrameSendOptions = { shared: true };

export class ServerEngine {
  readonly jobId: string;
  readonly #o: ServerEngineOptions;
  readonly #logger: Logger;
  readonly #clients: readonly string[];
  readonly #clientSet: ReadonlySet<string>;
  readonly #parties: readonly string[];
  readonly #filters: FilterChains;
  readonly #policy: FilterChains;
  readonly #grace: number;
  readonly #jobState: JobState = new TypedStore();
  readonly #siteContext: SiteContext = new TypedStore();
  readonly #abort = new AbortController();
  readonly #peers: PeerEndpoint;
  readonly #liveness: Liveness;

  readonly #open: ScheduledTask[] = [];
  readonly #byId = new Map<string, ScheduledTask>();
  readonly #resolvers = new Map<ScheduledTask, (o: TaskOutcome) => void>();
  readonly #polls = new Map<string, Poll>();
  readonly #dispatching = new Set<string>();
  readonly #redispatch = new Set<string>();
  readonly #lastSeen = new Map<string, number>();
  readonly #dead = new Set<string>();
  readonly #welcomed = new Set<string>();
  readonly #byes = new Set<string>();
  #byeWaiter: (() => void) | undefined;
  #joinWaiter: (() => void) | undefined;
  readonly #serverMetrics: Record<string, number> = {};
  readonly #siteMetrics = new Map<string, Record<string, number>>();
  #rounds = 0;
  #seq = 0;
  #startedAt = 0;
  #ended = false;
  #wakeTimer: ReturnType<typeof setTimeout> | undefined;
  #wakeAt = Number.POSITIVE_INFINITY;
  #sweepTimer: ReturnType<typeof setInterval> | undefined;

  constructor(options: ServerEngineOptions) {
    this.#o = options;
    this.jobId = options.jobId;
    this.#clients = [...options.clients];
    if (new Set(this.#clients).size !== this.#clients.length || this.#clients.includes(SERVER)) {
      throw new VflareError(
        'INVALID_ARGUMENT',
        `clients: expected distinct site names other than "${SERVER}"`,
      );
    }
    this.#parties = [SERVER, ...this.#clients];
    this.#clientSet = new Set(this.#clients);
    this.#logger = (options.logger ?? silentLogger).child({ job: options.jobId, site: SERVER });
    this.#filters = options.app.filters;
    this.#policy = options.policy?.filters ?? NO_FILTERS;
    this.#grace = options.deadSiteGraceMs ?? ENGINE_DEFAULTS.deadSiteGraceMs;
    const dead = this.#dead;
    this.#liveness = {
      isAlive: (site) => !dead.has(site),
      get anyDead() {
        return dead.size > 0;
      },
    };
    this.#peers = new PeerEndpoint(SERVER, () => this.#parties, this.#peerLink(), this.#logger);
    if (options.signal?.aborted) this.#abort.abort();
    else options.signal?.addEventListener('abort', () => this.#abortJob(), { once: true });
  }

  /** Starts receiving frames and watching liveness. */
  async start(): Promise<void> {
    this.#startedAt = Date.now();
    await this.#o.endpoint.start({
      onFrame: (site, frame) => this.#onFrame(site, frame),
      onDisconnect: (site) => this.#logger.info({ peer: site }, 'site disconnected'),
    });
    const sweepMs = Math.max(10, Math.min(1_000, Math.floor(this.#grace / 4)));
    this.#sweepTimer = setInterval(() => this.#sweep(), sweepMs);
  }

  /** Runs the workflows in order, ends the job at every site and returns the run's summary. */
  async run(): Promise<RunSummary> {
    let status: JobStatus = 'completed';
    let error: string | undefined;
    await this.#waitForSites();
    for (const workflow of this.#o.app.workflows) {
      if (this.#abort.signal.aborted) break;
      const api = this.#controllerApi(workflow.name);
      this.#logger.info({ workflow: workflow.name }, 'workflow started');
      try {
        await workflow.run(api);
        this.#logger.info({ workflow: workflow.name }, 'workflow finished');
      } catch (err) {
        if (!this.#abort.signal.aborted) {
          status = 'execution-exception';
          error = `workflow "${workflow.name}" failed: ${safeMessage(err)}`;
          this.#logger.error({ workflow: workflow.name, error: safeMessage(err) }, 'job failed');
        }
        break;
      }
    }
    if (this.#abort.signal.aborted) {
      status = 'aborted';
      error ??= 'the job was aborted';
    }
    await this.#endJob(status === 'completed' ? 'job completed' : `job ${status}`);
    const sites: Record<string, { metrics: Record<string, number> }> = {};
    for (const site of this.#clients) {
      sites[site] = { metrics: { ...(this.#siteMetrics.get(site) ?? {}) } };
    }
    const summary: Mutable<RunSummary> = {
      job: this.#o.jobName ?? this.jobId,
      status,
      rounds: this.#rounds,
      server: { metrics: { ...this.#serverMetrics } },
      sites,
    };
    if (error !== undefined) summary.error = error;
    return summary;
  }

  async #waitForSites(): Promise<void> {
    const all = () => this.#clients.every((s) => this.#welcomed.has(s));
    if (all()) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        const missing = this.#clients.filter((s) => !this.#welcomed.has(s));
        this.#logger.warn({ missing: missing.join(',') }, 'starting without some sites');
        resolve();
      }, this.#o.joinTimeoutMs ?? ENGINE_DEFAULTS.joinTimeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.#joinWaiter = () => {
        if (all()) done();
      };
      this.#abort.signal.addEventListener('abort', done, { once: true });
    });
    this.#joinWaiter = undefined;
  }

  /**
   * Whether `site` is alive: it was heard from within the dead-site grace period when liveness
   * was last checked (every `min(1 s, grace / 4)`).
   */
  isAlive(site: string): boolean {
    return !this.#dead.has(site);
  }

  #silentTooLong(site: string, now: number): boolean {
    return now - (this.#lastSeen.get(site) ?? this.#startedAt) >= this.#grace;
  }

  // -------------------------------------------------------------------------------------------
  // Frames

  #onFrame(site: string, frame: Uint8Array): void {
    if (!this.#clientSet.has(site)) {
      this.#logger.warn({ peer: site }, 'frame from a site that is not in this job dropped');
      return;
    }
    let msg: WireMessage;
    try {
      msg = decodeMessage(frame);
    } catch (err) {
      this.#logger.warn({ peer: site, error: safeMessage(err) }, 'malformed frame dropped');
      return;
    }
    this.#seen(site);
    if (msg.type === 'hello') {
      this.#onHello(site, msg.jobId);
      return;
    }
    if (!this.#welcomed.has(site)) {
      this.#logger.warn({ peer: site, type: msg.type }, 'message before hello dropped');
      return;
    }
    switch (msg.type) {
      case 'get-task':
        this.#onGetTask(site, msg);
        return;
      case 'result':
        void this.#onResult(site, msg.result).catch((err: unknown) =>
          this.#logger.error({ peer: site, error: safeMessage(err) }, 'result handling failed'),
        );
        // The site's next poll, carried in the result frame: as if a get-task frame followed.
        if (msg.next !== undefined) this.#onGetTask(site, msg.next);
        return;
      case 'heartbeat':
        return;
      case 'metrics':
        this.#siteMetrics.set(site, { ...(this.#siteMetrics.get(site) ?? {}), ...msg.metrics });
        return;
      case 'peer-request':
        this.#onPeerRequest(site, msg, frame);
        return;
      case 'peer-reply':
        this.#onPeerReply(site, msg, frame);
        return;
      case 'bye':
        this.#byes.add(site);
        this.#byeWaiter?.();
        return;
      case 'welcome':
      case 'task':
      case 'no-task':
      case 'abort':
        this.#logger.warn(
          { peer: site, type: msg.type },
          'server-only message from a site dropped',
        );
        return;
    }
  }

  #send(site: string, msg: WireMessage): void {
    let frame: Uint8Array;
    try {
      frame = encodeMessage(msg);
    } catch (err) {
      this.#logger.error({ peer: site, type: msg.type, error: safeMessage(err) }, 'encode failed');
      return;
    }
    this.#sendFrame(site, frame, msg.type);
  }

  #sendFrame(
    site: string,
    frame: Uint8Array,
    type: string,
    onFail?: () => void,
    transfer = false,
    shared = false,
  ): void {
    const options = transfer ? TRANSFER : shared ? SHARED : undefined;
    this.#o.endpoint.send(site, frame, options).catch((err: unknown) => {
      this.#logger.debug({ peer: site, type, error: safeMessage(err) }, 'send failed');
      onFail?.();
    });
  }

  #seen(site: string): void {
    this.#lastSeen.set(site, Date.now());
    if (this.#dead.delete(site)) this.#logger.info({ peer: site }, 'site is alive again');
  }

  #onHello(site: string, jobId: string): void {
    if (jobId !== this.jobId) {
      this.#logger.warn({ peer: site }, 'site asked for another job; told to leave');
      this.#send(site, { type: 'bye', reason: `this server runs job "${this.jobId}"` });
      return;
    }
    this.#welcomed.add(site);
    this.#joinWaiter?.();
    this.#send(site, {
      type: 'welcome',
      jobId: this.jobId,
      parties: this.#parties,
      heartbeatIntervalMs: this.#o.heartbeatIntervalMs ?? ENGINE_DEFAULTS.heartbeatIntervalMs,
      resultPolls: true,
    });
    if (this.#ended) this.#send(site, { type: 'bye', reason: 'the job has ended' });
  }

  // -------------------------------------------------------------------------------------------
  // Liveness

  #sweep(): void {
    let changed = false;
    const now = Date.now();
    for (const site of this.#clients) {
      if (!this.#dead.has(site) && this.#silentTooLong(site, now)) {
        this.#dead.add(site);
        changed = true;
        this.#logger.warn(
          { peer: site, graceMs: this.#grace },
          'site silent for longer than the dead-site grace period; considered dead',
        );
      }
    }
    if (changed) this.#evaluateAll();
  }

  // -------------------------------------------------------------------------------------------
  // Task hand-out (long-poll)

  #onGetTask(site: string, msg: Pick<GetTaskMessage, 'reqId' | 'waitMs'>): void {
    const prior = this.#polls.get(site);
    if (prior !== undefined) clearTimeout(prior.timer);
    if (this.#ended) {
      this.#polls.delete(site);
      this.#send(site, { type: 'bye', reason: 'the job has ended' });
      return;
    }
    const maxWait = this.#o.maxLongPollMs ?? ENGINE_DEFAULTS.maxLongPollMs;
    const poll: Poll = {
      reqId: msg.reqId,
      timer: setTimeout(
        () => {
          if (this.#polls.get(site) !== poll) return;
          this.#polls.delete(site);
          this.#send(site, { type: 'no-task', reqId: msg.reqId });
        },
        Math.min(msg.waitMs, maxWait),
      ),
    };
    this.#polls.set(site, poll);
    void this.#dispatch(site);
  }

  /** Offers waiting sites whatever became available. */
  #kick(): void {
    for (const site of this.#polls.keys()) void this.#dispatch(site);
  }

  async #dispatch(site: string): Promise<void> {
    if (this.#dispatching.has(site)) {
      this.#redispatch.add(site);
      return;
    }
    this.#dispatching.add(site);
    try {
      do {
        this.#redispatch.delete(site);
        if (!this.#polls.has(site) || this.#ended) return;
        const found = await this.#findTask(site);
        if (found === undefined) continue;
        const poll = this.#polls.get(site);
        // The poll expired while filters ran: the site asks again and gets a re-send.
        if (poll === undefined) return;
        let frame: Uint8Array;
        let shared: boolean;
        try {
          shared = this.#shareable(found.owner);
          frame = shared ? this.#sharedFrame(found) : this.#taskFrame(found);
        } catch (err) {
          const reason = `task data for "${site}" cannot be encoded: ${safeMessage(err)}`;
          this.#failAssignment(found.owner, site, 'bad-task-data', reason);
          this.#redispatch.add(site);
          continue;
        }
        this.#polls.delete(site);
        clearTimeout(poll.timer);
        this.#sendFrame(site, frame, 'task', undefined, false, shared);
        return;
      } while (this.#redispatch.has(site));
    } catch (err) {
      this.#logger.error({ peer: site, error: safeMessage(err) }, 'task dispatch failed');
    } finally {
      this.#dispatching.delete(site);
    }
  }

  /**
   * True when every site of `task` gets byte-identical task data: the same static payload (no
   * per-site `data` function) and no server data-out filter that could change it per site. Such
   * a task is encoded once and the one frame goes to every site; the driver gives each site its
   * own copy (`shared`), so decoded tensors are still private to each site.
   */
  #shareable(task: ScheduledTask): boolean {
    if (task.targets.length < 2 || typeof task.spec.data === 'function') return false;
    return chainFor(this.#policy.taskData, this.#filters.taskData, task.spec.name).length === 0;
  }

  #taskFrame(found: { task: TaskData; resend: boolean }): Uint8Array {
    return encodeMessage({ type: 'task', task: found.task, resend: found.resend });
  }

  #sharedFrame(found: { task: TaskData; resend: boolean; owner: ScheduledTask }): Uint8Array {
    let frame = found.owner.sharedFrames.get(found.resend);
    if (frame === undefined) {
      frame = this.#taskFrame(found);
      found.owner.sharedFrames.set(found.resend, frame);
    }
    return frame;
  }

  async #findTask(
    site: string,
  ): Promise<{ task: TaskData; resend: boolean; owner: ScheduledTask } | undefined> {
    for (const task of [...this.#open]) {
      if (!task.open) continue;
      const now = Date.now();
      const decision = task.checkSend(site, now);
      if (decision === 'skip') continue;
      if (decision === 'block') return undefined;
      const assignment = task.claim(site, now, decision);
      this.#reschedule();
      assignment.prepared ??= this.#prepare(task, site);
      const prepared = await assignment.prepared;
      if (!task.open) continue;
      if (prepared.ok) {
        const data: TaskData = { headers: this.#headers(task), payload: prepared.payload };
        return { task: data, resend: decision === 'resend', owner: task };
      }
      this.#failAssignment(task, site, prepared.rc, prepared.reason);
    }
    return undefined;
  }

  /** The server could not hand the task to `site`: recorded as that site's (error) result. */
  #failAssignment(task: ScheduledTask, site: string, rc: TaskResult['rc'], reason: string): void {
    this.#logger.warn({ peer: site, task: task.spec.name, rc, reason }, 'task not sent to site');
    this.#accept(task, { headers: this.#headers(task), site, rc, payload: null, reason });
  }

  #headers(task: ScheduledTask): TaskHeaders {
    const h: Mutable<TaskHeaders> = {
      jobId: this.jobId,
      taskName: task.spec.name,
      taskId: task.id,
    };
    if (task.spec.round !== undefined) h.round = task.spec.round;
    if (task.spec.numRounds !== undefined) h.numRounds = task.spec.numRounds;
    return h;
  }

  #filterContext(
    task: ScheduledTask,
    point: FilterContext['point'],
    peer: string,
    globalModel: Payload | null,
  ): FilterContext {
    return {
      point,
      site: SERVER,
      peer,
      jobId: this.jobId,
      taskName: task.spec.name,
      round: task.spec.round,
      globalModel,
      siteContext: this.#siteContext,
      workspace: this.#o.workspace,
      logger: this.#logger.child({ task: task.spec.name, peer }),
    };
  }

  async #prepare(task: ScheduledTask, site: string): Promise<PreparedData> {
    let data: Payload | null;
    try {
      const spec = task.spec.data;
      data = typeof spec === 'function' ? spec(site) : spec;
    } catch (err) {
      const reason = `task data for "${site}" could not be made: ${safeMessage(err)}`;
      return { ok: false, rc: 'bad-task-data', reason };
    }
    if (data !== null) {
      const problem = payloadProblem(data);
      if (problem !== undefined) {
        return { ok: false, rc: 'bad-task-data', reason: `task data for "${site}" is ${problem}` };
      }
    }
    const chain = chainFor(this.#policy.taskData, this.#filters.taskData, task.spec.name);
    if (chain.length === 0 || data === null) return { ok: true, payload: data };
    const out = await applyFilters(chain, data, () =>
      this.#filterContext(task, 'server-data-out', site, data),
    );
    if (!out.ok) {
      return { ok: false, rc: 'task-data-filter-error', reason: `server data-out ${out.reason}` };
    }
    return { ok: true, payload: out.payload };
  }

  // -------------------------------------------------------------------------------------------
  // Results

  async #onResult(site: string, result: TaskResult): Promise<void> {
    const task = this.#byId.get(result.headers.taskId);
    if (task === undefined || !task.open) {
      this.#resultLog(site, result).debug('result for a finished or unknown task dropped');
      return;
    }
    if (result.site !== site || result.headers.jobId !== this.jobId) {
      this.#resultLog(site, result).warn('result naming another site or job dropped');
      return;
    }
    const assignment = task.bySite.get(site);
    if (assignment === undefined || assignment.resultAt !== undefined) {
      this.#resultLog(site, result).debug('result from a site that does not hold the task dropped');
      return;
    }
    assignment.resultPending = true;
    let final: TaskResult = result.rc === 'ok' ? result : { ...result, payload: null };
    // An ok result is taken a few turns of the event loop later than an error one, even with no
    // result-in filter: exit rules see results in the order this has always given them.
    if (final.rc === 'ok' && final.payload !== null) {
      const sent = assignment.prepared ? await assignment.prepared : undefined;
      const model = sent?.ok ? sent.payload : null;
      const chain = chainFor(this.#policy.taskResult, this.#filters.taskResult, task.spec.name);
      const out = await applyFilters(chain, final.payload, () =>
        this.#filterContext(task, 'server-result-in', site, model),
      );
      if (out.ok) {
        if (out.payload !== final.payload) final = { ...final, payload: out.payload };
      } else {
        this.#resultLog(site, result).warn(
          { reason: out.reason },
          'server result-in filter failed',
        );
        final = {
          headers: final.headers,
          site,
          rc: 'task-result-filter-error',
          payload: null,
          reason: `server result-in ${out.reason}`,
        };
      }
    }
    assignment.resultPending = false;
    if (!task.open) return;
    this.#accept(task, final);
  }

  #resultLog(site: string, result: TaskResult): Logger {
    return this.#logger.child({ peer: site, task: result.headers.taskName });
  }

  #accept(task: ScheduledTask, result: TaskResult): void {
    if (!task.recordResult(result, Date.now())) return;
    if (task.spec.onResult !== undefined) {
      try {
        task.spec.onResult(result);
      } catch (err) {
        const reason = `onResult callback of task "${task.spec.name}" failed: ${safeMessage(err)}`;
        this.#logger.error({ task: task.spec.name, error: safeMessage(err) }, 'callback failed');
        this.#complete(task, 'error', true, reason);
        return;
      }
    }
    this.#evaluate(task);
    this.#reschedule();
    // A broadcast result frees nothing for other sites; a relay's moves it to the next target.
    // (A task that just completed kicks the waiting sites itself.)
    if (task.open && task.mode.kind === 'relay') this.#kick();
  }

  // -------------------------------------------------------------------------------------------
  // Exit rules and timers

  #evaluate(task: ScheduledTask): void {
    if (!task.open) return;
    const completion = task.checkExit(Date.now(), this.#liveness);
    if (completion !== undefined) this.#complete(task, completion, true);
  }

  #evaluateAll(): void {
    for (const task of [...this.#open]) this.#evaluate(task);
    this.#reschedule();
    this.#kick();
  }

  /** Keeps one timer armed for the earliest moment any open task changes by time alone. */
  #reschedule(): void {
    const now = Date.now();
    let next = Number.POSITIVE_INFINITY;
    for (const task of this.#open) next = Math.min(next, task.nextWake(now) ?? next);
    if (next === this.#wakeAt) return;
    clearTimeout(this.#wakeTimer);
    this.#wakeTimer = undefined;
    this.#wakeAt = next;
    if (next === Number.POSITIVE_INFINITY) return;
    this.#wakeTimer = setTimeout(
      () => {
        this.#wakeAt = Number.POSITIVE_INFINITY;
        this.#wakeTimer = undefined;
        this.#evaluateAll();
      },
      Math.max(0, next - now),
    );
  }

  #complete(task: ScheduledTask, completion: TaskCompletion, tell: boolean, reason?: string) {
    if (!task.open) return;
    task.completion = completion;
    const idx = this.#open.indexOf(task);
    if (idx >= 0) this.#open.splice(idx, 1);
    // A finished task is only reachable through its outcome: the engine keeps neither its
    // results nor its frames (a long job would otherwise hold every round's payloads).
    this.#byId.delete(task.id);
    task.sharedFrames.clear();
    const deadSites = task.unanswered().filter((s) => !this.isAlive(s));
    if (tell) {
      // Results still out can no longer count; let their executors stop.
      for (const site of task.outstanding()) this.#send(site, { type: 'abort', taskId: task.id });
    }
    const outcome: Mutable<TaskOutcome> = {
      name: task.spec.name,
      completion,
      results: new Map(task.results),
      deadSites,
    };
    if (reason !== undefined) outcome.reason = reason;
    this.#logger.debug(
      { task: task.spec.name, completion, results: task.results.size, deadSites },
      'task done',
    );
    const resolve = this.#resolvers.get(task);
    this.#resolvers.delete(task);
    resolve?.(outcome);
    queueMicrotask(() => {
      this.#reschedule();
      this.#kick();
    });
  }

  // -------------------------------------------------------------------------------------------
  // Scheduling (the ControllerApi)

  #schedule(spec: TaskSpec, mode: TaskMode, targets: readonly string[]): TaskHandle {
    if (this.#abort.signal.aborted) {
      throw new VflareError('ABORTED', `task "${spec.name}" not scheduled: the job was aborted`);
    }
    if (this.#ended) {
      throw new VflareError('ABORTED', `task "${spec.name}" not scheduled: the job has ended`);
    }
    if (typeof spec.name !== 'string' || spec.name.length === 0) {
      throw new VflareError('INVALID_ARGUMENT', 'task name: expected a non-empty string');
    }
    const timeoutMs = spec.timeoutMs ?? 0;
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0) {
      throw new VflareError(
        'INVALID_ARGUMENT',
        `task "${spec.name}" timeoutMs: expected ≥ 0 ms, got ${timeoutMs}`,
      );
    }
    for (const t of targets) {
      if (!this.#clients.includes(t)) {
        throw new VflareError(
          'INVALID_ARGUMENT',
          `task "${spec.name}": target "${t}" is not a client of this job ` +
            `(clients: ${this.#clients.join(', ')})`,
        );
      }
    }
    const id = `${++this.#seq}-${spec.name}`;
    const task = new ScheduledTask(id, spec, mode, [...targets], Date.now());
    this.#open.push(task);
    this.#byId.set(id, task);
    const done = new Promise<TaskOutcome>((resolve) => this.#resolvers.set(task, resolve));
    queueMicrotask(() => this.#evaluateAll());
    return { id, name: spec.name, done };
  }

  #targetsOf(name: string, targets: readonly string[] | undefined, required: boolean) {
    const list = targets ?? (required ? undefined : this.#clients);
    if (list === undefined || list.length === 0) {
      throw new VflareError(
        'INVALID_ARGUMENT',
        `task "${name}": no targets ` +
          `(${targets === undefined ? 'the job has no clients' : 'empty list'})`,
      );
    }
    return list;
  }

  #broadcast(task: TaskSpec, options: BroadcastOptions = {}): TaskHandle {
    const targets = this.#targetsOf(task.name, options.targets, false);
    const minResponses = options.minResponses ?? 1;
    if (!Number.isInteger(minResponses) || minResponses < 0) {
      throw new VflareError(
        'INVALID_ARGUMENT',
        `task "${task.name}" minResponses: expected an integer ≥ 0, got ${minResponses}`,
      );
    }
    if (options.targets !== undefined && minResponses > new Set(targets).size) {
      throw new VflareError(
        'INVALID_ARGUMENT',
        `task "${task.name}": minResponses ${minResponses} exceeds the ${targets.length} targets`,
      );
    }
    const graceMs = options.waitTimeAfterMinReceivedMs ?? 0;
    return this.#schedule(task, { kind: 'broadcast', minResponses, graceMs }, targets);
  }

  #sendTask(task: TaskSpec, options: SendOptions): TaskHandle {
    const targets = this.#targetsOf(task.name, options.targets, true);
    const assignTimeoutMs = options.taskAssignmentTimeoutMs ?? 0;
    return this.#schedule(task, { kind: 'send', order: options.order, assignTimeoutMs }, targets);
  }

  #relay(task: TaskSpec, options: RelayOptions): TaskHandle {
    const dynamic = options.dynamicTargets ?? true;
    const targets = options.targets.length === 0 && dynamic ? [] : options.targets;
    if (!dynamic) this.#targetsOf(task.name, targets, true);
    return this.#schedule(
      task,
      {
        kind: 'relay',
        assignTimeoutMs: options.taskAssignmentTimeoutMs ?? 0,
        resultTimeoutMs: options.taskResultTimeoutMs ?? 0,
        dynamic,
      },
      targets,
    );
  }

  #task(handle: TaskHandle): ScheduledTask | undefined {
    return this.#byId.get(handle.id);
  }

  #abortJob(): void {
    this.#abort.abort();
    for (const task of [...this.#open]) this.#complete(task, 'aborted', true);
  }

  #controllerApi(workflow: string): ControllerApi {
    const andWait = (handle: TaskHandle) => handle.done;
    const api: ControllerApi = {
      jobId: this.jobId,
      clients: this.#clients,
      aliveClients: () => this.#clients.filter((s) => this.isAlive(s)),
      logger: this.#logger.child({ workflow }),
      peers: this.#peers,
      jobState: this.#jobState,
      workspace: this.#o.workspace,
      seed: this.#o.seed,
      signal: this.#abort.signal,
      broadcast: (task, options) => this.#broadcast(task, options),
      broadcastAndWait: (task, options) => andWait(this.#broadcast(task, options)),
      broadcastForever: (task, options = {}) =>
        this.#schedule(
          task,
          {
            kind: 'forever',
            resendIntervalMs:
              this.#o.foreverResendIntervalMs ?? ENGINE_DEFAULTS.foreverResendIntervalMs,
          },
          this.#targetsOf(task.name, options.targets, false),
        ),
      send: (task, options) => this.#sendTask(task, options),
      sendAndWait: (task, options) => andWait(this.#sendTask(task, options)),
      relay: (task, options) => this.#relay(task, options),
      relayAndWait: (task, options) => andWait(this.#relay(task, options)),
      cancelTask: (handle, completion = 'cancelled') => {
        const task = this.#task(handle);
        if (task !== undefined) this.#complete(task, completion, false);
      },
      cancelAllTasks: (completion = 'cancelled') => {
        for (const task of [...this.#open]) this.#complete(task, completion, false);
      },
      abortTask: (handle) => {
        const task = this.#task(handle);
        if (task !== undefined) this.#complete(task, 'aborted', true);
      },
      abortAllTasks: () => {
        for (const task of [...this.#open]) this.#complete(task, 'aborted', true);
      },
      reportMetrics: (metrics) => Object.assign(this.#serverMetrics, metrics),
      reportRounds: (rounds) => {
        this.#rounds = rounds;
      },
    };
    return api;
  }

  // -------------------------------------------------------------------------------------------
  // Peer messaging relay

  #peerLink() {
    return {
      sendRequest: (msg: PeerRequestMessage) => {
        const frame = encodeMessage(msg);
        for (const site of msg.to) {
          this.#sendFrame(site, frame, msg.type, () => {
            if (!msg.oneWay) this.#peers.deliverReply(msg.reqId, site, commError(site));
          });
        }
      },
      sendReply: (msg: PeerReplyMessage) => this.#send(msg.to, msg),
    };
  }

  #onPeerRequest(site: string, msg: PeerRequestMessage, frame: Uint8Array): void {
    if (msg.from !== site) {
      this.#logger.warn({ peer: site }, 'peer request with a forged sender dropped');
      return;
    }
    const replyFor = (target: string, reason: string) => {
      if (msg.oneWay) return;
      this.#send(site, {
        type: 'peer-reply',
        reqId: msg.reqId,
        from: target,
        to: site,
        reply: { rc: 'communication-error', payload: null, reason },
      });
    };
    // Forwarded unchanged; when it goes to one site only and the server keeps no view of it,
    // the bytes are handed over rather than copied. To several parties (the server's own
    // handler views the frame too), every site gets its own copy.
    const transfer = msg.to.length === 1;
    for (const target of msg.to) {
      if (!this.#parties.includes(target)) {
        replyFor(target, `"${target}" is not a party of job "${this.jobId}"`);
      } else if (target === SERVER) {
        this.#peers.handleRequest(msg);
      } else {
        this.#sendFrame(
          target,
          frame,
          msg.type,
          () => replyFor(target, `"${target}" is not connected`),
          transfer,
          !transfer,
        );
      }
    }
  }

  #onPeerReply(site: string, msg: PeerReplyMessage, frame: Uint8Array): void {
    if (msg.from !== site) {
      this.#logger.warn({ peer: site }, 'peer reply with a forged sender dropped');
      return;
    }
    if (msg.to === SERVER) this.#peers.handleReply(msg);
    else if (this.#clientSet.has(msg.to)) {
      this.#sendFrame(msg.to, frame, msg.type, undefined, true);
    }
  }

  // -------------------------------------------------------------------------------------------
  // End of job

  async #endJob(reason: string): Promise<void> {
    this.#ended = true;
    for (const task of [...this.#open]) this.#complete(task, 'aborted', true);
    for (const [site, poll] of this.#polls) {
      clearTimeout(poll.timer);
      this.#polls.delete(site);
    }
    const waitFor = () =>
      [...this.#welcomed].filter((s) => !this.#byes.has(s) && this.isAlive(s)).length === 0;
    for (const site of this.#welcomed) this.#send(site, { type: 'bye', reason });
    if (!waitFor()) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.#o.byeTimeoutMs ?? ENGINE_DEFAULTS.byeTimeoutMs);
        this.#byeWaiter = () => {
          if (!waitFor()) return;
          clearTimeout(timer);
          resolve();
        };
      });
    }
    this.#byeWaiter = undefined;
    clearInterval(this.#sweepTimer);
    clearTimeout(this.#wakeTimer);
    this.#peers.close();
    await this.#o.endpoint.close();
  }
}

function commError(site: string) {
  return {
    rc: 'communication-error' as const,
    payload: null,
    reason: `"${site}" is not connected`,
  };
}
