/**
 * The client runner: one per site and job. It pulls tasks from the server (long-poll), runs the
 * executor registered for each task name between the client's filters, sends the result, and
 * meanwhile heartbeats and serves peer requests. Return codes follow NVFlare 2.3's client
 * runner (`nvflare/private/fed/client/client_runner.py`).
 */
import type { ClientApp, SitePolicy } from '../core/app.js';
import { NO_FILTERS } from '../core/app.js';
import { type JobState, type SiteContext, TypedStore } from '../core/context.js';
import { safeMessage, VflareError } from '../core/errors.js';
import type { Executor, ExecutorContext, SiteJobContext } from '../core/executor.js';
import type { FilterChains, FilterContext } from '../core/filter.js';
import { type Logger, silentLogger } from '../core/logger.js';
import type { Payload, ReturnCode, TaskData, TaskHeaders, TaskResult } from '../core/messages.js';
import { SERVER } from '../core/peer.js';
import { decodeMessage, encodeMessage } from '../transport/codec.js';
import type { ClientEndpoint } from '../transport/driver.js';
import type { TaskMessage, WelcomeMessage, WireMessage } from '../transport/wire.js';
import { payloadProblem } from './check.js';
import { applyFilters, chainFor } from './filters.js';
import { PeerEndpoint } from './peer.js';
import { ENGINE_DEFAULTS } from './server.js';

/** Test hook: what to do instead of running a task (see the simulator's `faults`). */
export type TaskFault = 'die' | 'hang';

export interface ClientRunnerOptions {
  readonly site: string;
  readonly jobId: string;
  readonly app: ClientApp;
  readonly endpoint: ClientEndpoint;
  /** The site's own privacy policy: its filters run before the job's and cannot be removed. */
  readonly policy?: SitePolicy;
  /** This site's output folder for the job. */
  readonly workspace: string;
  /** Root that relative data paths resolve against at this site. */
  readonly dataRoot: string;
  readonly seed: number;
  readonly logger?: Logger;
  /** The site's context store; default: a new, empty one. */
  readonly siteContext?: SiteContext;
  /** Long-poll wait asked of the server; default 10 000 ms. */
  readonly longPollMs?: number;
  /** Overrides the server's heartbeat interval (e.g. in the simulator). */
  readonly heartbeatIntervalMs?: number;
  /** How long to wait for the server's `welcome`; default 30 000 ms. */
  readonly connectTimeoutMs?: number;
  /** Bounds each executor's `finalize`; default 10 000 ms. */
  readonly finalizeTimeoutMs?: number;
  /** Test hook, asked before each task runs. */
  readonly faultFor?: (task: TaskData) => TaskFault | undefined;
}

type Reply = { kind: 'task'; msg: TaskMessage } | { kind: 'none' } | { kind: 'end' };

const NEVER = new Promise<never>(() => {});

/**
 * A task being run: `abort` fires its signal and ends the wait for its executor at once. Every
 * abort goes through this handle (a server `abort`, the job's end in `#abortJob`), so it can end
 * the wait directly: no listener on the signal per task. The `AbortController` behind `signal`
 * is only made when the executor reads it (most never do), aborted at once if the task already
 * was: a controller and its signal per task were a measurable part of a round at 100 sites.
 */
class RunningTask {
  #controller: AbortController | undefined;
  #stop: ((why: 'aborted') => void) | undefined;
  /** True once `abort` ran; what `signal.aborted` says, without making the signal. */
  aborted = false;
  /** Settles when the task is aborted. */
  readonly stopped: Promise<'aborted'>;

  constructor() {
    this.stopped = new Promise<'aborted'>((resolve) => {
      this.#stop = resolve;
    });
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.aborted) this.#controller.abort();
    }
    return this.#controller.signal;
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.#controller?.abort();
    this.#stop?.('aborted');
  }
}

export class ClientRunner {
  readonly site: string;
  readonly #o: ClientRunnerOptions;
  readonly #logger: Logger;
  readonly #siteContext: SiteContext;
  readonly #jobState: JobState = new TypedStore();
  readonly #job = new AbortController();
  readonly #running = new Map<string, RunningTask>();
  readonly #executors = new Map<string, Executor>();
  readonly #broken = new Map<Executor, string>();
  readonly #filters: FilterChains;
  readonly #policy: FilterChains;
  readonly metrics: Record<string, number> = {};
  #peers: PeerEndpoint | undefined;
  #parties: readonly string[] = [];
  #welcome: ((msg: WelcomeMessage) => void) | undefined;
  #noWelcome: ((reason: string) => void) | undefined;
  #poll: { reqId: number; resolve: (r: Reply) => void } | undefined;
  #reqSeq = 0;
  /** The server takes the next poll inside a result (`welcome.resultPolls`). */
  #resultPolls = false;
  /**
   * One timer for the lost-reply guard of every poll, re-armed (`refresh`) when a poll starts
   * rather than created and cleared per poll; `#guarded` is the poll it was armed for.
   */
  #pollGuard: ReturnType<typeof setTimeout> | undefined;
  #guarded = 0;
  /** The executors' job context, made once (its fields do not change during the job). */
  #jobCtx: SiteJobContext | undefined;
  #ended = false;
  #killed = false;
  #heartbeat: ReturnType<typeof setInterval> | undefined;

  constructor(options: ClientRunnerOptions) {
    this.#o = options;
    this.site = options.site;
    this.#logger = (options.logger ?? silentLogger).child({
      job: options.jobId,
      site: options.site,
    });
    this.#siteContext = options.siteContext ?? new TypedStore();
    this.#filters = options.app.filters;
    this.#policy = options.policy?.filters ?? NO_FILTERS;
    for (const executor of options.app.executors) {
      for (const name of executor.tasks) {
        if (this.#executors.has(name)) {
          throw new VflareError(
            'INVALID_CONFIG',
            `site "${options.site}": two executors registered for task "${name}"`,
          );
        }
        this.#executors.set(name, executor);
      }
    }
  }

  /** The site's peer messenger (available once `run` connected). */
  get peers(): PeerEndpoint {
    if (this.#peers === undefined) {
      throw new VflareError('INVALID_ARGUMENT', `site "${this.site}": not connected yet`);
    }
    return this.#peers;
  }

  /**
   * Connects, initializes the executors, runs tasks until the server ends the job, finalizes
   * and says bye. Resolves when the site is done (or was killed).
   */
  async run(): Promise<void> {
    let welcome: WelcomeMessage;
    try {
      welcome = await this.#connect();
    } catch (err) {
      if (this.#killed || this.#ended) {
        this.#peers?.close();
        return;
      }
      throw err;
    }
    this.#parties = welcome.parties;
    this.#resultPolls = welcome.resultPolls === true;
    const interval = this.#o.heartbeatIntervalMs ?? welcome.heartbeatIntervalMs;
    this.#heartbeat = setInterval(() => this.#send({ type: 'heartbeat' }), interval);
    await this.#initialize();
    // A task's result waits for the next poll, to go out in the same frame when the server
    // takes polls inside results; it is sent alone otherwise, or when the loop ends.
    let answer: TaskResult | undefined;
    try {
      while (!this.#ended && !this.#killed) {
        const reply = await this.#getTask(answer);
        answer = undefined;
        if (reply.kind === 'end') break;
        if (reply.kind === 'task') answer = await this.#runTask(reply.msg);
      }
    } finally {
      if (answer !== undefined) this.#sendResult(answer);
      await this.#shutdown();
    }
  }

  /**
   * The site vanishes: it stops answering, heartbeating and serving peers at once, without
   * telling anyone; whatever its executor still does is never sent. Used when a site process
   * stops (SIGTERM) and by tests of a site dying mid-round.
   */
  kill(): void {
    if (this.#killed) return;
    this.#killed = true;
    this.#logger.info('site stopped; its running task, if any, is abandoned');
    clearInterval(this.#heartbeat);
    clearTimeout(this.#pollGuard);
    this.#poll?.resolve({ kind: 'end' });
    this.#noWelcome?.('killed');
    this.#abortJob();
  }

  get killed(): boolean {
    return this.#killed;
  }

  // -------------------------------------------------------------------------------------------

  async #connect(): Promise<WelcomeMessage> {
    const welcomed = new Promise<WelcomeMessage>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new VflareError('PEER_FAILED', `site "${this.site}": no welcome from the server`)),
        this.#o.connectTimeoutMs ?? 30_000,
      );
      this.#welcome = (msg) => {
        clearTimeout(timer);
        resolve(msg);
      };
      this.#noWelcome = (reason) => {
        clearTimeout(timer);
        reject(new VflareError('ABORTED', `site "${this.site}": ${reason} before the job started`));
      };
    });
    await this.#o.endpoint.connect({
      onFrame: (frame) => this.#onFrame(frame),
      onClose: (reason) => {
        if (this.#ended || this.#killed) return;
        this.#logger.warn({ reason }, 'link to the server closed');
        this.#end();
      },
    });
    this.#peers = new PeerEndpoint(
      this.site,
      () => this.#parties,
      {
        sendRequest: (msg) => {
          const frame = encodeMessage(msg);
          this.#sendFrame(frame, () => {
            if (msg.oneWay) return;
            for (const t of msg.to) {
              this.#peers?.deliverReply(msg.reqId, t, {
                rc: 'communication-error',
                payload: null,
                reason: 'the server link is down',
              });
            }
          });
        },
        sendReply: (msg) => this.#send(msg),
      },
      this.#logger,
    );
    this.#send({ type: 'hello', jobId: this.#o.jobId });
    return welcomed;
  }

  #onFrame(frame: Uint8Array): void {
    if (this.#killed) return;
    let msg: WireMessage;
    try {
      msg = decodeMessage(frame);
    } catch (err) {
      this.#logger.warn({ error: safeMessage(err) }, 'malformed frame from the server dropped');
      return;
    }
    switch (msg.type) {
      case 'welcome':
        this.#welcome?.(msg);
        return;
      case 'task':
        // Answers whatever poll is outstanding; a task arriving while none is (a stale reply)
        // is dropped, and the server re-sends it on the next ask.
        if (this.#poll !== undefined) {
          const poll = this.#poll;
          this.#poll = undefined;
          poll.resolve({ kind: 'task', msg });
        }
        return;
      case 'no-task':
        if (this.#poll?.reqId === msg.reqId) {
          const poll = this.#poll;
          this.#poll = undefined;
          poll.resolve({ kind: 'none' });
        }
        return;
      case 'abort':
        this.#running.get(msg.taskId)?.abort();
        return;
      case 'peer-request':
        this.#peers?.handleRequest(msg);
        return;
      case 'peer-reply':
        this.#peers?.handleReply(msg);
        return;
      case 'bye':
        this.#logger.debug({ reason: msg.reason ?? '' }, 'server ended the job');
        this.#end();
        return;
      default:
        this.#logger.warn({ type: msg.type }, 'unexpected message from the server dropped');
    }
  }

  #end(): void {
    this.#ended = true;
    this.#noWelcome?.('the job ended');
    this.#poll?.resolve({ kind: 'end' });
    this.#poll = undefined;
    for (const c of this.#running.values()) c.abort();
  }

  #send(msg: WireMessage): void {
    if (this.#killed) return;
    let frame: Uint8Array;
    try {
      frame = encodeMessage(msg);
    } catch (err) {
      this.#logger.error({ type: msg.type, error: safeMessage(err) }, 'encode failed');
      return;
    }
    this.#sendFrame(frame);
  }

  #sendFrame(frame: Uint8Array, onFail?: () => void): void {
    if (this.#killed) return;
    this.#o.endpoint.send(frame).catch((err: unknown) => {
      this.#logger.debug({ error: safeMessage(err) }, 'send to the server failed');
      onFail?.();
    });
  }

  /** Polls for the next task; `answer`, the last task's result, goes first (see `run`). */
  #getTask(answer?: TaskResult): Promise<Reply> {
    const waitMs = this.#o.longPollMs ?? ENGINE_DEFAULTS.longPollMs;
    const reqId = ++this.#reqSeq;
    if (answer !== undefined && !this.#resultPolls) {
      this.#sendResult(answer);
      answer = undefined;
    }
    return new Promise<Reply>((resolve) => {
      // If the server never answers (lost frame), ask again after a generous margin.
      this.#guarded = reqId;
      if (this.#pollGuard === undefined) {
        this.#pollGuard = setTimeout(() => this.#pollExpired(), waitMs * 2 + 1_000);
      } else this.#pollGuard.refresh();
      this.#poll = { reqId, resolve };
      if (answer !== undefined) this.#sendResult(answer, { reqId, waitMs });
      else this.#send({ type: 'get-task', reqId, waitMs });
    });
  }

  /** The guard fired: the poll it was armed for, if still unanswered, ends with no task. */
  #pollExpired(): void {
    const poll = this.#poll;
    if (poll === undefined || poll.reqId !== this.#guarded) return;
    this.#poll = undefined;
    poll.resolve({ kind: 'none' });
  }

  // -------------------------------------------------------------------------------------------
  // Running a task

  #jobContext(): SiteJobContext {
    this.#jobCtx ??= {
      site: this.site,
      jobId: this.#o.jobId,
      signal: this.#job.signal,
      logger: this.#logger,
      peers: this.peers,
      siteContext: this.#siteContext,
      jobState: this.#jobState,
      workspace: this.#o.workspace,
      dataRoot: this.#o.dataRoot,
      seed: this.#o.seed,
      reportMetrics: (m) => this.#reportMetrics(m),
    };
    return this.#jobCtx;
  }

  #reportMetrics(metrics: Readonly<Record<string, number>>): void {
    Object.assign(this.metrics, metrics);
    this.#send({ type: 'metrics', metrics: { ...metrics } });
  }

  async #initialize(): Promise<void> {
    const ctx = this.#jobContext();
    for (const executor of new Set(this.#executors.values())) {
      if (executor.initialize === undefined) continue;
      try {
        await executor.initialize(ctx);
      } catch (err) {
        const reason = `executor initialize failed: ${safeMessage(err)}`;
        this.#broken.set(executor, reason);
        this.#logger.error({ tasks: executor.tasks.join(','), error: safeMessage(err) }, reason);
      }
    }
  }

  /** Runs a task; returns its result to send, or nothing (a re-send, or the site died). */
  async #runTask(msg: TaskMessage): Promise<TaskResult | undefined> {
    const { headers } = msg.task;
    const existing = this.#running.get(headers.taskId);
    if (existing !== undefined) return undefined; // a re-send of what is running already
    const run = new RunningTask();
    if (this.#job.signal.aborted) run.abort();
    this.#running.set(headers.taskId, run);
    try {
      const result = await this.#process(msg.task, run);
      return result === 'died' ? undefined : result;
    } finally {
      this.#running.delete(headers.taskId);
    }
  }

  /** Ends the job's signal and every running task's with it. */
  #abortJob(): void {
    this.#job.abort();
    for (const c of this.#running.values()) c.abort();
  }

  // No named closures per task here: under tsx (esbuild's keepNames) each one costs a
  // `defineProperty` call, which showed in the round profile at 100 sites.
  async #process(task: TaskData, run: RunningTask): Promise<TaskResult | 'died'> {
    const { headers } = task;
    const log = this.#logger.child(
      headers.round === undefined
        ? { task: headers.taskName }
        : { task: headers.taskName, round: headers.round },
    );
    // An empty chain (the common case) is skipped without a turn of the event loop.
    const dataChain = chainFor(this.#policy.taskData, this.#filters.taskData, headers.taskName);
    let payloadIn = task.payload;
    if (dataChain.length > 0 && payloadIn !== null) {
      const dataIn = await applyFilters(dataChain, payloadIn, () =>
        this.#filterContext(task, 'client-data-in', log),
      );
      if (!dataIn.ok) {
        log.warn({ reason: dataIn.reason }, 'client data-in filter failed');
        const reason = `client data-in ${dataIn.reason}`;
        return this.#result(headers, 'task-data-filter-error', null, reason);
      }
      payloadIn = dataIn.payload;
    }
    const executor = this.#executors.get(headers.taskName);
    if (executor === undefined) {
      const reason = `no executor for task "${headers.taskName}"`;
      return this.#result(headers, 'task-unknown', null, reason);
    }
    const broken = this.#broken.get(executor);
    if (broken !== undefined) return this.#result(headers, 'execution-exception', null, broken);

    const fault = this.#o.faultFor?.(task);
    if (fault === 'die') {
      this.kill();
      return 'died';
    }
    // Written out field by field: spreading the job context cost microseconds per task in V8.
    const job = this.#jobContext();
    const ctx: ExecutorContext = {
      site: job.site,
      jobId: job.jobId,
      taskName: headers.taskName,
      round: headers.round,
      get signal() {
        return run.signal;
      },
      logger: log,
      peers: job.peers,
      siteContext: job.siteContext,
      jobState: job.jobState,
      workspace: job.workspace,
      dataRoot: job.dataRoot,
      seed: job.seed,
      reportMetrics: job.reportMetrics,
    };
    let out: unknown;
    try {
      const running =
        fault === 'hang'
          ? NEVER
          : Promise.resolve().then(() => executor.execute({ headers, payload: payloadIn }, ctx));
      // An executor that ignores its signal is abandoned when the task is aborted, so the site
      // can take its next task; its eventual result is discarded.
      out = await Promise.race([running, run.stopped]);
    } catch (err) {
      if (run.aborted) return this.#result(headers, 'task-aborted', null, 'the task was aborted');
      log.warn({ error: safeMessage(err) }, 'executor failed');
      return this.#result(headers, 'execution-exception', null, safeMessage(err));
    }
    if (out === 'aborted' || run.aborted) {
      return this.#result(headers, 'task-aborted', null, 'the task was aborted');
    }
    if (out !== null) {
      const problem = payloadProblem(out);
      if (problem !== undefined) {
        log.warn({ problem }, 'executor returned something that is not a payload');
        const reason = `the executor returned ${problem}`;
        return this.#result(headers, 'execution-result-error', null, reason);
      }
    }
    let payloadOut = out as Payload | null;
    const resultChain = chainFor(
      this.#policy.taskResult,
      this.#filters.taskResult,
      headers.taskName,
    );
    if (resultChain.length > 0 && payloadOut !== null) {
      const resultOut = await applyFilters(resultChain, payloadOut, () =>
        this.#filterContext(task, 'client-result-out', log),
      );
      if (!resultOut.ok) {
        log.warn({ reason: resultOut.reason }, 'client result-out filter failed');
        const reason = `client result-out ${resultOut.reason}`;
        return this.#result(headers, 'task-result-filter-error', null, reason);
      }
      payloadOut = resultOut.payload;
    }
    return this.#result(headers, 'ok', payloadOut);
  }

  #result(
    headers: TaskHeaders,
    rc: ReturnCode,
    payload: Payload | null,
    reason?: string,
  ): TaskResult {
    return reason === undefined
      ? { headers, site: this.site, rc, payload }
      : { headers, site: this.site, rc, payload, reason };
  }

  #filterContext(task: TaskData, point: FilterContext['point'], logger: Logger): FilterContext {
    return {
      point,
      site: this.site,
      peer: SERVER,
      jobId: this.#o.jobId,
      taskName: task.headers.taskName,
      round: task.headers.round,
      globalModel: task.payload,
      siteContext: this.#siteContext,
      workspace: this.#o.workspace,
      logger,
    };
  }

  #sendResult(result: TaskResult, next?: { reqId: number; waitMs: number }): void {
    let frame: Uint8Array;
    try {
      frame = encodeMessage(
        next === undefined ? { type: 'result', result } : { type: 'result', result, next },
      );
    } catch (err) {
      const reason = `the result cannot be encoded: ${safeMessage(err)}`;
      this.#logger.warn({ task: result.headers.taskName, reason }, 'result not sent');
      const fallback: TaskResult = {
        ...result,
        rc: 'execution-result-error',
        payload: null,
        reason,
      };
      frame = encodeMessage(
        next === undefined
          ? { type: 'result', result: fallback }
          : { type: 'result', result: fallback, next },
      );
    }
    this.#sendFrame(frame);
  }

  // -------------------------------------------------------------------------------------------

  async #shutdown(): Promise<void> {
    clearInterval(this.#heartbeat);
    clearTimeout(this.#pollGuard);
    for (const c of this.#running.values()) c.abort();
    if (this.#killed) {
      this.#peers?.close();
      return;
    }
    const ctx = this.#jobContext();
    const limit = this.#o.finalizeTimeoutMs ?? 10_000;
    for (const executor of new Set(this.#executors.values())) {
      if (executor.finalize === undefined) continue;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), limit);
      });
      try {
        const r = await Promise.race([executor.finalize(ctx), timeout]);
        if (r === 'timeout') this.#logger.warn({ limitMs: limit }, 'executor finalize timed out');
      } catch (err) {
        this.#logger.warn({ error: safeMessage(err) }, 'executor finalize failed');
      } finally {
        clearTimeout(timer);
      }
    }
    this.#abortJob();
    this.#peers?.close();
    this.#send({ type: 'bye' });
    await this.#o.endpoint.close();
  }
}
