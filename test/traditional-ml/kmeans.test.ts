import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { defaultRegistry } from '../../src/components.js';
import { simulateJob } from '../../src/runtime/jobs/simulate.js';
import { loadCsv } from '../../src/traditional-ml/data/csv.js';
import { KmeansAssembler, KmeansLearner } from '../../src/traditional-ml/kmeans/federated.js';
import {
  assignClusters,
  clusterSeeds,
  kmeansPlusPlus,
  localStep,
  mergeCentres,
} from '../../src/traditional-ml/kmeans/kmeans.js';
import { LearnerExecutor } from '../../src/traditional-ml/learner/learner.js';
import { homogeneity } from '../../src/traditional-ml/metrics/index.js';
import { parseTmlModel, predict } from '../../src/traditional-ml/model/format.js';
import { createRng } from '../../src/traditional-ml/random/index.js';
import { EXAMPLES, fakeContext, simulateExample } from './helpers.js';

const line = (v: number[]) => ({
  x: Float64Array.from(v),
  y: new Float64Array(v.length),
  rows: v.length,
  cols: 1,
});

describe('mini-batch k-means pieces', () => {
  test('one step from [1, 51, 1000] gives centres [1, 76, 1000] and counts [3, 6, 0]', () => {
    const step = localStep(
      line([0, 1, 2, 50, 51, 52, 100, 101, 102]),
      Float64Array.of(1, 51, 1000),
    );
    expect(Array.from(step.centres)).toEqual([1, 76, 1000]);
    expect(Array.from(step.counts)).toEqual([3, 6, 0]);
  });

  test('the server update weighs centres by counts and leaves a zero-count centre in place', () => {
    const merged = mergeCentres(Float64Array.of(0, 10, 500), Float64Array.of(2, 0, 0), [
      { centres: Float64Array.of(3, 12, 7), counts: Float64Array.of(1, 3, 0) },
      { centres: Float64Array.of(6, 20, 9), counts: Float64Array.of(1, 1, 0) },
    ]);
    // centre 0: (0·2 + 3·1 + 6·1) / 4; centre 1: (12·3 + 20·1) / 4; centre 2 untouched.
    expect(Array.from(merged.centres)).toEqual([2.25, 14, 500]);
    expect(Array.from(merged.counts)).toEqual([4, 4, 0]);
    expect(merged.centres.every(Number.isFinite)).toBe(true);
  });

  test('the server update is a convex combination per centre and adds up the counts', () => {
    const cell = fc.double({ min: -100, max: 100, noNaN: true });
    const count = fc.integer({ min: 0, max: 5 });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 4 }),
        fc.infiniteStream(cell),
        fc.infiniteStream(count),
        (k, cols, clients, cells, counts) => {
          const take = (n: number, s: typeof cells | typeof counts) =>
            Float64Array.from({ length: n }, () => s.next().value as number);
          const g = take(k * cols, cells);
          const gn = take(k, counts);
          const list = Array.from({ length: clients }, () => ({
            centres: take(k * cols, cells),
            counts: take(k, counts),
          }));
          const m = mergeCentres(g, gn, list);
          for (let c = 0; c < k; c++) {
            const total = (gn[c] as number) + list.reduce((a, l) => a + (l.counts[c] as number), 0);
            if (m.counts[c] !== total) return false;
            for (let j = 0; j < cols; j++) {
              const v = m.centres[c * cols + j] as number;
              if (!Number.isFinite(v)) return false;
              const pts = [g, ...list.map((l) => l.centres)].map((a) => a[c * cols + j] as number);
              if (total === 0 && v !== g[c * cols + j]) return false;
              if (v < Math.min(...pts) - 1e-9 || v > Math.max(...pts) + 1e-9) return false;
            }
          }
          return true;
        },
      ),
      { numRuns: 200 },
    );
  });

  test('k-means++ seeds are rows of the data and repeat for a seed', () => {
    const ds = line([0, 1, 2, 50, 51, 52, 100, 101, 102]);
    const a = kmeansPlusPlus(ds, 3, createRng(4));
    expect(Array.from(a).every((v) => ds.x.includes(v))).toBe(true);
    expect(Array.from(kmeansPlusPlus(ds, 3, createRng(4)))).toEqual(Array.from(a));
  });

  test('a client with two rows and k = 3 gets a clear error before round 0', async () => {
    const learner = new KmeansLearner(
      {
        path: 'kmeans-iris/data/iris.csv',
        format: 'csv',
        label: 'last',
        part: 't10k',
        shuffle: false,
        standardise: false,
      },
      { train: [0, 2] },
      { nClusters: 3 },
    );
    const ex = new LearnerExecutor(learner);
    await expect(ex.initialize(fakeContext('site-1'))).rejects.toThrow(
      /2 local rows cannot seed 3 clusters/,
    );
  });

  test('in a job, that site stops the run in round 0 with the reason, before any round', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vflare-km-2rows-'));
    cpSync(join(EXAMPLES, 'kmeans-iris'), dir, { recursive: true });
    const client = join(dir, 'app/config/client.json');
    const cfg = JSON.parse(readFileSync(client, 'utf8'));
    cfg.sites['site-1'].learner.train = [0, 2];
    writeFileSync(client, JSON.stringify(cfg));
    const { summary } = await simulateJob({
      jobDir: dir,
      registry: defaultRegistry(),
      workspace: join(dir, 'ws'),
    });
    expect(summary.status).toBe('execution-exception');
    expect(summary.rounds).toBe(0);
    expect(summary.error).toMatch(/site-1.*2 local rows cannot seed 3 clusters/);
  });

  test('the assembler names an nClusters mismatch between learners and itself', () => {
    const asm = new KmeansAssembler({ nClusters: 4 }, 0);
    const seeds = { weights: { centres: { shape: [3, 1], data: Float64Array.of(0, 5, 9) } } };
    const items = new Map([
      ['site-1', asm.collect(seeds, 'site-1')],
      ['site-2', asm.collect(seeds, 'site-2')],
    ]);
    if ([...items.values()].some((v) => typeof v === 'string')) throw new Error('rejected');
    expect(() => asm.assemble(items as never, 0)).toThrow(
      /sites sent 3, 3 seeds for 4 clusters; give tml.KmeansLearner and tml.KmeansAggregator/,
    );
  });

  test('the assembler clusters the pooled seeds, then keeps counts across rounds', () => {
    const asm = new KmeansAssembler({ nClusters: 2 }, 0);
    const seeds = (v: number[]) => ({
      weights: { centres: { shape: [2, 1], data: Float64Array.from(v) } },
    });
    const a = asm.collect(seeds([0, 10]));
    const b = asm.collect(seeds([1, 11]));
    if (typeof a === 'string' || typeof b === 'string') throw new Error('rejected');
    const init = asm.assemble(
      new Map([
        ['s1', a],
        ['s2', b],
      ]),
      0,
    );
    expect(Array.from(init.weights.centres.data).sort((x, y) => x - y)).toEqual([0.5, 10.5]);
    expect(Array.from(asm.counts ?? [])).toEqual([0, 0]);
    expect(
      asm.collect({ weights: { centres: { shape: [3, 1], data: new Float64Array(3) } } }),
    ).toMatch(/do not match/);
  });
});

describe('kmeans-iris example', () => {
  const iris = loadCsv(join(EXAMPLES, 'kmeans-iris/data/iris.csv')).dataset;

  async function finalHomogeneity(seed: number) {
    const { summary, workspace } = await simulateExample('kmeans-iris', seed);
    expect(summary.status).toBe('completed');
    const model = parseTmlModel(
      JSON.parse(readFileSync(join(workspace, 'server/global_model.json'), 'utf8')),
    );
    expect(model.kind).toBe('kmeans');
    const labels = predict(model, iris.x).predictions;
    return { h: homogeneity(iris.y, labels), model };
  }

  test('reaches homogeneity ≥ 0.73 for seeds 0-4, mean within 0.02 of central', async () => {
    const hs: number[] = [];
    for (let seed = 0; seed < 5; seed++) hs.push((await finalHomogeneity(seed)).h);
    for (const h of hs) expect(h).toBeGreaterThanOrEqual(0.73);
    const central = clusterSeeds(Float64Array.from(iris.x), 4, 3, 0);
    const hc = homogeneity(iris.y, assignClusters(iris.x, 4, central));
    expect(hc).toBeCloseTo(0.7515, 4);
    const mean = hs.reduce((a, b) => a + b, 0) / hs.length;
    expect(Math.abs(mean - hc)).toBeLessThanOrEqual(0.02);
  });

  test('gives identical centres on every run with the same seed', async () => {
    const a = await finalHomogeneity(3);
    const b = await finalHomogeneity(3);
    expect(b.model).toEqual(a.model);
  });
});
