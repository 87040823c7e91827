/**
 * `vflare leakage sweep <jobDir>`: runs a job once per noise level and writes the privacy /
 * utility report (JSON, SVG plots, PNG reconstructions). `vflare leakage report <workspace>`:
 * RDLV per site per round of one finished run, as JSON and SVG.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { defaultRegistry } from '../../components.js';
import { runReport, runSweep, type SweepLevel } from '../../leakage/report/index.js';
import { VflareError } from '../../runtime/core/errors.js';
import { createLogger } from '../../runtime/core/logger.js';
import { loadJob } from '../../runtime/jobs/load.js';
import { cliIo } from '../main.js';
import { formatNumber, formatTable, logLevel } from '../output.js';

function parseLevels(value: string): number[] {
  const levels = value.split(',').map((s) => Number(s.trim()));
  if (levels.length === 0 || levels.some((l) => !Number.isFinite(l) || l < 0)) {
    throw new VflareError(
      'INVALID_ARGUMENT',
      `--levels: expected non-negative numbers separated by commas, got "${value}"`,
    );
  }
  return levels;
}

function positive(flag: string, value: string): number {
  const v = Number(value);
  if (!(v > 0) || !Number.isFinite(v)) {
    throw new VflareError('INVALID_ARGUMENT', `${flag}: expected a number > 0, got "${value}"`);
  }
  return v;
}

/** ε as the accountant reported it; "∞" for no noise, empty when nothing was recorded. */
function epsilonText(p: SweepLevel['privacy']): string {
  if (p === null) return '';
  return p.epsilon === null ? '∞' : formatNumber(p.epsilon);
}

export function register(program: Command): void {
  const leakage = program
    .command('leakage')
    .description('quantify gradient-inversion leakage (RDLV) and the privacy/utility frontier');
  leakage
    .command('sweep')
    .description(
      'run a job once per noise level; report RDLV, test accuracy and (Gaussian) ε per level',
    )
    .argument('<jobDir>', 'job folder with a client result filter of id "noise"')
    .option('--levels <list>', 'noise levels, comma-separated', '0,0.5,1,2,4')
    .option('--out <dir>', 'output folder (default: ./workspaces/<job>-sweep)')
    .option('--noise-id <id>', 'id of the noise filter in the client config', 'noise')
    .option(
      '--mechanism <name>',
      'configured (the noise filter as in the job), gaussian (DP: clip + N(0, (zC)²), levels ' +
        'are z) or relative (not DP: levels are sigma0)',
      'configured',
    )
    .option('--clip <C>', 'gaussian: L2 clip norm C of each update')
    .option('--delta <d>', 'gaussian: the δ that ε is reported at', '1e-5')
    .option('--seed <n>', 'job seed', '0')
    .option('--log-level <level>', 'debug, info, warn or error', 'warn')
    .action(async (jobDir: string, flags: Record<string, string>) => {
      const io = cliIo();
      const levels = parseLevels(flags['levels']!);
      const seed = Number(flags['seed']);
      if (!Number.isSafeInteger(seed) || seed < 0) {
        throw new VflareError(
          'INVALID_ARGUMENT',
          `--seed: expected an integer ≥ 0, got "${flags['seed']}"`,
        );
      }
      const mechanism = flags['mechanism']!;
      if (mechanism !== 'configured' && mechanism !== 'gaussian' && mechanism !== 'relative') {
        throw new VflareError(
          'INVALID_ARGUMENT',
          `--mechanism: expected configured, gaussian or relative, got "${mechanism}"`,
        );
      }
      const clipNorm = flags['clip'] === undefined ? undefined : positive('--clip', flags['clip']);
      const delta = positive('--delta', flags['delta']!);
      const out = resolve(flags['out'] ?? `workspaces/${resolve(jobDir).split('/').pop()}-sweep`);
      const level = logLevel(flags['logLevel']);
      const registry = defaultRegistry();
      // Every problem with the job is reported before the (long) sweep is announced.
      await loadJob(jobDir, registry);
      io.out(`sweep over ${levels.length} level(s), output in ${out}\n`);
      const report = await runSweep({
        jobDir,
        registry,
        outDir: out,
        levels,
        noiseId: flags['noiseId']!,
        mechanism,
        ...(clipNorm === undefined ? {} : { clipNorm }),
        delta,
        seed,
        logger: createLogger({ level }),
        onLevel: (i, level, seconds) =>
          io.out(`level ${i + 1}/${levels.length} (${level}) done in ${seconds.toFixed(0)} s\n`),
      });
      const sites = [...new Set(report.levels.flatMap((l) => Object.keys(l.maxRdlv)))];
      const rows = report.levels.map((l) => [
        String(l.level),
        l.status,
        l.testAccuracy === null ? '' : formatNumber(l.testAccuracy),
        l.accuracyLost === null ? '' : formatNumber(l.accuracyLost),
        ...(report.differentiallyPrivate ? [epsilonText(l.privacy)] : []),
        ...sites.map((s) => (l.maxRdlv[s] === undefined ? '' : formatNumber(l.maxRdlv[s]!))),
      ]);
      const head = [
        report.noise.argument,
        'status',
        'test acc',
        'acc lost',
        ...(report.differentiallyPrivate
          ? [`ε (δ ${String(report.levels[0]?.privacy?.delta ?? delta)})`]
          : []),
        ...sites.map((s) => `${s} RDLV`),
      ];
      io.out(`\n${formatTable(head, rows)}\n`);
      if (!report.differentiallyPrivate) {
        io.out(
          `\nnote: ${report.noise.type} is not differentially private ` +
            '(no clipping, no accounting)\n',
        );
      }
      io.out(
        `\nreport: ${out}/leakage-sweep.json, leakage-vs-noise.svg, ` +
          'leakage-per-round.svg, images/\n',
      );
    });
  leakage
    .command('report')
    .description('RDLV per site per round of a finished run, as JSON and SVG')
    .argument('<workspace>', 'the run workspace (as printed by vflare simulate)')
    .action(async (workspace: string) => {
      const io = cliIo();
      const dir = resolve(workspace);
      if (!existsSync(dir) || !statSync(dir).isDirectory()) {
        throw new VflareError(
          'NOT_FOUND',
          `${dir} is not a folder; give the workspace a run printed (vflare simulate … prints ` +
            'it first)',
        );
      }
      const report = await runReport(dir);
      const rows = Object.entries(report.sites).flatMap(([site, list]) =>
        list.map((s) => [
          site,
          String(s.round),
          formatNumber(s.rdlv),
          s.batchMeanRdlv === null ? '' : formatNumber(s.batchMeanRdlv),
          s.withheld ? 'yes' : 'no',
        ]),
      );
      const head = ['site', 'round', 'RDLV', 'batch-mean RDLV', 'withheld'];
      io.out(`${formatTable(head, rows)}\n`);
      io.out(
        "\nbatch-mean RDLV: what the mean of the site's own images would score against the prior " +
          '(no single image recovered)\n',
      );
      io.out(`\nreport: ${report.workspace}/leakage-per-round.json, leakage-per-round.svg\n`);
    });
}
