/**
 * Running a job folder in the simulator: load and validate it, plan which site runs which app,
 * read the sites' own configs (data roots, privacy filters), instantiate the apps per party and
 * hand them to `runSimulation`. The CLI's `vflare simulate` is a thin layer over this.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { RunSummary, SitePolicy } from '../core/app.js';
import type { Workflow } from '../core/controller.js';
import { VflareError } from '../core/errors.js';
import { type Logger, silentLogger } from '../core/logger.js';
import { SERVER } from '../core/peer.js';
import { runSimulation, type SimulationOptions } from '../sim/index.js';
import { type Deployment, planDeployment } from './deployment.js';
import { instantiateClientApp, instantiateServerApp, type PartyEnv } from './instantiate.js';
import { type LoadedJob, loadJob } from './load.js';
import type { ComponentRegistry } from './registry.js';
import { readSiteConfig, sitePolicy } from './site-config.js';
import { freshWorkspace } from './workspace.js';

export interface SimulateJobOptions {
  readonly jobDir: string;
  readonly registry: ComponentRegistry;
  /** Output folder; default `./workspaces/<job>-<timestamp>`. */
  readonly workspace?: string;
  /** Client sites to run; default: every deployed site (or site-1…N for `@ALL`). */
  readonly sites?: readonly string[];
  readonly seed?: number;
  /** Folder with `<site>.json` / `server.json` site configs (data root, privacy filters). */
  readonly siteConfigDir?: string;
  /**
   * The operator's data folder for a job that declares `dataDir` in meta.json: becomes that
   * variable (absolute) and is trusted as a data location. Every declared file must be in it.
   */
  readonly dataDir?: string;
  /**
   * Further folders the operator trusts as data locations, besides each site's data root (e.g.
   * the training workspace whose saved model halves an inference run reads).
   */
  readonly trustedDataDirs?: readonly string[];
  readonly logger?: Logger;
  /** Called with the workspace's absolute path before the run starts. */
  readonly onWorkspace?: (workspace: string) => void;
  /** Called as the server's workflows progress: rounds (or workflows) done of the total. */
  readonly onProgress?: (done: number, total: number, workflow: string) => void;
  /** Passed through to `runSimulation` (tests: faults, timings). */
  readonly simulation?: Partial<
    Pick<
      SimulationOptions,
      'faults' | 'onStart' | 'deadSiteGraceMs' | 'heartbeatIntervalMs' | 'signal'
    >
  >;
}

export interface SimulateJobResult {
  readonly summary: RunSummary;
  readonly workspace: string;
  readonly job: LoadedJob;
  readonly deployment: Deployment;
}

/** `<job>-YYYYMMDD-HHMMSS` (UTC), the default workspace folder name. */
export function defaultWorkspace(job: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return resolve('workspaces', `${job}-${stamp}`);
}

/** Rounds each workflow will report (ScatterAndGather's numRounds − startRound, else 1). */
function plannedSteps(loaded: LoadedJob, app: string): number[] {
  const cfg = loaded.job.apps[app]?.server;
  return (cfg?.workflows ?? []).map((w) => {
    const { numRounds, startRound } = w.args as { numRounds?: unknown; startRound?: unknown };
    if (w.type !== 'ScatterAndGather') return 1;
    const n = typeof numRounds === 'number' ? numRounds : 5;
    const s = typeof startRound === 'number' ? startRound : 0;
    return Math.max(1, n - s);
  });
}

/** Reports progress from `reportRounds` calls without touching the workflow. */
function withProgress(
  workflows: readonly Workflow[],
  steps: readonly number[],
  onProgress: NonNullable<SimulateJobOptions['onProgress']>,
): Workflow[] {
  const total = steps.reduce((a, b) => a + b, 0);
  let before = 0;
  return workflows.map((wf, i) => {
    const own = steps[i] ?? 1;
    return {
      name: wf.name,
      run: async (api) => {
        const start = before;
        onProgress(start, total, wf.name);
        let calls = 0;
        const report = (rounds: number) => {
          api.reportRounds(rounds);
          calls++; // one call per finished round
          onProgress(start + Math.min(own, calls), total, wf.name);
        };
        // A Proxy (not a prototype copy), so the engine's methods keep their own `this`.
        const proxy = new Proxy(api, {
          get(target, prop) {
            if (prop === 'reportRounds') return report;
            const value = Reflect.get(target, prop, target);
            return typeof value === 'function' ? value.bind(target) : value;
          },
        });
        await wf.run(proxy);
        before = start + own;
        onProgress(before, total, wf.name);
      },
    };
  });
}

/**
 * Site configs carry the sites' privacy policies, so a mistyped folder or file name must not
 * quietly run the job without them: a folder that does not exist, or that holds no config for
 * any party of this run, is an error; a config naming no party of this run is a warning (the
 * folder may serve other jobs too).
 */
function checkSiteConfigDir(dir: string, parties: readonly string[], logger: Logger): void {
  let names: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new Error('not a folder');
    names = readdirSync(dir).filter((f) => f.endsWith('.json'));
  } catch {
    throw new VflareError(
      'INVALID_ARGUMENT',
      `--site-config: ${dir} is not a readable folder; give the folder that holds <site>.json ` +
        'files',
    );
  }
  const wanted = new Set(parties.map((p) => `${p}.json`));
  const unused = names.filter((f) => !wanted.has(f));
  if (names.length === 0 || unused.length === names.length) {
    throw new VflareError(
      'INVALID_ARGUMENT',
      `--site-config: ${dir} holds no config for any party of this run ` +
        `(${parties.join(', ')}); expected files named <party>.json` +
        (unused.length > 0 ? `, found ${unused.join(', ')}` : ''),
    );
  }
  if (unused.length > 0) {
    logger.warn(
      { files: unused, parties },
      'site configs that name no party of this run are ignored',
    );
  }
}

export async function simulateJob(options: SimulateJobOptions): Promise<SimulateJobResult> {
  const loaded = await loadJob(options.jobDir, options.registry);
  const { job, dir } = loaded;
  const data = options.dataDir === undefined ? undefined : operatorDataDir(job, options.dataDir);
  const deployment = planDeployment(job, options.sites);
  const sites = [...deployment.clients.keys()];
  const workspace = freshWorkspace(options.workspace ?? defaultWorkspace(job.meta.name));
  options.onWorkspace?.(workspace);
  const logger = options.logger ?? silentLogger;
  const seed = options.seed ?? 0;

  const dataRoot: Record<string, string> = {};
  const sitePolicies: Record<string, SitePolicy> = {};
  if (options.siteConfigDir !== undefined) {
    checkSiteConfigDir(options.siteConfigDir, [SERVER, ...sites], logger);
  }
  for (const party of [SERVER, ...sites]) {
    const cfg =
      options.siteConfigDir === undefined
        ? undefined
        : await readSiteConfig(options.siteConfigDir, party);
    dataRoot[party] = cfg?.dataRoot ?? dir;
    if (cfg !== undefined) {
      sitePolicies[party] = await sitePolicy(cfg, {
        site: party,
        jobDir: dir,
        workspace: join(workspace, party),
        dataRoot: dataRoot[party] as string,
        seed,
        logger: logger.child({ job: job.meta.name, site: party }),
        registry: options.registry,
      });
    }
  }
  const trusted = [...(data === undefined ? [] : [data.dir]), ...(options.trustedDataDirs ?? [])];
  const party = (env: {
    site: string;
    workspace: string;
    dataRoot: string;
    seed: number;
    logger: Logger;
  }): PartyEnv => ({
    ...env,
    jobDir: dir,
    registry: options.registry,
    ...(data === undefined ? {} : { vars: data.vars }),
    ...(trusted.length === 0 ? {} : { trustedDataDirs: trusted }),
  });
  const summary = await runSimulation({
    job: job.meta.name,
    sites,
    workspace,
    seed,
    logger,
    dataRoot,
    sitePolicies,
    server: async (env) => {
      const app = await instantiateServerApp(job, deployment.serverApp, party(env));
      if (options.onProgress === undefined) return app;
      const steps = plannedSteps(loaded, deployment.serverApp);
      return { ...app, workflows: withProgress(app.workflows, steps, options.onProgress) };
    },
    clients: (env) =>
      instantiateClientApp(job, deployment.clients.get(env.site) as string, party(env)),
    ...options.simulation,
  });
  return { summary, workspace, job: loaded, deployment };
}

/**
 * Checks `--data-dir` against the job's `dataDir` declaration: the job must accept one, and the
 * folder must hold every file it declares (all missing ones are named at once).
 */
export function operatorDataDir(
  job: LoadedJob['job'],
  given: string,
): { dir: string; vars: Record<string, string> } {
  const decl = job.meta.dataDir;
  if (decl === undefined) {
    throw new VflareError(
      'INVALID_ARGUMENT',
      `--data-dir: job ${job.meta.name} does not declare a data folder it can use ` +
        '(meta.json "dataDir"); run it without --data-dir',
    );
  }
  const dir = resolve(given);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new VflareError('NOT_FOUND', `--data-dir: ${given} does not exist or is not a folder`);
  }
  const missing = decl.files.filter((f) => !existsSync(join(dir, f)));
  if (missing.length > 0) {
    throw new VflareError(
      'NOT_FOUND',
      `--data-dir: ${given} lacks ${missing.join(', ')} (job ${job.meta.name} needs ` +
        `${decl.files.join(', ')}); copy them there or run without --data-dir`,
    );
  }
  return { dir, vars: { ...job.meta.vars, ...decl.set, [decl.var]: dir } };
}
