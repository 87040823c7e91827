/**
 * The functional twin of a `ModelSpec`: the same network as a pure function of its parameters,
 * built only from operations whose gradients TensorFlow.js can differentiate again (matMul,
 * element-wise activations, pad/slice/concat/reshape, mean, moments). Used to replay a
 * client's local training inside the inverter's objective.
 */
import * as tf from '@tensorflow/tfjs';
import { VflareError } from '../../runtime/core/index.js';
import { type Activation, type LayerSpec, type ModelSpec, variableName } from './spec.js';

export type Params = Readonly<Record<string, tf.Tensor>>;

export interface BatchStat {
  /** Positional name of the BN layer's `moving_mean` (the variance's is alongside). */
  readonly layer: number;
  readonly mean: tf.Tensor;
  readonly variance: tf.Tensor;
}

export interface ForwardResult {
  readonly logits: tf.Tensor2D;
  /** Batch statistics of every BN layer (training mode only). */
  readonly batchStats: readonly BatchStat[];
}

function activate(x: tf.Tensor, a: Activation | undefined): tf.Tensor {
  switch (a ?? 'linear') {
    case 'relu':
      return tf.relu(x);
    case 'sigmoid':
      return tf.sigmoid(x);
    case 'tanh':
      return tf.tanh(x);
    case 'linear':
      return x;
  }
}

/** Convolution (stride 1) as a matrix product over the k×k patches of the padded input. */
export function conv2dIm2col(
  x: tf.Tensor4D,
  kernel: tf.Tensor4D,
  padding: 'same' | 'valid',
): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const [k, , , f] = kernel.shape;
  let xp: tf.Tensor4D = x;
  let oh = h - k + 1;
  let ow = w - k + 1;
  if (padding === 'same') {
    // TensorFlow pads the extra row/column (even k) at the bottom/right.
    const before = Math.floor((k - 1) / 2);
    const after = k - 1 - before;
    xp = tf.pad(x, [
      [0, 0],
      [before, after],
      [before, after],
      [0, 0],
    ]);
    oh = h;
    ow = w;
  }
  const patches: tf.Tensor4D[] = [];
  for (let dy = 0; dy < k; dy++) {
    for (let dx = 0; dx < k; dx++) patches.push(tf.slice(xp, [0, dy, dx, 0], [n, oh, ow, c]));
  }
  const cols = tf.concat(patches, 3).reshape([n * oh * ow, k * k * c]);
  return tf.matMul(cols, kernel.reshape([k * k * c, f])).reshape([n, oh, ow, f]);
}

/** Average pooling with a p×p window and stride p ('valid'), as reshapes and means. */
export function avgPoolReshape(x: tf.Tensor4D, p: number): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const ho = Math.floor(h / p);
  const wo = Math.floor(w / p);
  const xc = ho * p === h && wo * p === w ? x : tf.slice(x, [0, 0, 0, 0], [n, ho * p, wo * p, c]);
  const rows = tf.mean(xc.reshape([n * ho, p, wo * p, c]), 1);
  return tf.mean(rows.reshape([n * ho * wo, p, c]), 1).reshape([n, ho, wo, c]);
}

function param(params: Params, name: string): tf.Tensor {
  const t = params[name];
  if (t === undefined)
    throw new VflareError('INVALID_DATA', `model parameter "${name}" is missing`);
  return t;
}

/** Runs the network. `training` uses batch statistics in BN layers, as Keras does. */
export function forward(
  spec: ModelSpec,
  params: Params,
  input: tf.Tensor4D,
  training: boolean,
): ForwardResult {
  let x: tf.Tensor = input;
  const stats: BatchStat[] = [];
  spec.layers.forEach((l: LayerSpec, i) => {
    const p = (w: string) => param(params, variableName(i, l, w));
    switch (l.type) {
      case 'dense': {
        const flat = x.rank === 2 ? x : x.reshape([x.shape[0]!, -1]);
        x = activate(
          tf.add(tf.matMul(flat as tf.Tensor2D, p('kernel') as tf.Tensor2D), p('bias')),
          l.activation,
        );
        break;
      }
      case 'conv2d':
        x = activate(
          tf.add(
            conv2dIm2col(x as tf.Tensor4D, p('kernel') as tf.Tensor4D, l.padding ?? 'same'),
            p('bias'),
          ),
          l.activation,
        );
        break;
      case 'avgpool2d':
        x = avgPoolReshape(x as tf.Tensor4D, l.poolSize);
        break;
      case 'flatten':
        x = x.reshape([x.shape[0]!, -1]);
        break;
      case 'batchnorm': {
        const eps = l.epsilon ?? 1e-3;
        const axes = x.shape.slice(0, -1).map((_, a) => a);
        let mean: tf.Tensor;
        let variance: tf.Tensor;
        if (training) {
          const m = tf.moments(x, axes);
          mean = m.mean;
          variance = m.variance;
          stats.push({ layer: i, mean, variance });
        } else {
          mean = p('moving_mean');
          variance = p('moving_variance');
        }
        const norm = tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps)));
        x = tf.add(tf.mul(norm, p('gamma')), p('beta'));
        break;
      }
      case 'activation':
        x = activate(x, l.activation);
        break;
    }
  });
  return { logits: x as tf.Tensor2D, batchStats: stats };
}

/** Names of the parameters SGD updates, in layer order. */
export function trainableNames(spec: ModelSpec): string[] {
  const out: string[] = [];
  spec.layers.forEach((l, i) => {
    if (l.type === 'dense' || l.type === 'conv2d') {
      out.push(variableName(i, l, 'kernel'), variableName(i, l, 'bias'));
    } else if (l.type === 'batchnorm') {
      out.push(variableName(i, l, 'gamma'), variableName(i, l, 'beta'));
    }
  });
  return out;
}

export interface LocalTrainingConfig {
  readonly learningRate: number;
  readonly batchSize: number;
  readonly epochs: number;
}

/**
 * Replays plain-SGD local training (contiguous batches, in order) from `params` on images `x`
 * with (soft) label distributions `y`, mean softmax cross-entropy per batch, and returns the
 * change of every trainable parameter plus the last batch's BN statistics. Differentiable with
 * respect to `x` and `y`.
 */
export function simulateUpdate(
  spec: ModelSpec,
  params: Params,
  x: tf.Tensor4D,
  y: tf.Tensor2D,
  cfg: LocalTrainingConfig,
): { readonly delta: Record<string, tf.Tensor>; readonly batchStats: readonly BatchStat[] } {
  const names = trainableNames(spec);
  let current: Record<string, tf.Tensor> = { ...params };
  const n = x.shape[0];
  let lastStats: readonly BatchStat[] = [];
  for (let e = 0; e < cfg.epochs; e++) {
    for (let start = 0; start < n; start += cfg.batchSize) {
      const size = Math.min(cfg.batchSize, n - start);
      const xb = size === n ? x : tf.slice(x, [start, 0, 0, 0], [size, -1, -1, -1]);
      const yb = size === n ? y : tf.slice(y, [start, 0], [size, -1]);
      const snapshot = current;
      let stats: readonly BatchStat[] = [];
      const lossOf = (...ws: tf.Tensor[]): tf.Scalar => {
        const p: Record<string, tf.Tensor> = { ...snapshot };
        names.forEach((nm, k) => {
          p[nm] = ws[k]!;
        });
        const out = forward(spec, p, xb, true);
        stats = out.batchStats;
        return tf.losses.softmaxCrossEntropy(yb, out.logits) as tf.Scalar;
      };
      const grads = tf.grads(lossOf)(names.map((nm) => snapshot[nm]!));
      lastStats = stats;
      const next: Record<string, tf.Tensor> = { ...snapshot };
      names.forEach((nm, k) => {
        next[nm] = tf.sub(snapshot[nm]!, tf.mul(grads[k]!, cfg.learningRate));
      });
      current = next;
    }
  }
  const delta: Record<string, tf.Tensor> = {};
  for (const nm of names) delta[nm] = tf.sub(current[nm]!, params[nm]!);
  return { delta, batchStats: lastStats };
}
