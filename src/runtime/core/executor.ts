/**
 * Client-side task handling: an executor answers the tasks it is registered for.
 */
import type { JobState, SiteContext } from './context.js';
import type { Logger } from './logger.js';
import type { Payload, TaskData } from './messages.js';
import type { PeerMessenger } from './peer.js';

/** Everything an executor may use while it runs one task at one site. */
export interface ExecutorContext {
  readonly site: string;
  readonly jobId: string;
  readonly taskName: string;
  readonly round: number | undefined;
  /** Aborted when the task is aborted or the job stops; executors should honour it. */
  readonly signal: AbortSignal;
  readonly logger: Logger;
  readonly peers: PeerMessenger;
  /** Site-local context the site's learner publishes to; filters read it. */
  readonly siteContext: SiteContext;
  /** State left by earlier workflows of the same job at this site. */
  readonly jobState: JobState;
  /** This site's output folder for the job (`<workspace>/<site>`). */
  readonly workspace: string;
  /** Root that relative data paths in the job's config resolve against, at this site. */
  readonly dataRoot: string;
  /** The job's seed, for deterministic runs. */
  readonly seed: number;
  /** Records metrics for `summary.json` (`sites.<site>.metrics`); later values overwrite. */
  reportMetrics(metrics: Readonly<Record<string, number>>): void;
}

/**
 * Runs tasks by name. The runner maps outcomes to return codes: an unknown task answers
 * `task-unknown`, a thrown error `execution-exception`, a result that is not a payload
 * `execution-result-error`, an aborted signal `task-aborted`.
 */
export interface Executor {
  /** Task names this executor answers. */
  readonly tasks: readonly string[];
  execute(task: TaskData, ctx: ExecutorContext): Promise<Payload | null>;
  /** Called once before the first task of the job, at the site. */
  initialize?(ctx: SiteJobContext): Promise<void>;
  /** Called once when the job ends at the site (successfully or not). */
  finalize?(ctx: SiteJobContext): Promise<void>;
}

/** The job-wide part of an executor's context (no task, no round). */
export type SiteJobContext = Omit<ExecutorContext, 'taskName' | 'round'>;
