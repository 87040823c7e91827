/**
 * Runs a job folder in the simulator as `vflare simulate` does: load and validate the job,
 * plan the deployment, instantiate each party's app, run.
 */
/**
 * Runs an example job folder in the simulator as `vflare simulate` does (the runtime's
 * `simulateJob`), in a fresh temporary workspace.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { defaultRegistry } from '../../src/components.js';
import type { RunSummary } from '../../src/runtime/core/index.js';
import { simulateJob } from '../../src/runtime/jobs/simulate.js';

export const EXAMPLES = resolve(import.meta.dirname, '../../examples');

export async function simulateExample(
  name: string,
  seed = 0,
): Promise<{ summary: RunSummary; workspace: string }> {
  const workspace = mkdtempSync(join(tmpdir(), `vflare-${name}-`));
  const result = await simulateJob({
    jobDir: join(EXAMPLES, name),
    registry: defaultRegistry(),
    workspace,
    seed,
  });
  return { summary: result.summary, workspace: result.workspace };
}

import type {
  ExecutorContext,
  Payload,
  TaskData,
  TensorMap,
} from '../../src/runtime/core/index.js';
import { silentLogger, TypedStore } from '../../src/runtime/core/index.js';

/** A context for driving an executor directly (no runtime). */
export function fakeContext(
  site: string,
  seed = 0,
  metrics: Record<string, number> = {},
): ExecutorContext {
  return {
    site,
    jobId: 'test',
    taskName: 'train',
    round: 0,
    signal: new AbortController().signal,
    logger: silentLogger,
    peers: undefined as never,
    siteContext: new TypedStore(),
    jobState: new TypedStore(),
    workspace: tmpdir(),
    dataRoot: EXAMPLES,
    seed,
    reportMetrics: (m) => Object.assign(metrics, m),
  };
}

export function trainTask(round: number, weights: TensorMap, numRounds?: number): TaskData {
  const payload: Payload = { kind: 'weights', weights, meta: {} };
  return {
    headers: {
      jobId: 'test',
      taskName: 'train',
      taskId: `t${round}`,
      round,
      ...(numRounds === undefined ? {} : { numRounds }),
    },
    payload,
  };
}
