import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { defaultRegistry } from '../../src/components.js';
import { simulateJob } from '../../src/runtime/jobs/simulate.js';
import { loadCsv } from '../../src/traditional-ml/data/csv.js';
import { makeDataset, sliceRows } from '../../src/traditional-ml/data/dataset.js';
import { hardLabelAuc, rocAuc } from '../../src/traditional-ml/metrics/index.js';
import { parseTmlModel, predict } from '../../src/traditional-ml/model/format.js';
import { SvmAssembler, SvmLearner } from '../../src/traditional-ml/svm/federated.js';
import { libsvm } from '../../src/traditional-ml/svm/libsvm.js';
import {
  scaleGamma,
  svmAlphas,
  svmDecision,
  svmPredict,
  trainSvm,
} from '../../src/traditional-ml/svm/svm.js';
import { EXAMPLES, simulateExample } from './helpers.js';

const cancer = loadCsv(join(EXAMPLES, 'svm-breast-cancer/data/breast_cancer.csv')).dataset;

describe('SVM (libsvm)', () => {
  test('keeps 0 ≤ α ≤ C on the reference counter-example (linear kernel, C = 1)', () => {
    const ds = makeDataset(
      Float64Array.of(0, 1, 2, 4, 0, 2, 0, 1, 1, 3, 3, 0),
      Float64Array.of(-1, 1, -1, 1, -1, 1),
      6,
      2,
    );
    const m = trainSvm(libsvm, ds, { kernel: 'linear', C: 1 });
    for (const a of svmAlphas(m)) {
      expect(a).toBeGreaterThanOrEqual(0);
      expect(a).toBeLessThanOrEqual(1);
    }
    // Dual feasibility: Σ yᵢαᵢ = 0.
    expect(m.coef.reduce((s, c) => s + c, 0)).toBeCloseTo(0, 9);
  });

  test('keeps 0 ≤ α ≤ C on random problems', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.double({ min: -5, max: 5, noNaN: true }),
            fc.double({ min: -5, max: 5, noNaN: true }),
          ),
          {
            minLength: 4,
            maxLength: 40,
          },
        ),
        fc.constantFrom(0.1, 1, 10),
        fc.constantFrom('rbf', 'linear' as const),
        (pts, C, kernel) => {
          const y = pts.map((_, i) => (i % 2 === 0 ? 1 : 0));
          const m = trainSvm(
            libsvm,
            makeDataset(Float64Array.from(pts.flat()), Float64Array.from(y), pts.length, 2),
            { kernel, C },
          );
          return svmAlphas(m).every((a) => a >= 0 && a <= C + 1e-12);
        },
      ),
      { numRuns: 40 },
    );
  });

  test('gamma "scale" is 1 / (features × population variance of all entries)', () => {
    const ds = makeDataset(Float64Array.of(1, 3, 5, 7), new Float64Array(2), 2, 2);
    // mean 4, variance (9+1+1+9)/4 = 5 → 1 / (2·5).
    expect(scaleGamma(ds)).toBeCloseTo(0.1, 15);
  });

  test('our decision function predicts exactly what libsvm predicts', () => {
    const train = sliceRows(cancer, 114, 569);
    const valid = sliceRows(cancer, 0, 114);
    const m = trainSvm(libsvm, train);
    const ours = svmPredict(m, valid.x);
    const svm = new libsvm({
      kernel: libsvm.KERNEL_TYPES.RBF,
      cost: 1,
      gamma: m.gamma,
      quiet: true,
    });
    svm.train(
      Array.from({ length: train.rows }, (_, i) =>
        Array.from(train.x.subarray(i * 30, i * 30 + 30)),
      ),
      Array.from(train.y),
    );
    const theirs = Array.from({ length: valid.rows }, (_, i) =>
      svm.predictOne(Array.from(valid.x.subarray(i * 30, i * 30 + 30))),
    );
    svm.free();
    expect(Array.from(ours)).toEqual(theirs);
    // Free support vectors sit on the margin: |f| ≈ 1 there.
    const free = Array.from(m.coef.keys()).filter(
      (i) => Math.abs(m.coef[i] as number) < m.C - 1e-9,
    );
    const f = svmDecision(m, m.supportX);
    for (const i of free) expect(Math.abs(f[i] as number)).toBeCloseTo(1, 2);
  });

  test('the example split gives 52, 30 and 31 local support vectors and 96 global ones', () => {
    const locals = [
      [114, 265],
      [265, 416],
      [416, 569],
    ].map(([a, b]) => trainSvm(libsvm, sliceRows(cancer, a as number, b as number)));
    expect(locals.map((m) => m.coef.length)).toEqual([52, 30, 31]);
    const x = new Float64Array(113 * 30);
    const y = new Float64Array(113);
    let o = 0;
    for (const m of locals) {
      x.set(m.supportX, o * 30);
      y.set(m.supportY, o);
      o += m.coef.length;
    }
    expect(trainSvm(libsvm, makeDataset(x, y, 113, 30)).coef.length).toBe(96);
  });

  test('a site with one class is refused before round 0', () => {
    const learner = new SvmLearner(
      {
        path: 'svm-breast-cancer/data/breast_cancer.csv',
        format: 'csv',
        label: 'last',
        part: 't10k',
        shuffle: false,
        standardise: false,
      },
      { train: [0, 5] },
      { kernel: 'rbf', C: 1, gamma: 'scale' },
    );
    expect(() => learner.initialise({ site: 's', seed: 0, dataRoot: EXAMPLES })).toThrow(
      /needs both classes at every site/,
    );
  });

  test('a third round is refused by the learner and by the assembler', () => {
    const learner = new SvmLearner(
      {
        path: 'svm-breast-cancer/data/breast_cancer.csv',
        format: 'csv',
        label: 'last',
        part: 't10k',
        shuffle: false,
        standardise: false,
      },
      { train: [114, 265] },
      { kernel: 'rbf', C: 1, gamma: 'scale' },
    );
    learner.initialise({ site: 's', seed: 0, dataRoot: EXAMPLES });
    expect(() => learner.train(0, {}, 3)).toThrow(/exactly two rounds.*set numRounds to 2/);
    expect(() => learner.train(2, {}, undefined)).toThrow(/round 2 of \? refused/);
    const asm = new SvmAssembler({ kernel: 'rbf', C: 1, gamma: 'scale' });
    const sv = learner.train(0, {}, 2).weights;
    expect(asm.collect({ weights: sv }, 's', 2)).toMatch(/round 2 refused/);
  });
});

describe('svm-breast-cancer example', () => {
  test('reaches hard-label AUC 0.8088 exactly, beside score AUC 0.976-0.978', async () => {
    const { summary, workspace } = await simulateExample('svm-breast-cancer');
    expect(summary.status).toBe('completed');
    expect(summary.rounds).toBe(2);
    for (const site of ['site-1', 'site-2', 'site-3']) {
      const m = summary.sites[site]?.metrics ?? {};
      expect(m['hardLabelAuc']).toBeCloseTo(0.8088, 3);
      // 46 benign all right, 42 of 68 malignant right.
      expect(m['hardLabelAuc']).toBe((46 / 46 + 42 / 68) / 2);
      expect(m['auc']).toBeGreaterThanOrEqual(0.976);
      expect(m['auc']).toBeLessThanOrEqual(0.978);
    }
    const model = parseTmlModel(
      JSON.parse(readFileSync(join(workspace, 'server/global_model.json'), 'utf8')),
    );
    if (model.kind !== 'svm') throw new Error('not an svm');
    // The final model is the SVM refit on the 96-vector global set; it keeps 93 of them.
    expect(model.supportVectors.length).toBe(93);
    const valid = sliceRows(cancer, 0, 114);
    const p = predict(model, valid.x);
    expect(hardLabelAuc(valid.y, p.predictions)).toBe((46 / 46 + 42 / 68) / 2);
    expect(rocAuc(valid.y, p.scores as Float64Array)).toBeCloseTo(
      summary.sites['site-1']?.metrics['auc'] ?? 0,
      12,
    );
  });

  test('a job configured for three rounds fails before training with a clear error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vflare-svm-3-'));
    cpSync(join(EXAMPLES, 'svm-breast-cancer'), dir, { recursive: true });
    const server = join(dir, 'app/config/server.json');
    writeFileSync(server, readFileSync(server, 'utf8').replace('"numRounds": 2', '"numRounds": 3'));
    const { summary } = await simulateJob({
      jobDir: dir,
      registry: defaultRegistry(),
      workspace: join(dir, 'ws'),
    });
    expect(summary.status).toBe('execution-exception');
    expect(summary.rounds).toBe(0);
    expect(summary.error).toMatch(/exactly two rounds.*set numRounds to 2/);
  });
});
