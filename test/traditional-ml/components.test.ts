import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { ComponentEnv } from '../../src/runtime/core/index.js';
import { silentLogger } from '../../src/runtime/core/index.js';
import {
  kmeansLearner,
  linearLearner,
  modelPersistor,
} from '../../src/traditional-ml/components.js';
import { LearnerExecutor } from '../../src/traditional-ml/learner/learner.js';
import { EXAMPLES } from './helpers.js';

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
