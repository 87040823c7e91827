/**
 * Gradient inversion of a FedAvg update, written from the papers:
 *
 * - DLG (Zhu, Liu, Han, NeurIPS 2019): optimise dummy images and soft labels so that the
 *   update they produce matches the observed one;
 * - iDLG (Zhao, Mopuri, Bilen, 2020): take labels from the last layer instead (`labels: 'idlg'`);
 * - Inverting Gradients (Geiping, Bauermeister, Dröge, Moeller, NeurIPS 2020): cosine distance,
 *   total-variation prior, Adam, box constraint, and matching a multi-step local update by
 *   replaying the client's local SGD (its learning rate, batch size and epochs);
 * - Hatamizadeh et al. (IEEE TMI 2023) / NVFlare's research example: start from a prior image,
 *   warm-up then cosine learning-rate schedule, match batch-norm statistics recovered from the
 *   running-average update.
 *
 * An exact closed-form path handles models whose first parametric layer is dense.
 */
import * as tf from '@tensorflow/tfjs';
import { fail, type TensorMap, VflareError } from '../../runtime/core/index.js';
import {
  type LocalTrainingConfig,
  type ModelSpec,
  simulateUpdate,
  trainableNames,
  validateSpec,
  variableName,
} from '../model/index.js';
import { recoverBatchStatistic, recoverDenseInputs, recoverLabels } from './analytic.js';

export interface InversionConfig {
  /** Adam iterations; default 400. */
  readonly iterations?: number;
  /** Peak step size; default 0.1. */
  readonly learningRate?: number;
  /** Linear warm-up iterations before the cosine decay; default 50. */
  readonly warmup?: number;
  /** Update distance; default `cosine` (scale-invariant, Geiping et al.). */
  readonly distance?: 'cosine' | 'l2';
  /** Weight of the anisotropic TV-L1 prior (mean absolute neighbour difference); default 1e-4. */
  readonly tv?: number;
  /** Weight of the TV-L2 prior (mean squared neighbour difference); default 0. */
  readonly tvL2?: number;
  /** Weight of the image L2 prior (mean squared pixel); default 0. */
  readonly l2?: number;
  /** Weight of batch-norm statistic matching, used when the update carries them; default 0.1. */
  readonly bn?: number;
  /**
   * `idlg` (from the last bias change; exact for one image, a class ranking for several),
   * `optimize` (DLG soft labels), or the labels when known. Default: `idlg` for one image,
   * `optimize` otherwise.
   */
  readonly labels?: 'idlg' | 'optimize' | readonly number[];
  /** Use the exact dense-first-layer recovery when the model allows it; default true. */
  readonly analytic?: boolean;
  /** Seeds the symmetry-breaking jitter and soft-label start; default 0. */
  readonly seed?: number;
  readonly signal?: AbortSignal;
}

export interface InversionInput {
  readonly spec: ModelSpec;
  /** The global model the client started from (all variables). */
  readonly global: TensorMap;
  /** The client's weight change. */
  readonly update: TensorMap;
  /** The client's local SGD (from the learner's published hyper-parameters). */
  readonly training: LocalTrainingConfig;
  /** How many images the client trained on (how many to reconstruct). */
  readonly numImages: number;
  /** The attacker's prior image, H×W×C in [0, 1]; the starting point. */
  readonly prior: Float32Array;
}

export interface InversionResult {
  /** One H×W×C image in [0, 1] per reconstruction. */
  readonly images: readonly Float32Array[];
  readonly labels: readonly number[] | null;
  readonly method: 'analytic' | 'iterative';
  /** Final update distance (iterative), 0 for the analytic path. */
  readonly distance: number;
  readonly iterations: number;
}

function tensorOf(map: TensorMap, name: string, what: string): Float32Array {
  const t = map[name];
  if (t === undefined) {
    throw new VflareError(
      'INVALID_DATA',
      `gradient inversion: the ${what} has no variable "${name}"; was it excluded by a filter?`,
    );
  }
  return t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
}

/** Index of the first dense layer if it is the first layer with parameters, else -1. */
function firstDenseLayer(spec: ModelSpec): number {
  for (let i = 0; i < spec.layers.length; i++) {
    const t = spec.layers[i]!.type;
    if (t === 'dense') return i;
    if (t === 'conv2d' || t === 'batchnorm') return -1;
  }
  return -1;
}

export function labelsFromUpdate(spec: ModelSpec, update: TensorMap, count: number): number[] {
  const last = spec.layers.length - 1;
  const bias = tensorOf(update, variableName(last, spec.layers[last]!, 'bias'), 'update');
  return recoverLabels(bias, count);
}

/** Runs the inversion. Every tensor it creates is disposed before it returns. */
export async function invertUpdate(
  input: InversionInput,
  config: InversionConfig = {},
): Promise<InversionResult> {
  validateSpec(input.spec);
  const [h, w, c] = input.spec.inputShape;
  if (input.prior.length !== h * w * c) {
    fail('inversion prior', `${h}×${w}×${c} samples`, String(input.prior.length));
  }
  if (!Number.isInteger(input.numImages) || input.numImages < 1) {
    fail('inversion numImages', 'an integer ≥ 1', String(input.numImages));
  }
  // iDLG's label rule is exact for one image only; with several, optimise soft labels (DLG).
  const labelMode = config.labels ?? (input.numImages === 1 ? 'idlg' : 'optimize');
  const labels =
    labelMode === 'idlg'
      ? labelsFromUpdate(input.spec, input.update, input.numImages)
      : labelMode === 'optimize'
        ? null
        : [...labelMode];
  const dense = firstDenseLayer(input.spec);
  if ((config.analytic ?? true) && dense >= 0) {
    const l = input.spec.layers[dense]!;
    const images = recoverDenseInputs(
      tensorOf(input.update, variableName(dense, l, 'kernel'), 'update'),
      tensorOf(input.update, variableName(dense, l, 'bias'), 'update'),
      h * w * c,
      input.numImages,
    ).map((x) => x.map((v) => Math.min(1, Math.max(0, v))));
    return { images, labels, method: 'analytic', distance: 0, iterations: 0 };
  }
  return iterate(input, config, labels);
}

async function iterate(
  input: InversionInput,
  config: InversionConfig,
  labels: readonly number[] | null,
): Promise<InversionResult> {
  const { spec, training, numImages: n } = input;
  const [h, w, c] = spec.inputShape;
  const iterations = config.iterations ?? 400;
  const peak = config.learningRate ?? 0.1;
  const warmup = config.warmup ?? 50;
  const tvW = config.tv ?? 1e-4;
  const tvL2W = config.tvL2 ?? 0;
  const l2W = config.l2 ?? 0;
  const names = trainableNames(spec);
  // TensorFlow.js treats a seed of 0 as "no seed" (Math.random), which made batch inversions
  // irreproducible: derive two seeds that are never 0 for any integer `config.seed`.
  const seed = config.seed ?? 0;
  const jitterSeed = 4 * seed + 1;
  const labelSeed = 4 * seed + 2;

  const owned: tf.Tensor[] = [];
  const keep = <T extends tf.Tensor>(t: T): T => {
    owned.push(t);
    return t;
  };
  try {
    const params: Record<string, tf.Tensor> = {};
    for (const [name, t] of Object.entries(input.global)) {
      params[name] = keep(tf.tensor(Float32Array.from(t.data), [...t.shape]));
    }
    const target = names.map((nm) =>
      keep(tf.tensor(tensorOf(input.update, nm, 'update'), params[nm]!.shape)),
    );
    const targetFlat = keep(tf.tidy(() => tf.concat(target.map((t) => t.reshape([-1])))));
    const targetNorm = keep(tf.norm(targetFlat));
    const bnTargets = batchNormTargets(input, params, keep);
    const bnW = bnTargets.length > 0 ? (config.bn ?? 0.1) : 0;

    // Every dummy starts at the prior; a little seeded jitter breaks the symmetry between them.
    const prior = tf.tensor4d(input.prior, [1, h, w, c]);
    const xInit = tf.tidy(() =>
      tf.clipByValue(
        tf.add(
          tf.tile(prior, [n, 1, 1, 1]),
          tf.randomNormal([n, h, w, c], 0, n > 1 ? 0.02 : 0, 'float32', jitterSeed),
        ),
        0,
        1,
      ),
    );
    const x = keep(tf.variable(xInit));
    xInit.dispose();
    prior.dispose();
    const fixedY =
      labels === null
        ? null
        : keep(
            tf.tidy(() =>
              tf.oneHot(tf.tensor1d([...labels], 'int32'), spec.classes).toFloat(),
            ) as tf.Tensor2D,
          );
    const yLogits =
      labels === null
        ? keep(variableFrom(tf.randomNormal([n, spec.classes], 0, 0.1, 'float32', labelSeed)))
        : null;
    const vars: tf.Variable[] =
      yLogits === null ? [x as tf.Variable] : [x as tf.Variable, yLogits as tf.Variable];
    const moments = vars.map((v) => ({
      m: keep(variableFrom(tf.zerosLike(v), false)),
      s: keep(variableFrom(tf.zerosLike(v), false)),
    }));

    const objective = (): { total: tf.Scalar; dist: tf.Scalar } => {
      const y = fixedY ?? (tf.softmax(yLogits as tf.Tensor2D) as tf.Tensor2D);
      const sim = simulateUpdate(spec, params, x as tf.Tensor4D, y, training);
      const simFlat = tf.concat(names.map((nm) => sim.delta[nm]!.reshape([-1])));
      const dist: tf.Scalar =
        (config.distance ?? 'cosine') === 'cosine'
          ? tf.sub(
              1,
              tf.div(
                tf.sum(tf.mul(simFlat, targetFlat)),
                tf.add(tf.mul(tf.norm(simFlat), targetNorm), 1e-12),
              ),
            )
          : tf.sum(tf.square(tf.sub(simFlat, targetFlat)));
      let total: tf.Scalar = dist;
      const dy = tf.sub(
        tf.slice(x, [0, 1, 0, 0], [n, h - 1, w, c]),
        tf.slice(x, [0, 0, 0, 0], [n, h - 1, w, c]),
      );
      const dx = tf.sub(
        tf.slice(x, [0, 0, 1, 0], [n, h, w - 1, c]),
        tf.slice(x, [0, 0, 0, 0], [n, h, w - 1, c]),
      );
      if (tvW > 0)
        total = tf.add(total, tf.mul(tvW, tf.add(tf.mean(tf.abs(dy)), tf.mean(tf.abs(dx)))));
      if (tvL2W > 0) {
        total = tf.add(
          total,
          tf.mul(tvL2W, tf.add(tf.mean(tf.square(dy)), tf.mean(tf.square(dx)))),
        );
      }
      if (l2W > 0) total = tf.add(total, tf.mul(l2W, tf.mean(tf.square(x))));
      if (bnW > 0) {
        for (const t of bnTargets) {
          const s = sim.batchStats.find((b) => b.layer === t.layer);
          if (s === undefined) continue;
          const term = tf.add(
            tf.norm(tf.sub(s.mean, t.mean)),
            tf.norm(tf.sub(s.variance, t.variance)),
          );
          total = tf.add(total, tf.mul(bnW, term));
        }
      }
      return { total, dist };
    };

    let lastDist = Number.NaN;
    const b1 = 0.9;
    const b2 = 0.999;
    for (let it = 0; it < iterations; it++) {
      if (config.signal?.aborted) throw new VflareError('ABORTED', 'gradient inversion aborted');
      const lr =
        peak *
        Math.min(1, (it + 1) / Math.max(1, warmup)) *
        0.5 *
        (1 + Math.cos((Math.PI * it) / iterations));
      const distValue = tf.tidy(() => {
        let dist: tf.Scalar | undefined;
        const { grads } = tf.variableGrads(() => {
          const o = objective();
          dist = tf.keep(o.dist);
          return o.total;
        }, vars);
        vars.forEach((v, k) => {
          const g = grads[v.name]!;
          const { m, s } = moments[k]!;
          (m as tf.Variable).assign(tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1)));
          (s as tf.Variable).assign(tf.add(tf.mul(s, b2), tf.mul(tf.square(g), 1 - b2)));
          const mHat = tf.div(m, 1 - b1 ** (it + 1));
          const sHat = tf.div(s, 1 - b2 ** (it + 1));
          let next = tf.sub(v, tf.mul(lr, tf.div(mHat, tf.add(tf.sqrt(sHat), 1e-8))));
          if (v === x) next = tf.clipByValue(next, 0, 1);
          v.assign(next);
        });
        return dist!;
      });
      if (it === iterations - 1 || it % 50 === 0) lastDist = (await distValue.data())[0]!;
      distValue.dispose();
      // Yield to the event loop every iteration: a runtime sharing this thread must keep
      // heartbeating and serving peers during a long inversion.
      await new Promise((r) => setImmediate(r));
    }
    // A diverged pixel (non-finite) falls back to the prior, so scores stay finite.
    const flat = (x.dataSync() as Float32Array).map((v, i) =>
      Number.isFinite(v) ? v : input.prior[i % input.prior.length]!,
    );
    const images = Array.from({ length: n }, (_, i) =>
      flat.slice(i * h * w * c, (i + 1) * h * w * c),
    );
    const finalLabels =
      labels ??
      Array.from(tf.tidy(() => (yLogits as tf.Tensor2D).argMax(1)).dataSync() as Int32Array);
    return { images, labels: finalLabels, method: 'iterative', distance: lastDist, iterations };
  } finally {
    tf.dispose(owned);
  }
}

/** A variable initialised from (and owning) a temporary tensor. */
function variableFrom(t: tf.Tensor, trainable = true): tf.Variable {
  const v = tf.variable(t, trainable);
  t.dispose();
  return v;
}

interface BnTarget {
  readonly layer: number;
  readonly mean: tf.Tensor;
  readonly variance: tf.Tensor;
}

/** Victim batch statistics recovered from BN running-average changes, when present. */
function batchNormTargets(
  input: InversionInput,
  params: Record<string, tf.Tensor>,
  keep: <T extends tf.Tensor>(t: T) => T,
): BnTarget[] {
  const out: BnTarget[] = [];
  input.spec.layers.forEach((l, i) => {
    if (l.type !== 'batchnorm') return;
    const mName = variableName(i, l, 'moving_mean');
    const vName = variableName(i, l, 'moving_variance');
    const dm = input.update[mName];
    const dv = input.update[vName];
    if (dm === undefined || dv === undefined) return;
    const momentum = l.momentum ?? 0.99;
    const oldM = params[mName]!.dataSync() as Float32Array;
    const oldV = params[vName]!.dataSync() as Float32Array;
    out.push({
      layer: i,
      mean: keep(tf.tensor1d(recoverBatchStatistic(oldM, dm.data as Float32Array, momentum))),
      variance: keep(tf.tensor1d(recoverBatchStatistic(oldV, dv.data as Float32Array, momentum))),
    });
  });
  return out;
}
