import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { GaussianMechanism } from '../../src/leakage/filters/index.js';
import { LeakageFilter, type LeakageScore } from '../../src/leakage/leakage-filter.js';
import { TfFedAvgExecutor } from '../../src/leakage/learner/index.js';
import { image, relativeDataLeakage } from '../../src/leakage/metrics/index.js';
import type { ModelSpec } from '../../src/leakage/model/index.js';
import {
  type ExecutorContext,
  type JobStateEntries,
  type Payload,
  type PeerMessenger,
  type SiteContextEntries,
  silentLogger,
  TypedStore,
} from '../../src/runtime/core/index.js';
import { fashionImage, meanImage } from './fashion.js';
import { filterContext } from './helpers.js';

const spec: ModelSpec = {
  inputShape: [28, 28, 1],
  classes: 10,
  layers: [
    { type: 'flatten' },
    { type: 'dense', units: 8, activation: 'sigmoid' },
    { type: 'dense', units: 10 },
  ],
};

function executorContext(
  siteContext: TypedStore<SiteContextEntries>,
  round: number,
  taskName: string,
) {
  const metrics: Record<string, number> = {};
  const ctx: ExecutorContext = {
    site: 'site-1',
    jobId: 'job',
    taskName,
    round,
    signal: new AbortController().signal,
    logger: silentLogger,
    peers: {} as PeerMessenger,
    siteContext,
    jobState: new TypedStore<JobStateEntries>(),
    workspace: '/tmp',
    dataRoot: '/tmp',
    seed: 1,
    reportMetrics: (m) => Object.assign(metrics, m),
  };
  return { ctx, metrics };
}

const task = (name: string, round: number, payload: Payload | null) => ({
  headers: { jobId: 'job', taskName: name, taskId: `${name}-${round}`, round },
  payload,
});

describe('the TensorFlow.js FedAvg learner and the leakage filter', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  const one = fashionImage(3);
  const makeExecutor = () =>
    new TfFedAvgExecutor({
      spec,
      learningRate: 0.1,
      batchSize: 1,
      trainData: () => ({
        images: one.image,
        labels: Int32Array.from([one.label]),
        count: 1,
        shape: [28, 28, 1],
      }),
    });

  it('sends a weight difference with its step count and publishes its context', async () => {
    const siteContext = new TypedStore<SiteContextEntries>();
    const ex = makeExecutor();
    const { ctx } = executorContext(siteContext, 0, 'get_weights');
    const global = (await ex.execute(task('get_weights', 0, null), ctx))!;
    expect(global.kind).toBe('weights');
    const out = (await ex.execute(task('train', 0, global), { ...ctx, taskName: 'train' }))!;
    expect(out.kind).toBe('weight-diff');
    expect(out.meta.numStepsCurrentRound).toBe(1);
    const info = siteContext.get('leakage.learner')!;
    expect(info.training).toEqual({ learningRate: 0.1, batchSize: 1, epochs: 1 });
    expect(info.trainingData().count).toBe(1);
    await expect(ex.execute(task('train', 1, null), ctx)).rejects.toThrow(/weights payload/);
    await ex.finalize();
  });

  it('scores every frequency-th round from startRound, saves JSON and withholds above threshold', async () => {
    const siteContext = new TypedStore<SiteContextEntries>();
    const ex = makeExecutor();
    const { ctx } = executorContext(siteContext, 0, 'train');
    const global = (await ex.execute(task('get_weights', 0, null), ctx))!;
    const workspace = mkdtempSync(join(tmpdir(), 'vflare-leakage-'));
    const filter = new LeakageFilter({
      frequency: 2,
      startRound: 2,
      threshold: 0.5,
      prior: meanImage(9000, 9500),
    });
    const tensorsAt: number[] = [];
    for (const round of [1, 2, 3, 4]) {
      const update = (await ex.execute(task('train', round, global), { ...ctx, round }))!;
      const fctx = filterContext({ round, globalModel: global, siteContext, workspace });
      const out = await filter.process(update, fctx);
      const file = join(workspace, 'leakage', `rdlv_round${round}.json`);
      if (round % 2 === 1) {
        expect(out).toBe(update);
        expect(existsSync(file)).toBe(false);
        continue;
      }
      tensorsAt.push(tf.memory().numTensors);
      const score = JSON.parse(readFileSync(file, 'utf8')) as LeakageScore;
      // A dense first layer gives its single input away exactly: the update is withheld.
      expect(score.method).toBe('analytic');
      expect(score.batchMeanRdlv).toBeNull();
      expect(score.privacy).toBeNull();
      expect(score.rdlv).toBeGreaterThan(0.5);
      expect(score.withheld).toBe(true);
      expect(out.kind === 'weight-diff' && Object.keys(out.weights)).toEqual([]);
      expect(out.meta.numStepsCurrentRound).toBe(0);
      const warn = fctx.logs.records.find((r) => r.level === 'warn');
      expect(warn?.msg).toMatch(/withheld/);
      // No private values in the log record.
      expect(JSON.stringify(warn?.obj)).not.toMatch(/perImage|images/);
    }
    expect(tensorsAt[1]).toBe(tensorsAt[0]);
    expect(siteContext.get('leakage.scores')!.map((s) => s.round)).toEqual([2, 4]);
    await ex.finalize();
  });

  it('records the batch-mean baseline and the Gaussian ledger it scored under', async () => {
    const picks = [3, 4, 5].map((i) => fashionImage(i));
    const images = new Float32Array(3 * 784);
    for (const [i, p] of picks.entries()) images.set(p.image, i * 784);
    const siteContext = new TypedStore<SiteContextEntries>();
    const ex = new TfFedAvgExecutor({
      spec,
      learningRate: 0.1,
      batchSize: 3,
      trainData: () => ({
        images,
        labels: Int32Array.from(picks.map((p) => p.label)),
        count: 3,
        shape: [28, 28, 1],
      }),
    });
    const { ctx } = executorContext(siteContext, 0, 'train');
    const global = (await ex.execute(task('get_weights', 0, null), ctx))!;
    const workspace = mkdtempSync(join(tmpdir(), 'vflare-leakage-'));
    const prior = meanImage(9000, 9500);
    const noise = new GaussianMechanism({ clipNorm: 1, noiseMultiplier: 4, delta: 1e-6 });
    const leak = new LeakageFilter({ threshold: 1e9, prior });
    for (const round of [0, 1]) {
      const fctx = filterContext({ round, globalModel: global, siteContext, workspace });
      const update = (await ex.execute(task('train', round, global), { ...ctx, round }))!;
      await leak.process(await noise.process(update, fctx), fctx);
    }
    const score = JSON.parse(
      readFileSync(join(workspace, 'leakage', 'rdlv_round1.json'), 'utf8'),
    ) as LeakageScore;
    expect(score.privacy).toEqual({ ...noise.ledger.spent(), rounds: 2 });
    expect(score.privacy!.epsilon).toBeGreaterThan(0);
    const mean = new Float32Array(784);
    for (let p = 0; p < 784; p++) mean[p] = (images[p]! + images[784 + p]! + images[1568 + p]!) / 3;
    const asImage = (x: Float32Array) => image(x, 28, 28);
    const expected = relativeDataLeakage(
      picks.map((p) => asImage(p.image)),
      [asImage(mean)],
      asImage(prior),
      { dataRange: 1 },
    ).rdlv;
    expect(score.batchMeanRdlv).toBeCloseTo(expected, 5);
    await ex.finalize();
  });

  it('lets a low-leakage update through and fails clearly without a learner', async () => {
    const siteContext = new TypedStore<SiteContextEntries>();
    const ex = makeExecutor();
    const { ctx } = executorContext(siteContext, 0, 'train');
    const global = (await ex.execute(task('get_weights', 0, null), ctx))!;
    const update = (await ex.execute(task('train', 0, global), ctx))!;
    const workspace = mkdtempSync(join(tmpdir(), 'vflare-leakage-'));
    const lenient = new LeakageFilter({ threshold: 1e9, prior: meanImage(9000, 9500) });
    const out = await lenient.process(
      update,
      filterContext({ globalModel: global, siteContext, workspace }),
    );
    expect(out).toBe(update);
    const bare = filterContext({ globalModel: global, workspace });
    await expect(lenient.process(update, bare)).rejects.toThrow(/leakage\.learner/);
    expect(() => new LeakageFilter({ frequency: 0, prior: new Float32Array(784) })).toThrow(
      /frequency/,
    );
    await ex.finalize();
  });
});
