import { describe, expect, test } from 'vitest';
import type { TensorMap } from '../../src/runtime/core/index.js';
import { WeightedFedAvgAggregator } from '../../src/runtime/workflows/index.js';
import { makeDataset } from '../../src/traditional-ml/data/dataset.js';
import { LearnerExecutor, siteSeed } from '../../src/traditional-ml/learner/learner.js';
import {
  LinearLearner,
  linearToTensors,
  tensorsToLinear,
} from '../../src/traditional-ml/linear/federated.js';
import {
  leastSquares,
  linearDecision,
  sgdEpoch,
  zeroModel,
} from '../../src/traditional-ml/linear/sgd.js';
import { createRng } from '../../src/traditional-ml/random/index.js';
import { fakeContext, simulateExample, trainTask } from './helpers.js';

describe('SGD linear models', () => {
  test('one epoch of log-loss SGD matches a hand computation', () => {
    const ds = makeDataset(Float64Array.of(1, 2, 0, 1), Float64Array.of(1, 0), 2, 2);
    const m = sgdEpoch(
      zeroModel('log', 2),
      ds,
      { loss: 'log', learningRate: 0.1, alpha: 0.01, shuffle: false },
      createRng(0),
    );
    // Row 1: p = 0, g = −1/2 → w = 0.05·[1, 2], b = 0.05.
    // Row 2 (label −1): p = 0.15, g = 1/(1 + e^−0.15); w = 0.999·w − 0.1·g·[0, 1]; b −= 0.1·g.
    const g = 1 / (1 + Math.exp(-0.15));
    expect(m.coef[0]).toBeCloseTo(0.05 * 0.999, 15);
    expect(m.coef[1]).toBeCloseTo(0.1 * 0.999 - 0.1 * g, 15);
    expect(m.intercept).toBeCloseTo(0.05 - 0.1 * g, 15);
  });

  test('squared-loss SGD approaches the least-squares fit', () => {
    const rng = createRng(1);
    const n = 400;
    const x = Float64Array.from({ length: n * 2 }, () => rng.next() * 2 - 1);
    const y = Float64Array.from(
      { length: n },
      (_, i) => 3 * (x[2 * i] as number) - 2 * (x[2 * i + 1] as number) + 0.5,
    );
    const ds = makeDataset(x, y, n, 2);
    const exact = leastSquares(ds);
    expect(exact.coef[0]).toBeCloseTo(3, 10);
    expect(exact.intercept).toBeCloseTo(0.5, 10);
    let m = zeroModel('squared', 2);
    for (let e = 0; e < 30; e++) {
      m = sgdEpoch(m, ds, { loss: 'squared', learningRate: 0.05, alpha: 0 }, rng);
    }
    expect(m.coef[0]).toBeCloseTo(3, 2);
    expect(m.coef[1]).toBeCloseTo(-2, 2);
  });

  test('a client holding one class only trains without error', () => {
    const ds = makeDataset(Float64Array.of(1, 2, 3, 4), Float64Array.of(1, 1), 2, 2);
    const m = sgdEpoch(zeroModel('log', 2), ds, { loss: 'log', learningRate: 0.1 }, createRng(0));
    expect(m.coef.every((v) => v > 0)).toBe(true);
    expect(linearDecision(m, ds.x, 2).every((v) => v > 0)).toBe(true);
  });

  test('never writes to the model it starts from', () => {
    const start = zeroModel('log', 2);
    const ds = makeDataset(Float64Array.of(1, 2, 0, 1), Float64Array.of(1, 0), 2, 2);
    sgdEpoch(start, ds, { loss: 'log', learningRate: 0.1 }, createRng(0));
    expect(Array.from(start.coef)).toEqual([0, 0]);
  });
});

describe('federated linear learner', () => {
  const data = {
    path: 'linear-diabetes/data/diabetes_data_raw.csv.gz',
    format: 'diabetes' as const,
    label: 'last' as const,
    targetPath: 'linear-diabetes/data/diabetes_target.csv.gz',
    part: 't10k' as const,
    shuffle: false,
    standardise: true,
  };
  const params = {
    loss: 'squared' as const,
    learningRate: 0.01,
    alpha: 1e-4,
    fitIntercept: true,
    positiveClass: 1,
  };
  const ranges = [
    [88, 206],
    [206, 324],
    [324, 442],
  ] as const;

  test('every client of a round starts from the same untouched global copy', async () => {
    const executors = ranges.map(
      (r) => new LearnerExecutor(new LinearLearner(data, { train: r, valid: [0, 88] }, params)),
    );
    const global: TensorMap = linearToTensors({
      loss: 'squared',
      coef: Float64Array.from({ length: 10 }, (_, i) => i / 10),
      intercept: 100,
    });
    const before = Array.from(global['coef']!.data);
    // The same task object (the same arrays) goes to every client, as in an in-memory run.
    const task = trainTask(3, global);
    const results = [];
    for (const [i, ex] of executors.entries()) {
      const payload = await ex.execute(task, fakeContext(`site-${i + 1}`));
      if (payload?.kind !== 'weights') throw new Error('no weights');
      results.push(payload);
    }
    expect(Array.from(global['coef']!.data)).toEqual(before);
    // Each result equals one epoch from the untouched global model, computed independently.
    for (const [i, r] of ranges.entries()) {
      const learner = new LinearLearner(data, { train: r }, params);
      learner.initialise({ site: `site-${i + 1}`, seed: 0, dataRoot: fakeContext('x').dataRoot });
      const fresh = learner.train(3, linearToTensors(tensorsToLinear(global, 'squared')));
      expect(Array.from(results[i]!.weights['coef']!.data)).toEqual(
        Array.from(fresh.weights['coef']!.data),
      );
      expect(results[i]!.meta.numStepsCurrentRound).toBe(r[1] - r[0]);
      expect(results[i]!.meta.initialMetrics?.['r2']).toBeTypeOf('number');
    }
    // FedAvg of the three equals the row-weighted mean.
    const agg = new WeightedFedAvgAggregator({ expectedKind: 'weights' });
    agg.startRound(3);
    for (const [i, payload] of results.entries()) {
      agg.accept({ headers: task.headers, site: `site-${i + 1}`, rc: 'ok', payload });
    }
    const out = agg.aggregate().payload;
    if (out?.kind !== 'weights') throw new Error('no aggregate');
    const w0 = results.map((r) => r.weights['coef']!.data[0] as number);
    expect(out.weights['coef']!.data[0]).toBeCloseTo((w0[0]! + w0[1]! + w0[2]!) / 3, 12);
  });

  test('the executor hands a learner its own copy, so in-place updates cannot leak', async () => {
    const seen: number[] = [];
    const rogue = {
      algorithm: 'rogue',
      initialise() {},
      train(_round: number, g: TensorMap) {
        const w = g['coef']!.data;
        seen.push(w[0] as number);
        w[0] = (w[0] as number) + 1; // updates "the global model" in place
        return { weights: g, numSteps: 1 };
      },
      validate: () => ({}),
    };
    const task = trainTask(0, { coef: { shape: [1, 1], data: Float64Array.of(5) } });
    for (const site of ['a', 'b', 'c']) {
      await new LearnerExecutor(rogue).execute(task, fakeContext(site));
    }
    // Without the copy the clients would have seen 5, 6, 7 (sequential training).
    expect(seen).toEqual([5, 5, 5]);
    expect((task.payload as { weights: TensorMap }).weights['coef']!.data[0]).toBe(5);
  });

  test('site seeds differ per site and repeat per job seed', () => {
    expect(siteSeed(0, 'site-1')).toBe(siteSeed(0, 'site-1'));
    expect(siteSeed(0, 'site-1')).not.toBe(siteSeed(0, 'site-2'));
    expect(siteSeed(1, 'site-1')).not.toBe(siteSeed(0, 'site-1'));
  });

  test('the linear-diabetes example runs and explains a useful share of the variance', async () => {
    const { summary } = await simulateExample('linear-diabetes');
    expect(summary.status).toBe('completed');
    const r2 = summary.sites['site-1']?.metrics['r2'] ?? 0;
    expect(r2).toBeGreaterThan(0.3);
  });
});
