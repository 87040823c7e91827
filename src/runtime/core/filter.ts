/**
 * Filters transform or block payloads at the four points a task crosses. A site's privacy
 * policy names filters that run before the job's, and that a job cannot remove.
 *
 * Failure mapping (as NVFlare 2.3): server data out → the task is cancelled for that client;
 * client data in → `task-data-filter-error`, executor not run; client result out →
 * `task-result-filter-error`; server result in → the result is replaced by a
 * `task-result-filter-error` result and still handed to the workflow.
 */
import type { SiteContext } from './context.js';
import type { Logger } from './logger.js';
import type { Payload } from './messages.js';

export type FilterPoint =
  | 'server-data-out'
  | 'client-data-in'
  | 'client-result-out'
  | 'server-result-in';

export interface FilterContext {
  readonly point: FilterPoint;
  /** The party running the filter. */
  readonly site: string;
  /** The party on the other end (a client site, or `server`). */
  readonly peer: string;
  readonly jobId: string;
  readonly taskName: string;
  readonly round: number | undefined;
  /** The global model the task carried to the client (null if it carried none). */
  readonly globalModel: Payload | null;
  /** The site-local context (hyper-parameters, data accessor) the site's learner published. */
  readonly siteContext: SiteContext;
  /** This party's output folder for the job. */
  readonly workspace: string;
  readonly logger: Logger;
}

export interface Filter {
  /** Recorded in the payload's `meta.filterHistory`. */
  readonly name: string;
  process(payload: Payload, ctx: FilterContext): Promise<Payload> | Payload;
}

/** Which tasks a filter applies to; an absent `tasks` means every task. */
export interface FilterBinding {
  readonly tasks?: readonly string[];
  readonly filter: Filter;
}

/** Filter chains of one party, per direction. */
export interface FilterChains {
  /** Server: data out. Client: data in. */
  readonly taskData: readonly FilterBinding[];
  /** Client: result out. Server: result in. */
  readonly taskResult: readonly FilterBinding[];
}
