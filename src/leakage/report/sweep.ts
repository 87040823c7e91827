/**
 * The privacy/utility frontier: runs a job once per noise level (the job's noise filter, the
 * client result filter with id `noise`, gets its strength argument set to each level), then
 * reports per level the RDLV of every scored site, the test accuracy of the final global model
 * and, for the Gaussian mechanism, the (ε, δ) its Rényi-DP accountant charged each site, as
 * JSON and SVG, with the reconstructions as PNGs.
 *
 * `mechanism` sweeps either mechanism on the same job: `gaussian` puts a GaussianMechanism
 * (clip `clipNorm`, noise multiplier = the level) in place of the noise filter, `relative` a
 * RelativeNoise (σ₀ = the level); by default the configured filter's own strength is swept.
 *
 * Each level runs in `<out>/level-<i>/`; the copied job keeps its data paths working through
 * generated site configs whose data root is the original job folder.
 */
import { copyFile, cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as tfjs from '@tensorflow/tfjs';
import { fail, type Logger, silentLogger, VflareError } from '../../runtime/core/index.js';
import { resolveDataPath } from '../../runtime/jobs/paths.js';
import type { ComponentRegistry } from '../../runtime/jobs/registry.js';
import { simulateJob } from '../../runtime/jobs/simulate.js';
import { loadModelFile } from '../../runtime/workflows/model-file.js';
import { initBackend } from '../../tf/index.js';
import { tfFedAvgExecutor } from '../components.js';
import { idxSlice } from '../data.js';
import { accuracy } from '../learner/train.js';
import { buildLayersModel, type ModelSpec, writeWeights } from '../model/index.js';
import { collectScores } from './collect.js';
import type { RoundScore } from './run-report.js';
import { lineChart } from './svg.js';

export interface SweepOptions {
  readonly jobDir: string;
  readonly registry: ComponentRegistry;
  readonly outDir: string;
  readonly levels: readonly number[];
  /** Id of the noise filter in the clients' result filters; default `noise`. */
  readonly noiseId?: string;
  /** Which mechanism to sweep; default `configured` (the noise filter's own type). */
  readonly mechanism?: 'configured' | 'relative' | 'gaussian';
  /** Gaussian mechanism: L2 clip norm C (required when `mechanism` is `gaussian`). */
  readonly clipNorm?: number;
  /** Gaussian mechanism: the δ that ε is reported at; default 1e-5. */
  readonly delta?: number;
  readonly seed?: number;
  readonly logger?: Logger;
  readonly onLevel?: (index: number, level: number, seconds: number) => void;
  /**
   * Simulator dead-site grace in ms; default one hour. Inversions keep sites busy for minutes,
   * and the simulator's default grace (30 s) then declares busy sites dead.
   */
  readonly deadSiteGraceMs?: number;
}

export interface SweepLevel {
  readonly level: number;
  readonly status: string;
  readonly seconds: number;
  /** Test accuracy of the final global model on the learner's `valid` range. */
  readonly testAccuracy: number | null;
  /** Accuracy lost against the first level (the noise-free baseline when it is 0). */
  readonly accuracyLost: number | null;
  /** Site → RDLV per scored round. */
  readonly rdlv: Readonly<Record<string, readonly RoundScore[]>>;
  /** Site → maximum RDLV over the scored rounds. */
  readonly maxRdlv: Readonly<Record<string, number>>;
  /**
   * Gaussian mechanism only: the largest (ε, δ) any scored site's accountant reported after
   * its last round (`epsilon` null when unbounded, i.e. noise multiplier 0); null otherwise.
   */
  readonly privacy: {
    readonly epsilon: number | null;
    readonly delta: number;
    readonly rounds: number;
  } | null;
}

export interface SweepReport {
  readonly job: string;
  readonly noise: {
    readonly id: string;
    readonly type: string;
    readonly argument: string;
    /** The Gaussian mechanism's fixed arguments (clip norm, δ, adjacency), when swept. */
    readonly fixed?: Readonly<Record<string, unknown>>;
  };
  readonly differentiallyPrivate: boolean;
  readonly levels: readonly SweepLevel[];
}

const STRENGTH: Record<string, { arg: string; dp: boolean }> = {
  'leakage.RelativeNoise': { arg: 'sigma0', dp: false },
  'leakage.GaussianMechanism': { arg: 'noiseMultiplier', dp: true },
};

interface FilterEntry {
  id?: string;
  type: string;
  args?: Record<string, unknown>;
}
interface ClientJson {
  executors: { executor: FilterEntry }[];
  filters?: { taskResult?: { filters: FilterEntry[] }[] };
}

async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}

async function clientConfigs(jobDir: string): Promise<{ path: string; json: ClientJson }[]> {
  const out: { path: string; json: ClientJson }[] = [];
  for (const app of (await readdir(jobDir, { withFileTypes: true })).filter((d) =>
    d.isDirectory(),
  )) {
    const path = join(jobDir, app.name, 'config', 'client.json');
    try {
      out.push({ path, json: await readJson<ClientJson>(path) });
    } catch {
      // Not a client app.
    }
  }
  return out;
}

export async function runSweep(o: SweepOptions): Promise<SweepReport> {
  const jobDir = resolve(o.jobDir);
  const noiseId = o.noiseId ?? 'noise';
  if (o.levels.length === 0)
    throw new VflareError('INVALID_ARGUMENT', 'sweep: give at least one noise level');
  const meta = await readJson<{ name: string; deployMap: Record<string, string[]> }>(
    join(jobDir, 'meta.json'),
  );
  const clients = await clientConfigs(jobDir);
  const noise = clients
    .flatMap((c) => (c.json.filters?.taskResult ?? []).flatMap((g) => g.filters))
    .find((f) => f.id === noiseId);
  if (noise === undefined || STRENGTH[noise.type] === undefined) {
    throw new VflareError(
      'INVALID_JOB',
      `sweep: the job needs a client result filter with id "${noiseId}" of type ` +
        `${Object.keys(STRENGTH).join(' or ')}` +
        `${noise === undefined ? '' : ` (found ${noise.type})`}`,
    );
  }
  const mechanism = o.mechanism ?? 'configured';
  const type =
    mechanism === 'gaussian'
      ? 'leakage.GaussianMechanism'
      : mechanism === 'relative'
        ? 'leakage.RelativeNoise'
        : noise.type;
  const { arg, dp } = STRENGTH[type]!;
  // The arguments every level shares: for a Gaussian sweep the clip norm and δ; a configured
  // filter of the swept type keeps its own other arguments (seed, percentile, adjacency, …).
  const fixed: Record<string, unknown> = Object.fromEntries(
    Object.entries(type === noise.type ? (noise.args ?? {}) : {}).filter(([k]) => k !== arg),
  );
  if (type === 'leakage.GaussianMechanism') {
    const clip = o.clipNorm ?? (fixed['clipNorm'] as number | undefined);
    if (clip === undefined || !(clip > 0) || !Number.isFinite(clip)) {
      fail(
        'sweep clipNorm (--clip)',
        'a finite number > 0 for the Gaussian mechanism',
        clip === undefined ? 'none' : String(clip),
      );
    }
    fixed['clipNorm'] = clip;
    const delta = o.delta ?? (fixed['delta'] as number | undefined) ?? 1e-5;
    if (!(delta > 0 && delta < 1))
      fail('sweep delta (--delta)', 'a number in (0, 1)', String(delta));
    fixed['delta'] = delta;
  }
  const learner = clients
    .flatMap((c) => c.json.executors.map((e) => e.executor))
    .find((e) => e.type === tfFedAvgExecutor.type);
  const learnerArgs =
    learner === undefined ? undefined : tfFedAvgExecutor.args.parse(learner.args ?? {});

  await mkdir(o.outDir, { recursive: true });
  const siteDir = join(o.outDir, 'site-config');
  await mkdir(siteDir, { recursive: true });
  const sites = new Set(['server', ...Object.values(meta.deployMap).flat()]);
  for (let i = 1; i <= 32; i++) sites.add(`site-${i}`);
  for (const s of sites) {
    if (s.startsWith('@')) continue;
    await writeFile(join(siteDir, `${s}.json`), JSON.stringify({ dataRoot: jobDir }));
  }

  const levels: SweepLevel[] = [];
  const report = (): SweepReport => ({
    job: meta.name,
    noise: {
      id: noiseId,
      type,
      argument: arg,
      ...(type === 'leakage.GaussianMechanism' ? { fixed } : {}),
    },
    differentiallyPrivate: dp,
    levels: [...levels],
  });
  for (const [i, level] of o.levels.entries()) {
    const started = performance.now();
    const levelJob = join(o.outDir, 'jobs', `level-${i}`);
    await cp(jobDir, levelJob, { recursive: true });
    for (const c of await clientConfigs(levelJob)) {
      for (const g of c.json.filters?.taskResult ?? []) {
        for (const f of g.filters) {
          if (f.id !== noiseId) continue;
          f.type = type;
          f.args = { ...fixed, [arg]: level };
        }
      }
      await writeFile(c.path, `${JSON.stringify(c.json, null, 2)}\n`);
    }
    const ws = join(o.outDir, `level-${i}`);
    const result = await simulateJob({
      jobDir: levelJob,
      registry: o.registry,
      workspace: ws,
      siteConfigDir: siteDir,
      seed: o.seed ?? 0,
      logger: o.logger ?? silentLogger,
      simulation: { deadSiteGraceMs: o.deadSiteGraceMs ?? 3_600_000 },
    });
    const scores = await collectScores(ws);
    const rdlv = Object.fromEntries(
      Object.entries(scores).map(([s, l]) => [
        s,
        l.map((x) => ({
          round: x.round,
          rdlv: x.rdlv,
          withheld: x.withheld,
          batchMeanRdlv: x.batchMeanRdlv ?? null,
        })),
      ]),
    );
    const maxRdlv = Object.fromEntries(
      Object.entries(scores).map(([s, l]) => [s, Math.max(...l.map((x) => x.rdlv))]),
    );
    const spent = Object.values(scores).flatMap((l) => {
      const p = l[l.length - 1]?.privacy;
      return p === undefined || p === null ? [] : [p];
    });
    const privacy =
      type !== 'leakage.GaussianMechanism' || spent.length === 0
        ? null
        : {
            // JSON has no Infinity: an unbounded ε (no noise) is null.
            epsilon: spent.some((p) => p.epsilon === null)
              ? null
              : Math.max(...spent.map((p) => p.epsilon as number)),
            delta: spent[0]!.delta,
            rounds: Math.max(...spent.map((p) => p.rounds)),
          };
    const testAccuracy =
      learnerArgs?.valid === undefined ? null : await testAccuracyOf(ws, jobDir, learnerArgs);
    const seconds = (performance.now() - started) / 1000;
    const base = levels[0]?.testAccuracy ?? testAccuracy;
    levels.push({
      level,
      status: result.summary.status,
      seconds,
      testAccuracy,
      accuracyLost: testAccuracy === null || base === null ? null : base - testAccuracy,
      rdlv,
      maxRdlv,
      privacy,
    });
    await collectImages(ws, join(o.outDir, 'images'), i, level);
    // Written after every level, so a long sweep leaves usable partial results.
    await writeSweepOutputs(o.outDir, report());
    o.onLevel?.(i, level, seconds);
  }
  return report();
}

type LearnerArgs = ReturnType<typeof tfFedAvgExecutor.args.parse>;

async function testAccuracyOf(ws: string, jobDir: string, a: LearnerArgs): Promise<number | null> {
  let weights: Awaited<ReturnType<typeof loadModelFile>>['weights'];
  try {
    weights = (await loadModelFile(join(ws, 'server', 'global_model.vfm'))).weights;
  } catch {
    return null;
  }
  await initBackend('cpu');
  const model = buildLayersModel(a.model as ModelSpec, 0);
  try {
    writeWeights(model, weights, tfjs);
    // The same confinement the sites apply: the sweep's sites have the job folder as data root.
    const dir = resolveDataPath({ site: 'sweep', dataRoot: jobDir }, a.data.path);
    const test = idxSlice(dir, a.data.part, a.valid!, a.data.classes);
    return accuracy(model, test);
  } finally {
    model.dispose();
  }
}

/** Copies each site's last saved reconstruction PNGs as `images/level<i>_<σ>_<site>_…png`. */
async function collectImages(ws: string, dest: string, i: number, level: number): Promise<void> {
  await mkdir(dest, { recursive: true });
  for (const site of await readdir(ws).catch(() => [] as string[])) {
    const dir = join(ws, site, 'leakage');
    const pngs = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.png'));
    const lastRound = Math.max(-1, ...pngs.map((f) => Number(/^round(\d+)_/.exec(f)?.[1] ?? -1)));
    for (const f of pngs.filter((p) => p.startsWith(`round${lastRound}_`))) {
      await copyFile(join(dir, f), join(dest, `level${i}_noise${level}_${site}_${f}`));
    }
  }
}

/** `z = 0.1` or `z = 1`, plus `ε = 12.3` on a second line when the level has a guarantee. */
function levelLabel(r: SweepReport, l: SweepLevel): string {
  const head = `${r.noise.argument === 'noiseMultiplier' ? 'z' : 'σ₀'} = ${l.level}`;
  // Reports written before ε was recorded have no `privacy` at all.
  const privacy = l.privacy ?? null;
  if (privacy === null) return head;
  const eps = privacy.epsilon;
  return `${head}\nε = ${eps === null ? '∞' : eps >= 100 ? eps.toExponential(1) : eps.toFixed(2)}`;
}

/** Writes a sweep's JSON and both SVGs (also to re-draw the plots of a saved report). */
export async function writeSweepOutputs(outDir: string, r: SweepReport): Promise<void> {
  await writeFile(join(outDir, 'leakage-sweep.json'), `${JSON.stringify(r, null, 2)}\n`);
  const sites = [...new Set(r.levels.flatMap((l) => Object.keys(l.maxRdlv)))];
  const fixed = Object.entries(r.noise.fixed ?? {})
    .filter(([k]) => k !== 'delta')
    .map(([k, v]) => `${k} ${String(v)}`)
    .join(', ');
  const guarantee = r.differentiallyPrivate
    ? `, ${fixed}; site-level ε at δ = ${String(r.noise.fixed?.['delta'])}`
    : ', not DP';
  const label = `${r.noise.argument} (${r.noise.type}${guarantee})`;
  // Levels are usually spread geometrically: plot them evenly spaced, labelled with their value.
  const series = [
    ...sites.map((s) => ({
      name: `${s} RDLV`,
      points: r.levels.flatMap((l, i) =>
        l.maxRdlv[s] === undefined ? [] : [[i, l.maxRdlv[s]!] as const],
      ),
    })),
    {
      name: 'test accuracy',
      right: true,
      dashed: true,
      points: r.levels.flatMap((l, i) =>
        l.testAccuracy === null ? [] : [[i, l.testAccuracy] as const],
      ),
    },
  ];
  await writeFile(
    join(outDir, 'leakage-vs-noise.svg'),
    lineChart({
      title: `Leakage and accuracy against noise (${r.job})`,
      xLabel: label,
      yLabel: 'RDLV (max over rounds and images)',
      y2Label: 'test accuracy',
      series,
      xTicks: r.levels.map((l, i) => ({ value: i, label: levelLabel(r, l) })),
    }),
  );
  const first = r.levels[0];
  if (first !== undefined) {
    await writeFile(
      join(outDir, 'leakage-per-round.svg'),
      lineChart({
        title: `RDLV per round at ${r.noise.argument} = ${first.level}`,
        xLabel: 'round',
        yLabel: 'RDLV (max over local images)',
        series: Object.entries(first.rdlv).map(([s, l]) => ({
          name: s,
          points: l.map((x) => [x.round, x.rdlv] as const),
        })),
      }),
    );
  }
}
