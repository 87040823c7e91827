/** Test federations for split learning: synthetic vertical CSVs and a stand-in for PSI. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClientApp, ServerApp } from '../../src/runtime/core/app.js';
import { NO_FILTERS } from '../../src/runtime/core/app.js';
import type { Workflow } from '../../src/runtime/core/controller.js';
import type { Executor, ExecutorContext } from '../../src/runtime/core/executor.js';
import { SeededRandom } from '../../src/splitnn/random.js';

/**
 * Stands in for the PSI workflow (tested in its own module): leaves a given intersection in each
 * site's job state under `psi.intersection`, as the PSI workflow does.
 */
export class FixedIntersectionWorkflow implements Workflow {
  readonly name = 'FixedIntersection';
  constructor(private readonly sites: readonly string[]) {}
  async run(api: Parameters<Workflow['run']>[0]): Promise<void> {
    const out = await api.broadcastAndWait(
      { name: 'test.intersection', data: null },
      { targets: this.sites, minResponses: 0 },
    );
    for (const r of out.results.values())
      if (r.rc !== 'ok') throw new Error(`stand-in PSI failed at ${r.site}`);
  }
}

export class FixedIntersectionExecutor implements Executor {
  readonly tasks = ['test.intersection'];
  constructor(private readonly ids: readonly string[]) {}
  async execute(_task: unknown, ctx: ExecutorContext) {
    (ctx.jobState as unknown as { set(k: string, v: unknown): void }).set('psi.intersection', [
      ...this.ids,
    ]);
    return { kind: 'metrics' as const, metrics: { size: this.ids.length }, meta: {} };
  }
}

export interface VerticalData {
  readonly dir: string;
  readonly shared: string[];
  readonly files: Record<string, string>;
}

/**
 * Three CSVs over the same 160 shared ids plus a few private ones each: `fa` (4 features),
 * `fb` (3 features) and `lab` (the label, a noisy linear rule of all 7 features).
 * `shuffleAt` writes that party's rows in a different order.
 */
export function writeVerticalCsvs(shuffleAt?: string): VerticalData {
  const dir = mkdtempSync(join(tmpdir(), 'vflare-splitnn-'));
  mkdirSync(dir, { recursive: true });
  const rng = new SeededRandom(42);
  const n = 160;
  const shared = Array.from({ length: n }, (_, i) => `rec-${i}`);
  const x = shared.map(() => Array.from({ length: 7 }, () => rng.nextNormal()));
  const w = [1.2, -0.8, 0.5, 1.0, -1.1, 0.7, 0.3];
  const y = x.map((r) =>
    r.reduce((s, v, j) => s + v * (w[j] as number), 0) + 0.3 * rng.nextNormal() > 0 ? 1 : 0,
  );
  const write = (
    party: string,
    header: string[],
    row: (i: number) => (string | number)[],
    extra: string[],
  ) => {
    const lines = shared.map((id, i) => [id, ...row(i)].join(','));
    for (const id of extra) lines.push([id, ...row(0)].join(','));
    if (shuffleAt === party) new SeededRandom(7).shuffle(lines);
    const path = join(dir, `${party}.csv`);
    writeFileSync(path, `${['id', ...header].join(',')}\n${lines.join('\n')}\n`);
    return path;
  };
  const files = {
    fa: write('fa', ['f0', 'f1', 'f2', 'f3'], (i) => (x[i] as number[]).slice(0, 4), [
      'only-fa-1',
      'only-fa-2',
    ]),
    fb: write('fb', ['f4', 'f5', 'f6'], (i) => (x[i] as number[]).slice(4), ['only-fb-1']),
    lab: write('lab', ['label'], (i) => [y[i] as number], ['only-lab-1', 'only-lab-2']),
  };
  return { dir, shared, files };
}

export const tinyBottom = (width: number) => ({
  inputShape: [width],
  layers: [{ type: 'dense' as const, units: 4, activation: 'relu' as const }],
});

export function clientApp(executors: Executor[]): ClientApp {
  return { executors, filters: NO_FILTERS };
}

export function serverApp(workflows: Workflow[]): ServerApp {
  return { workflows, filters: NO_FILTERS };
}
