/**
 * Leakage benchmarks (suite `leakage`): seconds per scored client-round, i.e. one full attack
 * by the leakage filter (inversion + RDLV scoring), for the example's model (conv 4×3×3,
 * sigmoid, average pool 2, dense; 28×28 Fashion-MNIST, 2 classes) at batch sizes 1, 4 and 8
 * (one local step on as many images), and for a dense first layer (analytic path).
 *
 * Peer: the client's own local training step for the same update, measured in the same run;
 * ratio = attack time / training time (how many times the filter multiplies the client's
 * compute per scored round). CPU backend (the inverter needs second-order gradients).
 * `--quick` runs 10 iterations instead of the example's 40.
 */

import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { idxSlice, meanImagePrior } from '../../src/leakage/data.js';
import { invertUpdate } from '../../src/leakage/inversion/index.js';
import { trainLocal } from '../../src/leakage/learner/train.js';
import { image, relativeDataLeakage } from '../../src/leakage/metrics/index.js';
import {
  buildLayersModel,
  type ModelSpec,
  readWeights,
  subtractWeights,
} from '../../src/leakage/model/index.js';
import { quietTfjs } from '../../src/tf/index.js';
import type { Figure, Suite } from '../types.js';

const dir = fileURLToPath(new URL('../../examples/data/fashion-mnist', import.meta.url));
const classes = [0, 6];

const conv: ModelSpec = {
  inputShape: [28, 28, 1],
  classes: 2,
  layers: [
    { type: 'conv2d', filters: 4, kernelSize: 3, activation: 'sigmoid' },
    { type: 'avgpool2d', poolSize: 2 },
    { type: 'flatten' },
    { type: 'dense', units: 2 },
  ],
};
const dense: ModelSpec = {
  inputShape: [28, 28, 1],
  classes: 2,
  layers: [
    { type: 'flatten' },
    { type: 'dense', units: 32, activation: 'sigmoid' },
    { type: 'dense', units: 2 },
  ],
};

async function scoredRound(spec: ModelSpec, batch: number, iterations: number) {
  const data = idxSlice(dir, 't10k', [0, batch], classes);
  const prior = meanImagePrior(dir, 't10k', [1700, 2000], classes);
  const model = buildLayersModel(spec, 0);
  const global = readWeights(model);
  const training = { learningRate: 0.1, batchSize: batch, epochs: 1 };
  const t0 = performance.now();
  trainLocal(model, data, 2, training);
  const trainSeconds = (performance.now() - t0) / 1000;
  const update = subtractWeights(readWeights(model), global);
  model.dispose();
  const t1 = performance.now();
  const r = await invertUpdate(
    { spec, global, update, training, numImages: batch, prior },
    { iterations, learningRate: 0.2, tv: 1e-4 },
  );
  const px = 784;
  const asImg = (x: Float32Array) => image(x, 28, 28);
  const originals = Array.from({ length: batch }, (_, i) =>
    asImg(data.images.slice(i * px, (i + 1) * px)),
  );
  const rd = relativeDataLeakage(originals, r.images.map(asImg), asImg(prior), { dataRange: 1 });
  return { attackSeconds: (performance.now() - t1) / 1000, trainSeconds, rdlv: rd.rdlv };
}

const suite: Suite = {
  name: 'leakage',
  description: 'seconds per scored client-round of the leakage filter (inversion + RDLV), CPU',
  async run(options) {
    quietTfjs();
    await tf.setBackend('cpu');
    const iterations = options.quick ? 10 : 40;
    const figures: Figure[] = [];
    for (const batch of [1, 4, 8]) {
      options.log(`conv model, batch ${batch}, ${iterations} iterations`);
      const r = await scoredRound(conv, batch, iterations);
      figures.push({
        name: `scored client-round, example conv model, batch ${batch} (${iterations} its)`,
        value: r.attackSeconds,
        unit: 's',
        peer: 'the local training step',
        peerValue: r.trainSeconds,
        ratio: r.attackSeconds / r.trainSeconds,
        note: `ratio = attack / training time; RDLV of this round ${r.rdlv.toFixed(3)}`,
      });
      figures.push({
        name: `seconds per inversion iteration, conv model, batch ${batch}`,
        value: r.attackSeconds / iterations,
        unit: 's',
      });
    }
    options.log('dense first layer, analytic path, batch 1');
    const d = await scoredRound(dense, 1, iterations);
    figures.push({
      name: 'scored client-round, dense first layer (analytic), batch 1',
      value: d.attackSeconds,
      unit: 's',
      peer: 'the local training step',
      peerValue: d.trainSeconds,
      ratio: d.attackSeconds / d.trainSeconds,
      note: `RDLV ${d.rdlv.toFixed(3)} (exact recovery)`,
    });
    return figures;
  },
};

export default suite;
