/**
 * Linear models trained by plain per-sample SGD, following scikit-learn's SGDClassifier /
 * SGDRegressor update (Bottou, "Stochastic gradient descent tricks", 2012) with a constant
 * learning rate η and an L2 penalty α:
 *
 *   p = w·x + b;  g = ∂loss/∂p;  w ← w·max(0, 1 − ηα) − ηg·x;  b ← b − ηg   (b not penalised)
 *
 * Log loss (labels ±1): g = −y / (1 + e^{y·p}). Squared loss: g = p − y. One call of `sgdEpoch`
 * is one local epoch over the rows in a seeded shuffled order, as one round of NVFlare's
 * sklearn-linear example (`max_iter=1, warm_start=True`).
 *
 * The class set is fixed by configuration (`positiveClass`), not read from the local rows, so a
 * client that holds one class only still trains (scikit-learn would refuse a single class).
 */
import { VflareError } from '../../runtime/core/index.js';
import type { Dataset } from '../data/dataset.js';
import { permutation, type Rng } from '../random/index.js';

export type LinearLoss = 'log' | 'squared';

export interface LinearModel {
  readonly loss: LinearLoss;
  readonly coef: Float64Array;
  readonly intercept: number;
}

export interface SgdOptions {
  readonly loss: LinearLoss;
  /** Constant learning rate η (scikit-learn's eta0). */
  readonly learningRate: number;
  /** L2 penalty α; default 1e-4 (scikit-learn's default). */
  readonly alpha?: number;
  /** Default true. */
  readonly fitIntercept?: boolean;
  /** For log loss: the label value that counts as +1 (others are −1); default 1. */
  readonly positiveClass?: number;
  /** Shuffle rows each epoch (seeded); default true. */
  readonly shuffle?: boolean;
}

export function zeroModel(loss: LinearLoss, cols: number): LinearModel {
  return { loss, coef: new Float64Array(cols), intercept: 0 };
}

/** One epoch of SGD from `start`; returns a new model and never touches `start`'s arrays. */
export function sgdEpoch(
  start: LinearModel,
  ds: Dataset,
  options: SgdOptions,
  rng: Rng,
): LinearModel {
  if (start.coef.length !== ds.cols) {
    throw new VflareError(
      'INVALID_DATA',
      `linear: the model has ${start.coef.length} features, the local rows have ${ds.cols}`,
    );
  }
  const eta = options.learningRate;
  const alpha = options.alpha ?? 1e-4;
  if (!(eta > 0) || !(alpha >= 0)) {
    throw new VflareError('INVALID_CONFIG', `linear: learningRate must be > 0 and alpha ≥ 0`);
  }
  const positive = options.positiveClass ?? 1;
  const fitIntercept = options.fitIntercept ?? true;
  const w = Float64Array.from(start.coef);
  let b = start.intercept;
  const { x, y, cols } = ds;
  const order = options.shuffle === false ? null : permutation(ds.rows, rng);
  const decay = Math.max(0, 1 - eta * alpha);
  for (let t = 0; t < ds.rows; t++) {
    const r = order === null ? t : (order[t] as number);
    const o = r * cols;
    let p = b;
    for (let j = 0; j < cols; j++) p += (w[j] as number) * (x[o + j] as number);
    let g: number;
    if (options.loss === 'log') {
      const yy = y[r] === positive ? 1 : -1;
      const z = yy * p;
      // 1/(1+e^z) computed without overflow for large |z|.
      g = z > 18 ? -yy * Math.exp(-z) : z < -18 ? -yy : -yy / (1 + Math.exp(z));
    } else {
      g = p - (y[r] as number);
    }
    const step = -eta * g;
    if (decay !== 1) for (let j = 0; j < cols; j++) w[j] = (w[j] as number) * decay;
    if (step !== 0) {
      for (let j = 0; j < cols; j++) w[j] = (w[j] as number) + step * (x[o + j] as number);
      if (fitIntercept) b += step;
    }
  }
  if (!Number.isFinite(b) || w.some((v) => !Number.isFinite(v))) {
    throw new VflareError(
      'PROTOCOL_ERROR',
      'linear: SGD diverged (non-finite weights); lower learningRate or standardise the features',
    );
  }
  return { loss: options.loss, coef: w, intercept: b };
}

/** w·x + b for every row (the regression output, or the classifier's decision score). */
export function linearDecision(
  model: LinearModel,
  x: ArrayLike<number>,
  cols: number,
): Float64Array {
  if (cols !== model.coef.length || x.length % cols !== 0) {
    throw new VflareError(
      'INVALID_ARGUMENT',
      `linear: rows must have ${model.coef.length} features, got ${cols}`,
    );
  }
  const rows = x.length / cols;
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let p = model.intercept;
    for (let j = 0; j < cols; j++) p += (model.coef[j] as number) * (x[r * cols + j] as number);
    out[r] = p;
  }
  return out;
}

/** Least-squares fit with intercept (normal equations, Cholesky), the closed-form reference. */
export function leastSquares(ds: Dataset): LinearModel {
  const d = ds.cols + 1;
  const a = new Float64Array(d * d);
  const rhs = new Float64Array(d);
  const row = new Float64Array(d);
  for (let r = 0; r < ds.rows; r++) {
    row[0] = 1;
    for (let j = 0; j < ds.cols; j++) row[j + 1] = ds.x[r * ds.cols + j] as number;
    for (let i = 0; i < d; i++) {
      rhs[i] = (rhs[i] as number) + (row[i] as number) * (ds.y[r] as number);
      for (let j = 0; j < d; j++)
        a[i * d + j] = (a[i * d + j] as number) + (row[i] as number) * (row[j] as number);
    }
  }
  const sol = choleskySolve(a, rhs, d);
  return { loss: 'squared', coef: sol.slice(1), intercept: sol[0] as number };
}

function choleskySolve(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * n + j] as number;
      for (let k = 0; k < j; k++) s -= (l[i * n + k] as number) * (l[j * n + k] as number);
      if (i === j) {
        if (!(s > 0))
          throw new VflareError('INVALID_DATA', 'least squares: features are collinear');
        l[i * n + i] = Math.sqrt(s);
      } else l[i * n + j] = s / (l[j * n + j] as number);
    }
  }
  const z = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i] as number;
    for (let k = 0; k < i; k++) s -= (l[i * n + k] as number) * (z[k] as number);
    z[i] = s / (l[i * n + i] as number);
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = z[i] as number;
    for (let k = i + 1; k < n; k++) s -= (l[k * n + i] as number) * (x[k] as number);
    x[i] = s / (l[i * n + i] as number);
  }
  return x;
}
