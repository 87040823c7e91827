/**
 * A small in-process stand-in for the server engine, for unit tests of workflows only. Each
 * client is a function answering tasks; the exit rules are the ones of the ControllerApi
 * contract (all answered → done; minResponses → grace then done; timeout; all outstanding dead
 * → client-dead). Transport, filters and heartbeats are out of scope: the real engine has them.
 */
import {
  type BroadcastOptions,
  type ControllerApi,
  type JobState,
  type Logger,
  type Payload,
  type PeerMessenger,
  type RelayOptions,
  type ReturnCode,
  type SendOptions,
  silentLogger,
  type TaskCompletion,
  type TaskData,
  type TaskHandle,
  type TaskOutcome,
  type TaskResult,
  type TaskSpec,
  TypedStore,
} from '../../../src/runtime/core/index.js';

export interface FakeAnswer {
  readonly rc?: ReturnCode;
  readonly payload: Payload | null;
  readonly reason?: string;
}

/** A client: answers a task, or never resolves to play a hanging executor. */
export type FakeClient = (task: TaskData, signal: AbortSignal) => Promise<FakeAnswer> | FakeAnswer;

export const HANG: FakeClient = () => new Promise<FakeAnswer>(() => {});

export interface FakeControllerOptions {
  readonly clients: Record<string, FakeClient>;
  readonly workspace?: string;
  readonly logger?: Logger;
  /** Sites that are (or become, via `kill`) dead: no answers, not alive. */
  readonly dead?: readonly string[];
}

export class FakeController implements ControllerApi {
  readonly jobId = 'job-test';
  readonly clients: readonly string[];
  readonly logger: Logger;
  readonly jobState: JobState = new TypedStore();
  readonly workspace: string;
  readonly seed = 1;
  readonly peers = {} as PeerMessenger;
  readonly #abort = new AbortController();
  readonly signal: AbortSignal = this.#abort.signal;
  readonly metrics: Record<string, number> = {};
  rounds = 0;
  /** Every task scheduled, in order, with the data each target got. */
  readonly sent: { name: string; round: number | undefined; targets: string[] }[] = [];
  readonly #handlers: Record<string, FakeClient>;
  readonly #dead = new Set<string>();
  readonly #deadListeners = new Set<() => void>();
  readonly #cancels = new Map<string, (c: TaskCompletion) => void>();
  #ids = 0;

  constructor(options: FakeControllerOptions) {
    this.#handlers = options.clients;
    this.clients = Object.keys(options.clients);
    this.logger = options.logger ?? silentLogger;
    this.workspace = options.workspace ?? '/nonexistent';
    for (const d of options.dead ?? []) this.#dead.add(d);
  }

  /** Makes a site stop: no more answers, no longer alive. */
  kill(site: string): void {
    this.#dead.add(site);
    for (const l of this.#deadListeners) l();
  }

  aliveClients(): readonly string[] {
    return this.clients.filter((c) => !this.#dead.has(c));
  }

  broadcast(task: TaskSpec, options: BroadcastOptions = {}): TaskHandle {
    const targets = [...(options.targets ?? this.clients)];
    const min = options.minResponses ?? 1;
    if (min > targets.length) throw new Error('minResponses above the number of targets');
    return this.#schedule(task, targets, min === 0 ? targets.length : min, options);
  }

  broadcastAndWait(task: TaskSpec, options?: BroadcastOptions): Promise<TaskOutcome> {
    return this.broadcast(task, options).done;
  }

  broadcastForever(): TaskHandle {
    throw new Error('not used by these workflows');
  }

  send(task: TaskSpec, options: SendOptions): TaskHandle {
    return this.#schedule(task, [options.targets[0] as string], 1, {});
  }

  sendAndWait(task: TaskSpec, options: SendOptions): Promise<TaskOutcome> {
    return this.send(task, options).done;
  }

  relay(_task: TaskSpec, _options: RelayOptions): TaskHandle {
    throw new Error('not used by these workflows');
  }

  relayAndWait(task: TaskSpec, options: RelayOptions): Promise<TaskOutcome> {
    return this.relay(task, options).done;
  }

  cancelTask(handle: TaskHandle, completion: TaskCompletion = 'cancelled'): void {
    this.#cancels.get(handle.id)?.(completion);
  }

  cancelAllTasks(completion: TaskCompletion = 'cancelled'): void {
    for (const c of this.#cancels.values()) c(completion);
  }

  abortTask(handle: TaskHandle): void {
    this.cancelTask(handle, 'aborted');
  }

  abortAllTasks(): void {
    this.cancelAllTasks('aborted');
  }

  abortJob(): void {
    this.#abort.abort();
    this.abortAllTasks();
  }

  reportMetrics(metrics: Readonly<Record<string, number>>): void {
    Object.assign(this.metrics, metrics);
  }

  reportRounds(rounds: number): void {
    this.rounds = rounds;
  }

  #schedule(task: TaskSpec, targets: string[], min: number, options: BroadcastOptions): TaskHandle {
    const id = `t${++this.#ids}`;
    this.sent.push({ name: task.name, round: task.round, targets });
    const results = new Map<string, TaskResult>();
    const taskAbort = new AbortController();
    let finish!: (c: TaskCompletion) => void;
    const done = new Promise<TaskOutcome>((resolve) => {
      let over = false;
      const timers: NodeJS.Timeout[] = [];
      const checkDead = (): void => {
        const outstanding = targets.filter((t) => !results.has(t));
        if (outstanding.length > 0 && outstanding.every((t) => this.#dead.has(t))) {
          finish('client-dead');
        }
      };
      finish = (completion) => {
        if (over) return;
        over = true;
        for (const t of timers) clearTimeout(t);
        this.#deadListeners.delete(checkDead);
        this.#cancels.delete(id);
        taskAbort.abort();
        resolve({ name: task.name, completion, results: new Map(results) });
      };
      this.#cancels.set(id, finish);
      this.#deadListeners.add(checkDead);
      if (task.timeoutMs !== undefined && task.timeoutMs > 0) {
        timers.push(setTimeout(() => finish('timeout'), task.timeoutMs));
      }
      const onAnswer = (site: string, answer: FakeAnswer): void => {
        if (over || this.#dead.has(site)) return;
        const rc = answer.rc ?? 'ok';
        const result: TaskResult = {
          headers: headers(this.jobId, task, id),
          site,
          rc,
          payload: rc === 'ok' ? answer.payload : null,
          ...(answer.reason === undefined ? {} : { reason: answer.reason }),
        };
        results.set(site, result);
        task.onResult?.(result);
        if (results.size === targets.length) finish('ok');
        else if (results.size === min) {
          timers.push(setTimeout(() => finish('ok'), options.waitTimeAfterMinReceivedMs ?? 0));
        }
      };
      for (const site of targets) {
        if (this.#dead.has(site)) continue;
        const data = typeof task.data === 'function' ? task.data(site) : task.data;
        const handler = this.#handlers[site];
        if (handler === undefined) throw new Error(`no fake client ${site}`);
        Promise.resolve()
          .then(() =>
            handler({ headers: headers(this.jobId, task, id), payload: data }, taskAbort.signal),
          )
          .then(
            (a) => onAnswer(site, a),
            () => onAnswer(site, { rc: 'execution-exception', payload: null }),
          );
      }
      queueMicrotask(checkDead);
    });
    return { id, name: task.name, done };
  }
}

function headers(jobId: string, task: TaskSpec, taskId: string): TaskData['headers'] {
  return {
    jobId,
    taskName: task.name,
    taskId,
    ...(task.round === undefined ? {} : { round: task.round }),
    ...(task.numRounds === undefined ? {} : { numRounds: task.numRounds }),
  };
}
