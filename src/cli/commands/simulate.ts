/**
 * `vflare simulate <jobDir>`: runs every site of a job in this process and prints the results.
 */
import { join } from 'node:path';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { defaultRegistry } from '../../components.js';
import type { RunSummary } from '../../runtime/core/app.js';
import { VflareError } from '../../runtime/core/errors.js';
import { createLogger } from '../../runtime/core/logger.js';
import { simulateJob } from '../../runtime/jobs/simulate.js';
import { cliIo, setExitCode } from '../main.js';
import { formatNumber, formatTable, type Io, logLevel, metricsTable } from '../output.js';

interface SimulateFlags {
  readonly workspace?: string;
  readonly sites?: string;
  readonly seed?: string;
  readonly siteConfig?: string;
  readonly dataDir?: string;
  readonly logLevel?: string;
  readonly deadSiteGrace?: string;
}

function parseSites(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const sites = value.split(',').map((s) => s.trim());
  if (sites.length === 0 || sites.some((s) => s === '')) {
    throw new VflareError(
      'INVALID_ARGUMENT',
      `--sites: expected names separated by commas, got "${value}"`,
    );
  }
  if (new Set(sites).size !== sites.length) {
    throw new VflareError('INVALID_ARGUMENT', `--sites: a site is listed twice in "${value}"`);
  }
  return sites;
}

function parseGrace(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) {
    throw new VflareError(
      'INVALID_ARGUMENT',
      `--dead-site-grace: expected a number of seconds > 0, got "${value}"`,
    );
  }
  return n * 1000;
}

function parseSeed(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) {
    throw new VflareError(
      'INVALID_ARGUMENT',
      `--seed: expected a non-negative integer, got "${value}"`,
    );
  }
  return n;
}

/**
 * Metrics that, when a job's server reports them, are also printed as `name: value` lines at the
 * end, so a person (or a script) finds the headline result without reading the tables.
 */
const HEADLINE_METRICS = ['intersection', 'accuracy', 'auc', 'r2', 'homogeneity'] as const;

export function printSummary(
  io: Io,
  summary: RunSummary,
  workspace: string,
  seconds?: number,
): void {
  const rounds = summary.rounds > 0 ? `, ${summary.rounds} round(s)` : '';
  io.out(`\njob ${summary.job}: ${summary.status}${rounds}\n`);
  if (summary.error !== undefined) io.out(`error: ${summary.error}\n`);
  io.out(`\nserver metrics\n${metricsTable(summary.server.metrics)}\n`);
  const sites = Object.entries(summary.sites);
  const names = [...new Set(sites.flatMap(([, s]) => Object.keys(s.metrics)))];
  if (names.length > 0) {
    const rows = sites.map(([site, s]) => [
      site,
      ...names.map((n) => {
        const v = s.metrics[n];
        return v === undefined ? '' : formatNumber(v);
      }),
    ]);
    io.out(`\nsite metrics\n${formatTable(['site', ...names], rows)}\n`);
  }
  io.out(`\nsummary: ${join(workspace, 'summary.json')} (full precision; the table is rounded)\n`);
  const headline = HEADLINE_METRICS.filter((n) => summary.server.metrics[n] !== undefined);
  if (headline.length > 0 || seconds !== undefined) io.out('\n');
  for (const name of headline) {
    io.out(`${name}: ${formatNumber(summary.server.metrics[name] as number)}\n`);
  }
  if (seconds !== undefined) io.out(`time: ${seconds.toFixed(1)} s\n`);
}

export function register(program: Command): void {
  program
    .command('simulate')
    .description('run a job folder with every site in this process')
    .argument('<jobDir>', 'the job folder (meta.json + <app>/config/*.json)')
    .option('--workspace <dir>', 'output folder (default: ./workspaces/<job>-<timestamp>)')
    .option('--sites <names>', 'client sites to run, comma-separated (default: all deployed)')
    .option('--seed <n>', 'seed for a deterministic run (default: 0)')
    .option(
      '--site-config <dir>',
      'folder of <site>.json site configs (data root, privacy filters)',
    )
    .option(
      '--data-dir <dir>',
      'full data set for a job that declares one (meta.json dataDir), ' +
        "e.g. Fashion-MNIST's IDX files",
    )
    .option('--dead-site-grace <seconds>', 'a site silent this long is dead (default: 30)')
    .option('--log-level <level>', 'debug, info, warn or error (default: warn, or LOG_LEVEL)')
    .addHelpText(
      'after',
      `
Prints the workspace path, a progress bar (in a terminal), then the server and site metrics
rounded for display; <workspace>/summary.json keeps full precision. Exit code 1 on bad input
or when the job does not complete.

Examples:
  vflare simulate examples/hello-stats
  vflare simulate my-job --workspace /tmp/ws --sites site-1,site-2 --seed 7
  vflare simulate my-job --site-config sites/   # sites/<site>.json: dataRoot, privacy filters
  vflare simulate examples/linear-fashion --data-dir /data/fashion-mnist   # full IDX files
`,
    )
    .action(async (jobDir: string, flags: SimulateFlags) => {
      const io = cliIo();
      const sites = parseSites(flags.sites);
      const seed = parseSeed(flags.seed);
      const grace = parseGrace(flags.deadSiteGrace);
      const level = logLevel(flags.logLevel);
      const logger = createLogger({ level });
      const bar = io.isTTY
        ? new SingleBar({
            format: '{bar} {value}/{total} | {workflow}',
            hideCursor: true,
            stream: io.progress ?? process.stderr,
          })
        : undefined;
      let started = false;
      const t0 = performance.now();
      try {
        const result = await simulateJob({
          jobDir,
          registry: defaultRegistry(),
          logger,
          ...(flags.workspace === undefined ? {} : { workspace: flags.workspace }),
          ...(sites === undefined ? {} : { sites }),
          ...(seed === undefined ? {} : { seed }),
          ...(flags.siteConfig === undefined ? {} : { siteConfigDir: flags.siteConfig }),
          ...(flags.dataDir === undefined ? {} : { dataDir: flags.dataDir }),
          ...(grace === undefined ? {} : { simulation: { deadSiteGraceMs: grace } }),
          onWorkspace: (ws) => io.out(`workspace: ${ws}\n`),
          onProgress: (done, total, workflow) => {
            if (bar === undefined) return;
            if (!started) {
              bar.start(total, 0, { workflow });
              started = true;
            }
            bar.update(done, { workflow });
          },
        });
        bar?.stop();
        printSummary(io, result.summary, result.workspace, (performance.now() - t0) / 1000);
        if (result.summary.status !== 'completed') setExitCode(1);
      } finally {
        if (started) bar?.stop();
      }
    });
}
