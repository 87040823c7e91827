/**
 * What a job becomes once its configuration is instantiated at a party: the server app (its
 * workflows, run in order, and its filters) and each client app (executors and filters). The
 * simulator and the network deployment both run these.
 */

import type { Workflow } from './controller.js';
import type { Executor } from './executor.js';
import type { FilterChains } from './filter.js';

export interface ServerApp {
  /** Run one after another; a workflow that throws ends the job. */
  readonly workflows: readonly Workflow[];
  readonly filters: FilterChains;
}

export interface ClientApp {
  readonly executors: readonly Executor[];
  readonly filters: FilterChains;
}

/**
 * A site's own privacy policy: filters from the site's configuration, not the job's. They run
 * before the job's filters and a job cannot remove them.
 */
export interface SitePolicy {
  readonly filters: FilterChains;
}

export const NO_FILTERS: FilterChains = Object.freeze({ taskData: [], taskResult: [] });

/** Final status of a job run. */
export type JobStatus = 'completed' | 'aborted' | 'execution-exception' | 'failed-to-run';

/** The shape of `<workspace>/summary.json`, written by the simulator and the deployment. */
export interface RunSummary {
  readonly job: string;
  readonly status: JobStatus;
  readonly rounds: number;
  /** Safe reason when the status is not `completed`. */
  readonly error?: string;
  readonly server: { readonly metrics: Readonly<Record<string, number>> };
  readonly sites: Readonly<Record<string, { readonly metrics: Readonly<Record<string, number>> }>>;
}
