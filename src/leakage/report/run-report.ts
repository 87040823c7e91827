/**
 * Report of one run: RDLV per site per round as JSON and an SVG plot, from the files the
 * leakage filter saved in the run's workspace.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { VflareError } from '../../runtime/core/index.js';
import { collectScores } from './collect.js';
import { lineChart } from './svg.js';

/** One scored round of one site, as the reports list it. */
export interface RoundScore {
  readonly round: number;
  readonly rdlv: number;
  readonly withheld: boolean;
  /** What the mean of the site's images would score (see `LeakageScore`). */
  readonly batchMeanRdlv: number | null;
}

export interface RunReport {
  readonly workspace: string;
  /** Site → its scored rounds, with the seconds each score took. */
  readonly sites: Readonly<Record<string, readonly (RoundScore & { seconds: number })[]>>;
  readonly threshold: number | null;
}

export async function runReport(workspace: string, outDir = workspace): Promise<RunReport> {
  const scores = await collectScores(workspace);
  if (Object.keys(scores).length === 0) {
    throw new VflareError(
      'NOT_FOUND',
      `no leakage scores under ${workspace}: did the job configure leakage.LeakageFilter?`,
    );
  }
  const sites = Object.fromEntries(
    Object.entries(scores).map(([site, list]) => [
      site,
      list.map((s) => ({
        round: s.round,
        rdlv: s.rdlv,
        withheld: s.withheld,
        seconds: s.seconds,
        batchMeanRdlv: s.batchMeanRdlv ?? null,
      })),
    ]),
  );
  const threshold = Object.values(scores)[0]?.[0]?.threshold ?? null;
  const report: RunReport = { workspace, sites, threshold };
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, 'leakage-per-round.json'), `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(
    join(outDir, 'leakage-per-round.svg'),
    lineChart({
      title: 'Relative data leakage per round',
      xLabel: 'round',
      yLabel: 'RDLV (max over local images)',
      series: Object.entries(sites).map(([site, list]) => ({
        name: site,
        points: list.map((s) => [s.round, s.rdlv] as const),
      })),
      hLines: threshold === null ? [] : [{ y: threshold, label: `threshold ${threshold}` }],
    }),
  );
  return report;
}
