/**
 * The server-side API workflows are written against (NVFlare's Controller, typed). A workflow
 * schedules tasks; clients pull them; the engine applies the exit rules of NVFlare 2.3:
 *
 * - every target answered → done at once (no grace wait);
 * - `minResponses` reached → wait `waitTimeAfterMinReceivedMs`, then done;
 *   (`minResponses` 0 means wait for all targets);
 * - task timeout elapsed → done with status `timeout`;
 * - every outstanding target dead → done with status `client-dead`;
 * - a client that asks again before answering gets the same task again.
 */
import type { JobState } from './context.js';
import type { Logger } from './logger.js';
import type { Payload, TaskResult } from './messages.js';
import type { PeerMessenger } from './peer.js';

export type TaskCompletion = 'ok' | 'timeout' | 'error' | 'cancelled' | 'aborted' | 'client-dead';

/** Task data: one payload for every target, or one per target (in one broadcast). */
export type TaskPayload = Payload | null | ((site: string) => Payload | null);

export interface TaskSpec {
  readonly name: string;
  readonly data: TaskPayload;
  /** Round and total rounds, sent in the task headers. */
  readonly round?: number;
  readonly numRounds?: number;
  /** Milliseconds from scheduling until the task times out; 0 = never. */
  readonly timeoutMs?: number;
  /** Called for each result as it arrives (after the server's result filters). */
  readonly onResult?: (result: TaskResult) => void;
}

export interface TaskOutcome {
  readonly name: string;
  readonly completion: TaskCompletion;
  /** Results by site, in arrival order. */
  readonly results: ReadonlyMap<string, TaskResult>;
  /**
   * Targets that had not answered when the task ended and were dead then (silent for longer
   * than the dead-site grace period). Set by the engine; empty when none.
   */
  readonly deadSites?: readonly string[];
  /** Safe reason when `completion` is `error` (e.g. an `onResult` callback threw). */
  readonly reason?: string;
}

export interface TaskHandle {
  readonly id: string;
  readonly name: string;
  /** Resolves when the task is done, whatever the completion status. */
  readonly done: Promise<TaskOutcome>;
}

export interface BroadcastOptions {
  /** Default: every participating client, resolved when scheduled. */
  readonly targets?: readonly string[];
  /** Default 1 (NVFlare's implementation); 0 = wait for every target. */
  readonly minResponses?: number;
  /** Grace time after `minResponses` results arrived; default 0. */
  readonly waitTimeAfterMinReceivedMs?: number;
}

export interface SendOptions {
  readonly targets: readonly string[];
  /** `sequential`: target i becomes eligible after i × taskAssignmentTimeoutMs. */
  readonly order: 'sequential' | 'any';
  /** 0 with `sequential` means only the first target is ever asked. */
  readonly taskAssignmentTimeoutMs?: number;
}

export interface RelayOptions extends SendOptions {
  /** How long each target has to answer once it took the task; 0 = no limit. */
  readonly taskResultTimeoutMs?: number;
  /** Whether targets may be changed while relaying; default true. */
  readonly dynamicTargets?: boolean;
}

/** The services a workflow gets from the server engine. */
export interface ControllerApi {
  readonly jobId: string;
  /** Participating clients of the job, in deploy order. */
  readonly clients: readonly string[];
  /** Clients currently alive (heartbeating). */
  aliveClients(): readonly string[];
  readonly logger: Logger;
  readonly peers: PeerMessenger;
  readonly jobState: JobState;
  /** The server's output folder for the job. */
  readonly workspace: string;
  readonly seed: number;
  /** Aborted when the job is aborted. */
  readonly signal: AbortSignal;

  broadcast(task: TaskSpec, options?: BroadcastOptions): TaskHandle;
  broadcastAndWait(task: TaskSpec, options?: BroadcastOptions): Promise<TaskOutcome>;
  /** Never completes by itself: clients get it on every ask until it is cancelled. */
  broadcastForever(task: TaskSpec, options?: BroadcastOptions): TaskHandle;
  send(task: TaskSpec, options: SendOptions): TaskHandle;
  sendAndWait(task: TaskSpec, options: SendOptions): Promise<TaskOutcome>;
  relay(task: TaskSpec, options: RelayOptions): TaskHandle;
  relayAndWait(task: TaskSpec, options: RelayOptions): Promise<TaskOutcome>;
  /** Marks the task done with `completion` (default `cancelled`); clients are not told. */
  cancelTask(handle: TaskHandle, completion?: TaskCompletion): void;
  cancelAllTasks(completion?: TaskCompletion): void;
  /** Cancels the task with `aborted` and tells the clients running it to abort. */
  abortTask(handle: TaskHandle): void;
  abortAllTasks(): void;
  /** Records metrics for `summary.json` (`server.metrics`). */
  reportMetrics(metrics: Readonly<Record<string, number>>): void;
  /** Records the number of rounds run, for `summary.json`. */
  reportRounds(rounds: number): void;
}

/** A server-side workflow: one step of a job's control flow. */
export interface Workflow {
  readonly name: string;
  run(api: ControllerApi): Promise<void>;
}
