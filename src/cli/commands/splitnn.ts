/**
 * `vflare splitnn-predict <jobDir> --model <trainingWorkspace>`: vertical inference with a
 * split-learning job that was trained before. The job runs again in the simulator in predict
 * mode: PSI aligns the (new) records, each party loads only its own saved half from the training
 * workspace (`<trainingWorkspace>/<site>/splitnn/*-half.json`), each feature party computes its
 * cut-layer activations and the label party writes `<workspace>/<label party>/splitnn/
 * predictions.csv` (id, predicted class, class probabilities).
 */
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { defaultRegistry } from '../../components.js';
import type { RunSummary } from '../../runtime/core/app.js';
import { VflareError } from '../../runtime/core/errors.js';
import { createLogger, type Logger } from '../../runtime/core/logger.js';
import { defaultWorkspace, simulateJob } from '../../runtime/jobs/simulate.js';
import { freshWorkspace } from '../../runtime/jobs/workspace.js';
import { cliIo, setExitCode } from '../main.js';
import { logLevel } from '../output.js';
import { printSummary } from './simulate.js';

interface Flags {
  readonly model: string;
  readonly site?: string[];
  readonly workspace?: string;
  readonly logLevel?: string;
}

interface ComponentEntry {
  id?: string;
  type: string;
  args?: Record<string, unknown>;
}

function readJson(path: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new VflareError('INVALID_JOB', `cannot read ${path} as JSON`, { cause: err });
  }
}

/** Rewrites a copied job folder for predict mode; returns the label party, if found. */
export function toPredictJob(
  dir: string,
  model: string,
  sites: Map<string, string>,
): string | undefined {
  let found: string | undefined;
  const meta = readJson(join(dir, 'meta.json')) as { deployMap?: Record<string, string[]> };
  const known = new Set(Object.values(meta.deployMap ?? {}).flat());
  for (const site of sites.keys()) {
    if (!known.has(site) || site === 'server') {
      throw new VflareError(
        'INVALID_ARGUMENT',
        `--site ${site}: not a site of this job ` +
          `(sites: ${[...known].filter((k) => k !== 'server').join(', ')})`,
      );
    }
  }
  for (const app of Object.keys(meta.deployMap ?? {})) {
    const serverPath = join(dir, app, 'config', 'server.json');
    const clientPath = join(dir, app, 'config', 'client.json');
    let labelParty: string | undefined;
    if (existsSync(serverPath)) {
      const server = readJson(serverPath) as { workflows?: ComponentEntry[] };
      for (const w of server.workflows ?? []) {
        if (w.type === 'splitnn.SplitNNController') {
          w.args = { ...w.args, mode: 'predict' };
          labelParty = w.args['labelParty'] as string;
          found = labelParty;
        }
      }
      writeFileSync(serverPath, JSON.stringify(server, null, 2));
    }
    if (existsSync(clientPath)) {
      const client = readJson(clientPath) as {
        executors?: { executor: ComponentEntry }[];
        sites?: Record<string, Record<string, Record<string, unknown>>>;
      };
      const split = client.executors?.find((e) => e.executor.type === 'splitnn.SplitNNExecutor');
      const psi = client.executors?.find((e) => e.executor.type === 'psi.PsiExecutor');
      if (split?.executor.id === undefined) {
        throw new VflareError(
          'INVALID_JOB',
          `${clientPath}: the split-learning executor needs an "id"`,
        );
      }
      const sitesCfg = client.sites ?? {};
      const deployed = (meta.deployMap?.[app] ?? []).filter((s) => s !== 'server');
      for (const site of deployed) {
        const role = site === labelParty ? 'top' : 'bottom';
        const own = sitesCfg[site] ?? {};
        sitesCfg[site] = own;
        const splitArgs = own[split.executor.id] ?? {};
        own[split.executor.id] = splitArgs;
        splitArgs['model'] = join(model, site, 'splitnn', `${role}-half.json`);
        const csv = sites.get(site);
        if (csv !== undefined) {
          const base = (splitArgs['data'] ?? split.executor.args?.['data'] ?? {}) as Record<
            string,
            unknown
          >;
          if (base['format'] !== 'csv') {
            // Swapping only the path of an IDX or CIFAR-10 source would keep its old records.
            throw new VflareError(
              'INVALID_ARGUMENT',
              `--site ${site}: this site's split-learning data is "${String(base['format'])}", ` +
                'not CSV; --site replaces CSV sources only. Edit the data arguments of a copy of ' +
                'the job instead',
            );
          }
          // New records carry no labels: the label party only needs their ids (and features).
          const { labelColumn: _unused, ...rest } = base;
          splitArgs['data'] = { ...rest, path: csv };
          const psiId = psi?.executor.id;
          if (psiId !== undefined) own[psiId] = { ...own[psiId], path: csv };
        }
      }
      client.sites = sitesCfg;
      writeFileSync(clientPath, JSON.stringify(client, null, 2));
    }
  }
  return found;
}

export interface PredictOptions {
  /** The split-learning job folder that was trained. */
  readonly jobDir: string;
  /** The training run's workspace (holds `<site>/splitnn/*-half.json`). */
  readonly model: string;
  /** Per site, a CSV of the records to predict (default: the job's own data). */
  readonly sites?: ReadonlyMap<string, string>;
  /** Output folder (default: `./workspaces/<job>-predict-<timestamp>`). */
  readonly workspace?: string;
  readonly logger?: Logger;
  readonly onWorkspace?: (workspace: string) => void;
}

export interface PredictResult {
  readonly summary: RunSummary;
  readonly workspace: string;
  /** `<workspace>/<label party>/splitnn/predictions.csv` (written when the run completed). */
  readonly predictions: string;
}

/**
 * Vertical inference from code: copies the job into the workspace, rewrites it for predict mode
 * (each site loads only its own half from `model`, with the given records) and runs it in the
 * simulator, PSI included.
 */
export async function predictSplit(options: PredictOptions): Promise<PredictResult> {
  const model = resolve(options.model);
  if (!existsSync(model)) {
    throw new VflareError(
      'NOT_FOUND',
      `--model: ${model} does not exist; give the workspace of a training run of this job`,
    );
  }
  const sites = new Map<string, string>();
  for (const [site, path] of options.sites ?? new Map<string, string>()) {
    const abs = resolve(path);
    if (!existsSync(abs)) {
      throw new VflareError('NOT_FOUND', `--site ${site}: ${abs} does not exist`);
    }
    sites.set(site, abs);
  }
  const jobDir = resolve(options.jobDir);
  const name = jobDir.replace(/\/+$/, '').split('/').pop() ?? 'job';
  const workspace = freshWorkspace(options.workspace ?? defaultWorkspace(`${name}-predict`));
  const copy = join(workspace, 'job');
  mkdirSync(workspace, { recursive: true });
  cpSync(jobDir, copy, { recursive: true });
  const label = toPredictJob(copy, model, sites);
  if (label === undefined) {
    throw new VflareError(
      'INVALID_JOB',
      `${options.jobDir}: no splitnn.SplitNNController workflow found`,
    );
  }
  const result = await simulateJob({
    jobDir: copy,
    registry: defaultRegistry(),
    // The operator named these on the command line: the saved halves and each new-records file
    // (exactly those files) are trusted data locations outside the job copy.
    trustedDataDirs: [model, ...sites.values()],
    logger: options.logger ?? createLogger({ level: 'warn' }),
    workspace,
    ...(options.onWorkspace === undefined ? {} : { onWorkspace: options.onWorkspace }),
  });
  return {
    summary: result.summary,
    workspace: result.workspace,
    predictions: join(result.workspace, label, 'splitnn', 'predictions.csv'),
  };
}

export function register(program: Command): void {
  program
    .command('splitnn-predict')
    .description('vertical inference with the halves a split-learning job saved')
    .argument('<jobDir>', 'the split-learning job folder that was trained')
    .requiredOption(
      '--model <dir>',
      'the training run workspace (holds <site>/splitnn/*-half.json)',
    )
    .option(
      '--site <name=csv...>',
      "a site's records to predict (CSV with the job's columns; default: the job's data)",
    )
    .option('--workspace <dir>', 'output folder (default: ./workspaces/<job>-predict-<timestamp>)')
    .option('--log-level <level>', 'debug, info, warn or error (default: warn)')
    .action(async (jobDir: string, flags: Flags) => {
      const io = cliIo();
      const sites = new Map<string, string>();
      for (const entry of flags.site ?? []) {
        const eq = entry.indexOf('=');
        if (eq <= 0 || eq === entry.length - 1) {
          throw new VflareError('INVALID_ARGUMENT', `--site: expected NAME=PATH, got "${entry}"`);
        }
        sites.set(entry.slice(0, eq), resolve(entry.slice(eq + 1)));
      }
      const level = logLevel(flags.logLevel);
      const result = await predictSplit({
        jobDir,
        model: flags.model,
        sites,
        ...(flags.workspace === undefined ? {} : { workspace: flags.workspace }),
        logger: createLogger({ level }),
        onWorkspace: (ws) => io.out(`workspace: ${ws}\n`),
      });
      printSummary(io, result.summary, result.workspace);
      if (result.summary.status !== 'completed') setExitCode(1);
      else io.out(`predictions: ${result.predictions}\n`);
    });
}
