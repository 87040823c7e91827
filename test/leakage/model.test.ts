import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { recoverBatchStatistic } from '../../src/leakage/inversion/index.js';
import { trainLocal } from '../../src/leakage/learner/train.js';
import {
  buildLayersModel,
  forward,
  type ModelSpec,
  readWeights,
  simulateUpdate,
  subtractWeights,
} from '../../src/leakage/model/index.js';

const spec: ModelSpec = {
  inputShape: [8, 8, 1],
  classes: 3,
  layers: [
    { type: 'conv2d', filters: 2, kernelSize: 3, activation: 'sigmoid' },
    { type: 'avgpool2d', poolSize: 2 },
    { type: 'flatten' },
    { type: 'dense', units: 3 },
  ],
};

function toParams(w: ReturnType<typeof readWeights>): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const [k, t] of Object.entries(w)) out[k] = tf.tensor(t.data as Float32Array, [...t.shape]);
  return out;
}

describe('the functional twin of a model spec', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('computes the same logits as the layers model (im2col conv, reshape pooling)', () => {
    const model = buildLayersModel(spec, 3);
    const x = tf.randomUniform([2, 8, 8, 1], 0, 1, 'float32', 1) as tf.Tensor4D;
    const want = model.predict(x) as tf.Tensor;
    const params = toParams(readWeights(model));
    const got = forward(spec, params, x, false).logits;
    expect(Array.from(got.dataSync())).toEqual(
      Array.from(want.dataSync()).map((v) => expect.closeTo(v, 5)),
    );
    tf.dispose([x, want, got, ...Object.values(params)]);
    model.dispose();
  });

  it('replays local SGD to the same weight change as training the layers model', () => {
    const model = buildLayersModel(spec, 4);
    const before = readWeights(model);
    const images = Float32Array.from({ length: 3 * 64 }, (_, i) => (Math.sin(i) + 1) / 2);
    const labels = Int32Array.from([0, 2, 1]);
    const cfg = { learningRate: 0.5, batchSize: 2, epochs: 2 };
    const steps = trainLocal(model, { images, labels, count: 3, shape: [8, 8, 1] }, 3, cfg);
    expect(steps).toBe(4);
    const delta = subtractWeights(readWeights(model), before);
    const params = toParams(before);
    const x = tf.tensor4d(images, [3, 8, 8, 1]);
    const y = tf.oneHot(tf.tensor1d(labels, 'int32'), 3) as tf.Tensor2D;
    const sim = simulateUpdate(spec, params, x, y, cfg);
    for (const [name, t] of Object.entries(sim.delta)) {
      const want = Array.from(delta[name]!.data);
      const got = Array.from(t.dataSync());
      got.forEach((v, i) => {
        expect(v).toBeCloseTo(want[i]!, 5);
      });
    }
    model.dispose();
  });

  it('handles batch norm: same logits at inference, same weight change in training', () => {
    const bnSpec: ModelSpec = {
      inputShape: [8, 8, 1],
      classes: 3,
      layers: [
        { type: 'conv2d', filters: 2, kernelSize: 3 },
        { type: 'batchnorm', momentum: 0.9 },
        { type: 'activation', activation: 'relu' },
        { type: 'avgpool2d', poolSize: 2 },
        { type: 'flatten' },
        { type: 'dense', units: 3 },
      ],
    };
    expect(() =>
      buildLayersModel({ ...bnSpec, layers: bnSpec.layers.filter((l) => l.type !== 'flatten') }),
    ).toThrow(/add a flatten layer/);
    const model = buildLayersModel(bnSpec, 5);
    const before = readWeights(model);
    const images = Float32Array.from({ length: 4 * 64 }, (_, i) => (Math.cos(i * 0.7) + 1) / 2);
    const x = tf.tensor4d(images, [4, 8, 8, 1]);
    const params = toParams(before);
    const want = model.predict(x) as tf.Tensor;
    const got = forward(bnSpec, params, x, false).logits;
    Array.from(got.dataSync()).forEach((v, i) => {
      expect(v).toBeCloseTo(want.dataSync()[i]!, 4);
    });
    const labels = Int32Array.from([0, 1, 2, 1]);
    const cfg = { learningRate: 0.3, batchSize: 4, epochs: 1 };
    trainLocal(model, { images, labels, count: 4, shape: [8, 8, 1] }, 3, cfg);
    const delta = subtractWeights(readWeights(model), before);
    // The running mean moved towards the batch mean: the inverter's recovery gets it back.
    const batchMean = forward(bnSpec, params, x, true).batchStats[0]!.mean.dataSync();
    const recovered = recoverBatchStatistic(
      before['1.BatchNormalization.moving_mean']!.data as Float32Array,
      delta['1.BatchNormalization.moving_mean']!.data as Float32Array,
      0.9,
    );
    Array.from(recovered).forEach((v, i) => {
      expect(v).toBeCloseTo(batchMean[i]!, 3);
    });
    const y = tf.oneHot(tf.tensor1d(labels, 'int32'), 3) as tf.Tensor2D;
    const sim = simulateUpdate(bnSpec, params, x, y, cfg);
    for (const [name, t] of Object.entries(sim.delta)) {
      const w = Array.from(delta[name]!.data);
      Array.from(t.dataSync()).forEach((v, i) => {
        expect(v).toBeCloseTo(w[i]!, 4);
      });
    }
    model.dispose();
  });
});
