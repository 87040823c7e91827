/**
 * Runs the N-site PSI workflow in the simulator (one process, every message encoded as on the
 * network): what `vflare psi` does. Each site's result lands in
 * `<workspace>/<site>/psi/intersection.txt`.
 */
import { join } from 'node:path';
import { type Logger, NO_FILTERS, type RunSummary, VflareError } from '../runtime/core/index.js';
import { freshWorkspace } from '../runtime/jobs/workspace.js';
import { runSimulation } from '../runtime/sim/index.js';
import { PsiExecutor, RESULT_FILE } from './executor.js';
import type { ItemSource } from './loaders.js';
import type { PsiPool } from './pool.js';
import { PsiController, type PsiControllerOptions } from './workflow.js';

export interface RunPsiOptions extends PsiControllerOptions {
  /** Items per site: a source file or a list. */
  readonly sites: Readonly<Record<string, ItemSource | readonly string[]>>;
  /** Output folder (the simulator's workspace). */
  readonly workspace: string;
  readonly logger?: Logger;
  readonly pool?: PsiPool;
  /** Job name in `summary.json`; default `psi`. */
  readonly job?: string;
}

export interface RunPsiResult {
  readonly summary: RunSummary;
  readonly sites: Readonly<
    Record<string, { readonly items: number; readonly intersection: number; readonly file: string }>
  >;
  readonly seconds: number;
}

export async function runPsi(options: RunPsiOptions): Promise<RunPsiResult> {
  const names = Object.keys(options.sites);
  const workspace = freshWorkspace(options.workspace, 'PSI workspace');
  const started = performance.now();
  const { sites, workspace: _ws, logger, pool, job, ...controller } = options;
  const summary = await runSimulation({
    job: job ?? 'psi',
    sites: names,
    workspace,
    ...(logger === undefined ? {} : { logger }),
    dataRoot: process.cwd(),
    server: { workflows: [new PsiController(controller)], filters: NO_FILTERS },
    clients: (env) => ({
      executors: [
        new PsiExecutor({
          items: sites[env.site] as ItemSource | readonly string[],
          ...(pool === undefined ? {} : { pool }),
        }),
      ],
      filters: NO_FILTERS,
    }),
  });
  const seconds = (performance.now() - started) / 1000;
  if (summary.status !== 'completed') {
    throw new VflareError(
      'TASK_FAILED',
      `PSI run ${summary.status}: ${summary.error ?? 'no reason given'}`,
    );
  }
  const out: Record<string, { items: number; intersection: number; file: string }> = {};
  for (const site of names) {
    const m = summary.sites[site]?.metrics ?? {};
    out[site] = {
      items: m['items'] ?? 0,
      intersection: m['intersection'] ?? 0,
      file: join(workspace, site, RESULT_FILE),
    };
  }
  return { summary, sites: out, seconds };
}
