import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { main } from '../../src/cli/main.js';
import { loadCsv } from '../../src/traditional-ml/data/csv.js';
import { sliceRows } from '../../src/traditional-ml/data/dataset.js';
import { growForest } from '../../src/traditional-ml/forest/forest.js';
import { clusterSeeds } from '../../src/traditional-ml/kmeans/kmeans.js';
import { sgdEpoch, zeroModel } from '../../src/traditional-ml/linear/sgd.js';
import {
  forestModelToJson,
  kmeansModelToJson,
  linearModelToJson,
  predict,
  svmModelToJson,
  type TmlModel,
} from '../../src/traditional-ml/model/format.js';
import { loadTmlModel, saveTmlModel } from '../../src/traditional-ml/model/io.js';
import { predictCsv } from '../../src/traditional-ml/model/predict.js';
import { createRng } from '../../src/traditional-ml/random/index.js';
import { libsvm } from '../../src/traditional-ml/svm/libsvm.js';
import { trainSvm } from '../../src/traditional-ml/svm/svm.js';
import { EXAMPLES } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'vflare-tml-model-'));
const cancer = loadCsv(join(EXAMPLES, 'svm-breast-cancer/data/breast_cancer.csv')).dataset;
const iris = loadCsv(join(EXAMPLES, 'kmeans-iris/data/iris.csv')).dataset;
const train = sliceRows(cancer, 114, 569);
const valid = sliceRows(cancer, 0, 114);

function models(): Record<string, { model: TmlModel; x: Float64Array | Float32Array }> {
  let lin = zeroModel('log', 30);
  lin = sgdEpoch(lin, train, { loss: 'log', learningRate: 1e-6 }, createRng(0));
  return {
    linear: { model: linearModelToJson(lin), x: valid.x },
    svm: { model: svmModelToJson(trainSvm(libsvm, train)), x: valid.x },
    kmeans: {
      model: kmeansModelToJson(clusterSeeds(Float64Array.from(iris.x), 4, 3, 0), 4),
      x: iris.x,
    },
    forest: {
      model: forestModelToJson(growForest(iris, { nTrees: 5, nClasses: 3, maxDepth: 4 }, 0)),
      x: iris.x,
    },
  };
}

describe('saved models', () => {
  for (const [kind, { model, x }] of Object.entries(models())) {
    test(`a ${kind} model saved and loaded gives identical predictions`, async () => {
      const path = join(dir, `${kind}.json`);
      await saveTmlModel(path, model);
      const loaded = await loadTmlModel(path);
      expect(loaded).toEqual(model);
      const a = predict(model, x);
      const b = predict(loaded, x);
      expect(Array.from(b.predictions)).toEqual(Array.from(a.predictions));
      expect(b.scores === undefined ? undefined : Array.from(b.scores)).toEqual(
        a.scores === undefined ? undefined : Array.from(a.scores),
      );
    });
  }

  test('a document that is not a model is refused with the field at fault', async () => {
    const path = join(dir, 'bad.json');
    writeFileSync(
      path,
      JSON.stringify({ format: 'vflare-tml-model', version: 1, kind: 'svm', cols: 2 }),
    );
    await expect(loadTmlModel(path)).rejects.toThrow(/not a vflare traditional-ML model: kernel/);
    writeFileSync(path, 'not json');
    await expect(loadTmlModel(path)).rejects.toThrow(/is not JSON/);
    const m = models()['kmeans']!.model;
    await expect(
      Promise.resolve().then(() => predict(m, Float64Array.of(1, 2, 3))),
    ).rejects.toThrow(/rows must have 4 features/);
  });

  test('predictCsv scores a labelled CSV and reports its quality', async () => {
    const path = join(dir, 'svm-for-csv.json');
    await saveTmlModel(path, models()['svm']!.model);
    const csv = join(dir, 'rows.csv');
    const lines: string[] = [];
    for (let r = 0; r < valid.rows; r++) {
      lines.push([...valid.x.subarray(r * 30, r * 30 + 30), valid.y[r]].join(','));
    }
    writeFileSync(csv, `${lines.join('\n')}\n`);
    const r = await predictCsv(path, csv);
    expect(r.rows).toBe(114);
    expect(r.metrics?.['hardLabelAuc']).toBe((46 / 46 + 42 / 68) / 2);
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(['predict', path, csv], {
      out: (t) => out.push(t),
      err: (t) => err.push(t),
      isTTY: false,
    });
    expect(code).toBe(0);
    const printed = out.join('').trim().split('\n');
    expect(printed[0]).toBe('prediction,score');
    expect(printed).toHaveLength(115);
    expect(Number(printed[1]?.split(',')[0])).toBe(r.predictions[0]);
    expect(err.join('')).toMatch(/svm model, 114 row\(s\) scored/);
    const bad = await main(['predict', path, join(EXAMPLES, 'kmeans-iris/data/iris.csv')], {
      out: () => {},
      err: (t) => err.push(t),
      isTTY: false,
    });
    expect(bad).toBe(1);
    expect(err.join('')).toMatch(/rows have 5 columns; the svm model takes 30 features/);
  });

  test('predictCsv refuses a label the model has no class for, naming the row only', async () => {
    const rows = (model: string, data: Float64Array | Float32Array, cols: number, y: number[]) => {
      const csv = join(dir, `labels-${model}.csv`);
      const lines = y.map((v, r) => [...data.subarray(r * cols, r * cols + cols), v].join(','));
      writeFileSync(csv, `${lines.join('\n')}\n`);
      return csv;
    };
    const all = models();
    for (const [name, cols, y] of [
      ['svm', 30, [0, 1, 7, 0]],
      ['linear', 30, [0, 1, 0.5, 1]],
      ['forest', 4, [0, 2, 3, 1]],
    ] as const) {
      const path = join(dir, `labels-${name}.json`);
      await saveTmlModel(path, all[name]!.model);
      const csv = rows(name, all[name]!.x, cols, [...y]);
      await expect(predictCsv(path, csv)).rejects.toThrow(
        new RegExp(`data row 3 has a label that is not a class of the ${name} model`),
      );
      await expect(predictCsv(path, csv)).rejects.not.toThrow(/0\.5|\b7\b/);
    }
  });

  test('predict refuses NaN and Infinity rows, naming the position only', () => {
    const m = models()['linear']!.model;
    const x = Float64Array.from(valid.x.subarray(0, 60));
    x[33] = Number.NaN;
    expect(() => predict(m, x)).toThrow(/row 2, feature 4 is not a finite number/);
    x[33] = Number.POSITIVE_INFINITY;
    expect(() => predict(m, x)).toThrow(/row 2, feature 4/);
  });

  test('a JSON file that is not a model document says what is expected', async () => {
    const path = join(dir, 'summary.json');
    for (const doc of [{ job: 'x', status: 'completed' }, [], null, 3]) {
      writeFileSync(path, JSON.stringify(doc));
      await expect(loadTmlModel(path)).rejects.toThrow(
        /is not a vflare traditional-ML model \(no "format": "vflare-tml-model"\)/,
      );
    }
    const m = { ...models()['linear']!.model, coef: [1] };
    writeFileSync(path, JSON.stringify(m));
    await expect(loadTmlModel(path)).rejects.toThrow(/coef has 1 values, cols says 30/);
  });

  test('the CLI refuses bad input with exit code 1, one error line and no stack', async () => {
    const path = join(dir, 'svm-cli.json');
    await saveTmlModel(path, models()['svm']!.model);
    const head = join(dir, 'badfirst.csv');
    const row = Array.from(valid.x.subarray(0, 30));
    writeFileSync(head, `${['NaN', ...row.slice(1)].join(',')}\n${row.join(',')}\n`);
    const empty = join(dir, 'empty.csv');
    writeFileSync(empty, '');
    const good = join(dir, 'good.csv');
    writeFileSync(good, `${row.join(',')}\n`);
    const cases: [string[], RegExp][] = [
      [['predict', path, head], /data row 1, column 1 is not a finite number/],
      [['predict', path, empty], /no data rows/],
      [['predict', path, join(dir, 'missing.csv')], /cannot read .*missing\.csv/],
      [['predict', join(dir, 'missing.json'), good], /cannot read model/],
      [['predict', path, good, '--out', join(dir, 'no/such/dir/p.csv')], /--out: cannot write/],
      [['predict', path, good, '--label', 'middle'], /--label: expected one of/],
    ];
    for (const [argv, message] of cases) {
      const err: string[] = [];
      const code = await main(argv, { out: () => {}, err: (t) => err.push(t), isTTY: false });
      expect(code).toBe(1);
      const text = err.join('');
      expect(text).toMatch(message);
      expect(text).not.toMatch(/\n\s+at /);
      expect(text).not.toContain(String(row[1]));
    }
  });
});
