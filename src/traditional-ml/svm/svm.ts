/**
 * Two-class support vector machines (C-SVC) trained by libsvm, with the decision function
 * evaluated here in plain TypeScript so that a saved model needs no wasm to score rows.
 *
 * Model: f(x) = Σᵢ coefᵢ·K(svᵢ, x) − ρ with coefᵢ = yᵢαᵢ, 0 ≤ αᵢ ≤ C (Chang & Lin, "LIBSVM: a
 * library for support vector machines", 2011, §4). libsvm's first label is the positive side.
 * libsvm's text export rounds ρ to 6 digits, so ρ is recomputed from the free support vectors
 * exactly as libsvm's `calculate_rho` does (mean of yᵢ·∇ᵢ over 0 < αᵢ < C), which agrees with
 * libsvm to rounding; without free vectors the exported ρ is kept.
 */
import { VflareError } from '../../runtime/core/index.js';
import type { Dataset } from '../data/dataset.js';
import type { LibsvmClass } from './libsvm.js';

export type SvmKernel = 'rbf' | 'linear';

export interface SvmOptions {
  /** Default `rbf`. */
  readonly kernel?: SvmKernel;
  /** Box constraint; default 1. */
  readonly C?: number;
  /** RBF width; default `scale` = 1 / (features × population variance of the fitted rows). */
  readonly gamma?: number | 'scale';
  /** libsvm stopping tolerance; default 1e-3 (scikit-learn's). */
  readonly tolerance?: number;
}

export interface SvmModel {
  readonly kernel: SvmKernel;
  readonly C: number;
  readonly gamma: number;
  readonly rho: number;
  readonly cols: number;
  /** [label on the positive side of f, label on the negative side]. */
  readonly labels: readonly [number, number];
  /** coefᵢ = yᵢαᵢ, one per support vector. */
  readonly coef: Float64Array;
  /** Support vectors, row-major `coef.length × cols`: raw training rows. */
  readonly supportX: Float64Array;
  /** The label of each support vector. */
  readonly supportY: Float64Array;
  /** Row index of each support vector in the fitted dataset. */
  readonly supportIndices: Uint32Array;
}

/** scikit-learn's gamma="scale": 1 / (n_features × Var(X)), population variance of all entries. */
export function scaleGamma(ds: Dataset): number {
  const n = ds.x.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += ds.x[i] as number;
  mean /= n;
  let v = 0;
  for (let i = 0; i < n; i++) v += ((ds.x[i] as number) - mean) ** 2;
  v /= n;
  return v > 0 ? 1 / (ds.cols * v) : 1;
}

function toRows(ds: Dataset): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < ds.rows; i++)
    out.push(Array.from(ds.x.subarray(i * ds.cols, (i + 1) * ds.cols)));
  return out;
}

/** Trains a C-SVC on `ds` (labels: two distinct values). */
export function trainSvm(lib: LibsvmClass, ds: Dataset, options: SvmOptions = {}): SvmModel {
  const kernel = options.kernel ?? 'rbf';
  const C = options.C ?? 1;
  if (!(C > 0) || !Number.isFinite(C)) {
    throw new VflareError('INVALID_ARGUMENT', `svm: C must be a finite number > 0, got ${C}`);
  }
  const classes = [...new Set(ds.y)];
  if (classes.length !== 2) {
    throw new VflareError(
      'INVALID_DATA',
      `svm: training rows must hold exactly two classes, got ${classes.length}; ` +
        'every client needs rows of both classes',
    );
  }
  const gamma =
    options.gamma === undefined || options.gamma === 'scale' ? scaleGamma(ds) : options.gamma;
  const svm = new lib({
    type: lib.SVM_TYPES.C_SVC,
    kernel: kernel === 'rbf' ? lib.KERNEL_TYPES.RBF : lib.KERNEL_TYPES.LINEAR,
    cost: C,
    gamma,
    tolerance: options.tolerance ?? 1e-3,
    quiet: true,
  });
  try {
    svm.train(toRows(ds), Array.from(ds.y));
    const indices = svm.getSVIndices();
    const text = svm.serializeModel();
    const { coef, rho, labels } = parseModelText(text, indices.length);
    const supportX = new Float64Array(indices.length * ds.cols);
    const supportY = new Float64Array(indices.length);
    indices.forEach((r, i) => {
      supportX.set(ds.x.subarray(r * ds.cols, (r + 1) * ds.cols), i * ds.cols);
      supportY[i] = ds.y[r] as number;
    });
    const base = {
      kernel,
      C,
      gamma,
      rho,
      cols: ds.cols,
      labels,
      coef,
      supportX,
      supportY,
      supportIndices: Uint32Array.from(indices),
    };
    return { ...base, rho: exactRho(base) };
  } finally {
    svm.free();
  }
}

function parseModelText(text: string, nsv: number) {
  const lines = text.split('\n');
  let rho = Number.NaN;
  let labels: [number, number] | undefined;
  const coef = new Float64Array(nsv);
  let k = -1;
  for (const line of lines) {
    if (k >= 0) {
      if (line.trim() === '') continue;
      if (k < nsv) coef[k] = Number(line.split(' ')[0]);
      k++;
    } else if (line.startsWith('rho ')) rho = Number(line.slice(4));
    else if (line.startsWith('label ')) {
      const parts = line.slice(6).trim().split(' ').map(Number);
      labels = [parts[0] as number, parts[1] as number];
    } else if (line.trim() === 'SV') k = 0;
  }
  if (labels === undefined || k !== nsv || !Number.isFinite(rho)) {
    throw new VflareError('INTERNAL', 'svm: unexpected libsvm model export');
  }
  return { coef, rho, labels };
}

function kernelValue(
  m: Pick<SvmModel, 'kernel' | 'gamma' | 'cols'>,
  a: ArrayLike<number>,
  ao: number,
  b: ArrayLike<number>,
  bo: number,
): number {
  if (m.kernel === 'linear') {
    let s = 0;
    for (let j = 0; j < m.cols; j++) s += (a[ao + j] as number) * (b[bo + j] as number);
    return s;
  }
  let d = 0;
  for (let j = 0; j < m.cols; j++) {
    const t = (a[ao + j] as number) - (b[bo + j] as number);
    d += t * t;
  }
  return Math.exp(-m.gamma * d);
}

function exactRho(m: Omit<SvmModel, 'rho'> & { rho: number }): number {
  let sum = 0;
  let free = 0;
  const n = m.coef.length;
  for (let i = 0; i < n; i++) {
    const a = Math.abs(m.coef[i] as number);
    if (a <= 0 || a >= m.C) continue;
    let g = 0;
    for (let j = 0; j < n; j++) {
      g += (m.coef[j] as number) * kernelValue(m, m.supportX, j * m.cols, m.supportX, i * m.cols);
    }
    sum += g - Math.sign(m.coef[i] as number);
    free++;
  }
  return free > 0 ? sum / free : m.rho;
}

/** Decision values f(x) for every row of `x` (row-major, `model.cols` columns). */
export function svmDecision(model: SvmModel, x: ArrayLike<number>): Float64Array {
  const rows = x.length / model.cols;
  if (!Number.isInteger(rows)) {
    throw new VflareError(
      'INVALID_ARGUMENT',
      `svm: rows must have ${model.cols} features, got ${x.length} values in total`,
    );
  }
  const out = new Float64Array(rows);
  const n = model.coef.length;
  for (let r = 0; r < rows; r++) {
    let s = -model.rho;
    for (let i = 0; i < n; i++) {
      s +=
        (model.coef[i] as number) *
        kernelValue(model, model.supportX, i * model.cols, x, r * model.cols);
    }
    out[r] = s;
  }
  return out;
}

/** Hard labels: libsvm's first label when f(x) > 0, the second otherwise. */
export function svmPredict(model: SvmModel, x: ArrayLike<number>): Float64Array {
  const f = svmDecision(model, x);
  return f.map((v) => (v > 0 ? model.labels[0] : model.labels[1]));
}

/** Scores oriented so that larger means class `positive` (for ROC AUC). */
export function svmScores(model: SvmModel, x: ArrayLike<number>, positive = 1): Float64Array {
  const f = svmDecision(model, x);
  return model.labels[0] === positive ? f : f.map((v) => -v);
}

/** The dual coefficients αᵢ = |coefᵢ|; each must lie in [0, C]. */
export function svmAlphas(model: SvmModel): Float64Array {
  return model.coef.map(Math.abs);
}
