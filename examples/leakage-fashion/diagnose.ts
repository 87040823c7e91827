/**
 * Why does a batch client's RDLV come out where it does? Replays this example's FedAvg in one
 * process (same model, data ranges, learning rate, batch sizes and attack as the job's configs;
 * plain step-weighted FedAvg, an update above the threshold withheld) and prints per round and
 * scored site:
 *
 * - the RDLV of the attack, and its final update distance;
 * - `mean`: the RDLV that the plain mean of the site's own images would score, and `err-mean`:
 *   the same for the mean weighted by each image's logit error |p − y| (the weights the images
 *   carry in a one-step update). Neither recovers any single image;
 * - `effN`: the effective number of images in the update, (Σ|e|)² / Σ|e|², and the largest
 *   share of one image, from the per-image logit errors at the global model.
 *
 * Usage: `npx tsx examples/leakage-fashion/diagnose.ts [--seed N] [--labels job|auto|idlg|optimize]
 * [--lr X] [--model '<ModelSpec JSON>'] [--rounds N] [--attack-seed N]`. The attack seed
 * starts the dummies' jitter and soft labels (default: the job's, 0). A research aid, not part of the job.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { idxSlice, meanImagePrior } from '../../src/leakage/data.js';
import { type InversionConfig, invertUpdate } from '../../src/leakage/inversion/index.js';
import { type LocalData, trainLocal } from '../../src/leakage/learner/train.js';
import { image, relativeDataLeakage } from '../../src/leakage/metrics/index.js';
import {
  buildLayersModel,
  type ModelSpec,
  readWeights,
  subtractWeights,
  writeWeights,
} from '../../src/leakage/model/index.js';
import type { TensorMap } from '../../src/runtime/core/index.js';
import { quietTfjs } from '../../src/tf/index.js';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const { values: flags } = parseArgs({
  options: {
    seed: { type: 'string', default: '0' },
    labels: { type: 'string' },
    lr: { type: 'string' },
    model: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    'attack-seed': { type: 'string' },
  },
});

interface LearnerArgs {
  model: ModelSpec;
  learningRate: number;
  batchSize: number;
  data: { path: string; part: 'train' | 't10k'; classes: number[] };
  train: [number, number];
  valid: [number, number];
}
const scored = JSON.parse(readFileSync(here('app_scored/config/client.json'), 'utf8'));
const bulk = JSON.parse(readFileSync(here('app_bulk/config/client.json'), 'utf8'));
const base: LearnerArgs = scored.executors[0].executor.args;
const leakArgs = scored.filters.taskResult[0].filters.find(
  (f: { type: string }) => f.type === 'leakage.LeakageFilter',
).args;
const spec: ModelSpec = flags.model === undefined ? base.model : JSON.parse(flags.model);
const lr = flags.lr === undefined ? base.learningRate : Number(flags.lr);
// `--labels auto` drops the job's label setting: iDLG for one image, DLG soft labels for more.
const { labels: jobLabels, ...attack } = leakArgs.inversion as InversionConfig;
const labels = flags.labels ?? 'job';
if (!['job', 'auto', 'idlg', 'optimize'].includes(labels)) {
  throw new Error(`--labels: expected job, auto, idlg or optimize, got "${labels}"`);
}
const seeded = {
  ...attack,
  ...(flags['attack-seed'] === undefined ? {} : { seed: Number(flags['attack-seed']) }),
};
const inversion: InversionConfig =
  labels === 'auto'
    ? seeded
    : labels === 'job'
      ? { ...seeded, ...(jobLabels === undefined ? {} : { labels: jobLabels }) }
      : { ...seeded, labels: labels as 'idlg' | 'optimize' };
const dir = here(base.data.path);
const classes = base.data.classes;
const sites = [
  ...Object.entries(scored.sites as Record<string, { learner: Partial<LearnerArgs> }>).map(
    ([name, s]) => ({ name, ...base, ...s.learner, scored: true }),
  ),
  { name: 'site-4', ...(bulk.executors[0].executor.args as LearnerArgs), scored: false },
];
const prior = meanImagePrior(dir, base.data.part, leakArgs.prior.range, classes);
const test = idxSlice(dir, base.data.part, base.valid, classes);
const [h, w, c] = spec.inputShape;
const px = h * w * c;
const asImage = (x: Float32Array) => image(x, h, w, c);
const imagesOf = (d: LocalData) =>
  Array.from({ length: d.count }, (_, i) => asImage(d.images.slice(i * px, (i + 1) * px)));
const rdlvOf = (d: LocalData, recon: Float32Array[]) =>
  relativeDataLeakage(imagesOf(d), recon.map(asImage), asImage(prior), { dataRange: 1 }).rdlv;

/** Per-image |p − y| at the current model, and the images' plain and error-weighted means. */
function batchTerms(model: tf.LayersModel, d: LocalData) {
  const err = tf.tidy(() => {
    const x = tf.tensor4d(d.images, [d.count, h, w, c]);
    const p = tf.softmax(model.apply(x, { training: true }) as tf.Tensor2D);
    const y = tf.oneHot(tf.tensor1d(d.labels, 'int32'), spec.classes);
    return Array.from(tf.norm(tf.sub(p, y), 2, 1).dataSync());
  });
  const sum = err.reduce((a, b) => a + b, 0);
  const mean = new Float32Array(px);
  const weighted = new Float32Array(px);
  for (let i = 0; i < d.count; i++) {
    for (let k = 0; k < px; k++) {
      mean[k]! += d.images[i * px + k]! / d.count;
      weighted[k]! += (err[i]! / sum) * d.images[i * px + k]!;
    }
  }
  const effN = (sum * sum) / err.reduce((a, b) => a + b * b, 0);
  return { mean, weighted, effN, maxShare: Math.max(...err) / sum };
}

function accuracy(model: tf.LayersModel): number {
  const pred = tf.tidy(() =>
    (model.predict(tf.tensor4d(test.images, [test.count, h, w, c])) as tf.Tensor2D)
      .argMax(1)
      .dataSync(),
  );
  let ok = 0;
  for (let i = 0; i < test.count; i++) if (pred[i] === test.labels[i]) ok++;
  return ok / test.count;
}

quietTfjs();
await tf.setBackend('cpu');
const model = buildLayersModel(spec, Number(flags.seed));
let global: TensorMap = readWeights(model);
console.log(
  `seed ${flags.seed}, attack seed ${inversion.seed ?? 0}, lr ${lr}, ` +
    `labels ${JSON.stringify(inversion.labels ?? 'auto')}`,
);
for (let round = 0; round < Number(flags.rounds); round++) {
  const kept: { update: TensorMap; steps: number }[] = [];
  for (const s of sites) {
    const data = idxSlice(dir, s.data.part, s.train, classes);
    writeWeights(model, global, tf);
    const terms = s.scored && data.count > 1 ? batchTerms(model, data) : undefined;
    const training = { learningRate: lr, batchSize: s.batchSize, epochs: 1 };
    const steps = trainLocal(model, data, spec.classes, training);
    const update = subtractWeights(readWeights(model), global);
    let withheld = false;
    if (s.scored) {
      const input = { spec, global, update, training, numImages: data.count, prior };
      const r = await invertUpdate(input, inversion);
      const rdlv = rdlvOf(data, [...r.images]);
      withheld = rdlv > (leakArgs.threshold ?? 1);
      const extra =
        terms === undefined
          ? ''
          : `  mean ${rdlvOf(data, [terms.mean]).toFixed(3)}` +
            `  err-mean ${rdlvOf(data, [terms.weighted]).toFixed(3)}` +
            `  effN ${terms.effN.toFixed(2)}/${data.count}` +
            `  max share ${terms.maxShare.toFixed(2)}`;
      console.log(
        `round ${round} ${s.name}: RDLV ${rdlv.toFixed(3)} (distance ` +
          `${r.distance.toExponential(1)})${extra}`,
      );
    }
    if (!withheld) kept.push({ update, steps });
  }
  const total = kept.reduce((a, k) => a + k.steps, 0);
  global = Object.fromEntries(
    Object.entries(global).map(([name, t]) => {
      const next = Float32Array.from(t.data);
      for (const { update, steps } of kept) {
        const d = update[name]!.data;
        for (let i = 0; i < next.length; i++) next[i]! += (d[i]! * steps) / total;
      }
      return [name, { shape: t.shape, data: next }];
    }),
  );
  writeWeights(model, global, tf);
  console.log(`round ${round}: test accuracy after aggregation ${accuracy(model).toFixed(4)}`);
}
model.dispose();
