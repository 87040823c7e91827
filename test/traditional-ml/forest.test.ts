import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { loadCsv } from '../../src/traditional-ml/data/csv.js';
import { makeDataset, sliceRows, takeRows } from '../../src/traditional-ml/data/dataset.js';
import {
  checkForest,
  ForestAssembler,
  ForestLearner,
  forestParamsSchema,
  forestToTensors,
} from '../../src/traditional-ml/forest/federated.js';
import {
  binFeatures,
  forestPredict,
  forestProba,
  growForest,
  mergeForests,
  treeCount,
} from '../../src/traditional-ml/forest/forest.js';
import { accuracy, rocAuc } from '../../src/traditional-ml/metrics/index.js';
import { createRng, permutation } from '../../src/traditional-ml/random/index.js';
import { EXAMPLES } from './helpers.js';

const iris = loadCsv(join(EXAMPLES, 'kmeans-iris/data/iris.csv')).dataset;

describe('histogram random forest', () => {
  test('bins by quantiles so that code b means x ≤ edge b', () => {
    const ds = makeDataset(Float64Array.of(5, 1, 3, 3, 9), new Float64Array(5), 5, 1);
    const { codes, edges } = binFeatures(ds, 4);
    const e = Array.from(edges[0]!);
    expect(e).toEqual([...e].sort((a, b) => a - b));
    for (let r = 0; r < 5; r++) {
      const v = ds.x[r] as number;
      const c = codes[r] as number;
      if (c < e.length) expect(v).toBeLessThanOrEqual(e[c] as number);
      if (c > 0) expect(v).toBeGreaterThan(e[c - 1] as number);
    }
  });

  test('learns a threshold rule exactly', () => {
    const rng = createRng(2);
    const x = Float64Array.from({ length: 300 }, () => rng.next());
    const y = x.map((v) => (v > 0.37 ? 1 : 0));
    const f = growForest(makeDataset(x, y, 300, 1), { nTrees: 3, nClasses: 2, maxDepth: 3 }, 1);
    expect(accuracy(y, forestPredict(f, x))).toBeGreaterThan(0.98);
  });

  test('merging keeps every tree of a 3-class model with all its classes', () => {
    const shuffled = takeRows(iris, permutation(150, createRng(0)));
    const parts = [0, 1, 2].map((i) => sliceRows(shuffled, i * 50, i * 50 + 50));
    const subs = parts.map((p, i) => growForest(p, { nTrees: 4 + i, nClasses: 3, maxDepth: 4 }, i));
    const merged = mergeForests(subs);
    expect(treeCount(merged)).toBe(4 + 5 + 6);
    expect(merged.nClasses).toBe(3);
    // The merged forest's probabilities are the tree-count-weighted mean of the sub-forests'.
    const p = forestProba(merged, iris.x);
    const ps = subs.map((s) => forestProba(s, iris.x));
    for (let i = 0; i < p.length; i += 37) {
      const expected = (4 * ps[0]![i]! + 5 * ps[1]![i]! + 6 * ps[2]![i]!) / 15;
      expect(p[i]).toBeCloseTo(expected, 12);
    }
    // Every class is still predicted.
    expect(new Set(forestPredict(merged, iris.x))).toEqual(new Set([0, 1, 2]));
    expect(accuracy(iris.y, forestPredict(merged, iris.x))).toBeGreaterThan(0.9);
  });

  test('sends no node counts: leaves hold distributions, internal nodes hold zeros', () => {
    const f = growForest(iris, { nTrees: 2, nClasses: 3, maxDepth: 3 }, 0);
    const t = forestToTensors(f);
    expect(Object.keys(t).sort()).toEqual(
      ['feature', 'left', 'offsets', 'right', 'shapeInfo', 'threshold', 'value'].sort(),
    );
    for (let n = 0; n < f.feature.length; n++) {
      const v = Array.from(f.value.subarray(n * 3, n * 3 + 3));
      const sum = v.reduce((a, b) => a + b, 0);
      expect(sum).toBeCloseTo((f.feature[n] as number) < 0 ? 1 : 0, 12);
    }
  });

  test('refuses a forest whose child links would loop', () => {
    const f = growForest(iris, { nTrees: 1, nClasses: 3, maxDepth: 2 }, 0);
    const bad = { ...f, left: Int32Array.from(f.left).fill(0) };
    expect(() => checkForest(bad, 'test')).toThrow(/child index/);
    const asm = new ForestAssembler();
    expect(asm.collect({ weights: forestToTensors(bad) }, 'site-1')).toMatch(/malformed forest/);
  });

  test('a site whose labels exceed nClasses is refused before round 0, naming the fix', () => {
    const learner = new ForestLearner(
      {
        path: 'kmeans-iris/data/iris.csv',
        format: 'csv',
        label: 'last',
        part: 't10k',
        shuffle: false,
        standardise: false,
      },
      { train: [0, 150] },
      forestParamsSchema.parse({ nClasses: 2, nTrees: 2 }),
    );
    expect(() => learner.initialise({ site: 'site-1', seed: 0, dataRoot: EXAMPLES })).toThrow(
      /site site-1 training row 101 has a label outside the classes 0 … 1; set nClasses/,
    );
  });

  test('a federated breast-cancer forest stays close to the central one', () => {
    const cancer = loadCsv(join(EXAMPLES, 'svm-breast-cancer/data/breast_cancer.csv')).dataset;
    const valid = sliceRows(cancer, 0, 114);
    const opts = { nClasses: 2, subsample: 0.8, maxDepth: 8 };
    const central = growForest(sliceRows(cancer, 114, 569), { ...opts, nTrees: 60 }, 1);
    const subs = [
      [114, 265],
      [265, 416],
      [416, 569],
    ].map(([a, b], i) => growForest(sliceRows(cancer, a!, b!), { ...opts, nTrees: 20 }, 10 + i));
    const score = (f: ReturnType<typeof growForest>) =>
      rocAuc(
        valid.y,
        forestProba(f, valid.x).filter((_, i) => i % 2 === 1),
      );
    const c = score(central);
    const fed = score(mergeForests(subs));
    expect(c).toBeGreaterThan(0.95);
    expect(fed).toBeGreaterThan(c - 0.03);
  });
});
