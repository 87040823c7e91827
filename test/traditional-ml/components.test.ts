import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { ComponentEnv, TensorMap } from '../../src/runtime/core/index.js';
import { silentLogger } from '../../src/runtime/core/index.js';
import {
  kmeansLearner,
  linearLearner,
  modelPersistor,
} from '../../src/traditional-ml/components.js';
import { loadCsv } from '../../src/traditional-ml/data/csv.js';
import { sliceRows } from '../../src/traditional-ml/data/dataset.js';
import { ForestAssembler, forestToTensors } from '../../src/traditional-ml/forest/federated.js';
import { growForest } from '../../src/traditional-ml/forest/forest.js';
import { KmeansAssembler } from '../../src/traditional-ml/kmeans/federated.js';
import { cloneTensors, LearnerExecutor } from '../../src/traditional-ml/learner/learner.js';
import { SvmAssembler, svmParamsSchema } from '../../src/traditional-ml/svm/federated.js';
import { libsvm } from '../../src/traditional-ml/svm/libsvm.js';
import { trainSvm } from '../../src/traditional-ml/svm/svm.js';
import { supportTensors } from '../../src/traditional-ml/svm/tensors.js';
import { EXAMPLES } from './helpers.js';

const CANCER = join(EXAMPLES, 'svm-breast-cancer/data/breast_cancer.csv');

function env(dataRoot: string): ComponentEnv {
  return {
    site: 'site-1',
    dataRoot,
    jobDir: dataRoot,
    workspace: mkdtempSync(join(tmpdir(), 'vflare-tml-comp-')),
    seed: 0,
    logger: silentLogger,
    resolve: () => undefined,
  };
}

const irisArgs = (path: string) =>
  kmeansLearner.args.parse({ data: { path }, train: [0, 50], nClusters: 3 });

describe('job-config components', () => {
  test('a learner reads data under the site data root', async () => {
    const e = kmeansLearner.create(irisArgs('data/iris.csv'), env(join(EXAMPLES, 'kmeans-iris')));
    expect(e).toBeInstanceOf(LearnerExecutor);
    await (e as LearnerExecutor).learner.initialise({
      site: 'site-1',
      seed: 0,
      dataRoot: join(EXAMPLES, 'kmeans-iris'),
    });
  });

  test('a learner refuses data paths that leave the site data root', () => {
    const root = join(EXAMPLES, 'kmeans-iris');
    for (const path of ['/etc/hosts', '../svm-breast-cancer/data/breast_cancer.csv']) {
      expect(() => kmeansLearner.create(irisArgs(path), env(root))).toThrow(
        /leaves the data root of site site-1/,
      );
    }
    const diabetes = linearLearner.args.parse({
      data: { path: 'data/x.csv', format: 'diabetes', targetPath: '../../y.csv' },
      train: [0, 10],
    });
    expect(() => linearLearner.create(diabetes, env(root))).toThrow(/leaves the data root/);
  });

  test('the model persistor refuses a file name outside the workspace', () => {
    for (const fileName of ['/tmp/evil.json', '../../evil.json']) {
      const r = modelPersistor.args.safeParse({ kind: 'kmeans', fileName });
      expect(r.success).toBe(false);
    }
    expect(modelPersistor.args.safeParse({ kind: 'kmeans', fileName: 'm/k.json' }).success).toBe(
      true,
    );
  });
});

describe('server assemblers', () => {
  test('reject a contribution holding NaN or Infinity, naming site and variable only', () => {
    const iris = loadCsv(join(EXAMPLES, 'kmeans-iris/data/iris.csv')).dataset;
    const forest = forestToTensors(growForest(iris, { nTrees: 1, nClasses: 3, maxDepth: 2 }, 0));
    const svm = supportTensors(trainSvm(libsvm, sliceRows(loadCsv(CANCER).dataset, 0, 60)));
    const centres = { centres: { shape: [3, 4], data: new Float64Array(12) } };
    const cases: [(w: TensorMap) => unknown, TensorMap, string][] = [
      [
        (w) => new KmeansAssembler({ nClusters: 3 }, 0).collect({ weights: w }, 'site-2'),
        centres,
        'centres',
      ],
      [(w) => new ForestAssembler().collect({ weights: w }, 'site-2'), forest, 'threshold'],
      [
        (w) => new SvmAssembler(svmParamsSchema.parse({})).collect({ weights: w }, 'site-2', 0),
        svm,
        '',
      ],
    ];
    for (const [collect, weights, name] of cases) {
      expect(typeof collect(weights)).not.toBe('string');
      for (const poison of [Number.NaN, Number.POSITIVE_INFINITY]) {
        const w = cloneTensors(weights);
        const key =
          name === ''
            ? (Object.keys(w).find((k) => w[k]!.data instanceof Float64Array) as string)
            : name;
        (w[key]!.data as Float64Array)[0] = poison;
        expect(collect(w)).toBe(`site-2 sent non-finite values in "${key}"; rejected`);
      }
    }
  });
});
