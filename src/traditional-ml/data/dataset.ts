/**
 * Datasets as typed matrices: row-major features plus one target per row. Every algorithm of
 * this module reads this shape, so loaders, splits and learners never pass nested arrays around.
 */
import { VflareError } from '../../runtime/core/index.js';

export type FeatureArray = Float64Array | Float32Array;

export interface Dataset {
  /** Row-major features, `rows × cols`. */
  readonly x: FeatureArray;
  /** One target per row: a class index (0, 1, …) or a regression value. */
  readonly y: Float64Array;
  readonly rows: number;
  readonly cols: number;
}

export function makeDataset(x: FeatureArray, y: Float64Array, rows: number, cols: number) {
  if (x.length !== rows * cols || y.length !== rows) {
    throw new VflareError(
      'INVALID_DATA',
      `dataset: expected ${rows}×${cols} features and ${rows} targets, ` +
        `got ${x.length} feature values and ${y.length} targets`,
    );
  }
  return { x, y, rows, cols } satisfies Dataset;
}

/** Rows `start` (inclusive) to `end` (exclusive), as fresh arrays. */
export function sliceRows(ds: Dataset, start: number, end: number): Dataset {
  if (start < 0 || end > ds.rows || start > end) {
    throw new VflareError(
      'INVALID_ARGUMENT',
      `row range [${start}, ${end}) is outside the dataset's ${ds.rows} rows`,
    );
  }
  return {
    x: ds.x.slice(start * ds.cols, end * ds.cols),
    y: ds.y.slice(start, end),
    rows: end - start,
    cols: ds.cols,
  };
}

/** The given rows, in the given order, as fresh arrays. */
export function takeRows(ds: Dataset, indices: ArrayLike<number>): Dataset {
  const n = indices.length;
  const x =
    ds.x instanceof Float32Array ? new Float32Array(n * ds.cols) : new Float64Array(n * ds.cols);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const r = indices[i] as number;
    x.set(ds.x.subarray(r * ds.cols, (r + 1) * ds.cols), i * ds.cols);
    y[i] = ds.y[r] as number;
  }
  return { x, y, rows: n, cols: ds.cols };
}

/** Row `i` as a view (no copy). */
export function row(ds: Dataset, i: number): FeatureArray {
  return ds.x.subarray(i * ds.cols, (i + 1) * ds.cols);
}

/**
 * Keeps the rows of two classes and relabels them 0 (`negative`) and 1 (`positive`), e.g.
 * Fashion-MNIST pullover (2) vs coat (4).
 */
export function binaryClasses(ds: Dataset, negative: number, positive: number): Dataset {
  const keep: number[] = [];
  for (let i = 0; i < ds.rows; i++) {
    if (ds.y[i] === negative || ds.y[i] === positive) keep.push(i);
  }
  const out = takeRows(ds, keep);
  for (let i = 0; i < out.rows; i++) out.y[i] = out.y[i] === positive ? 1 : 0;
  return out;
}

/** Column means and population standard deviations (a zero deviation becomes 1). */
export interface Standardiser {
  readonly mean: Float64Array;
  readonly scale: Float64Array;
}

export function fitStandardiser(ds: Dataset): Standardiser {
  const mean = new Float64Array(ds.cols);
  const scale = new Float64Array(ds.cols);
  for (let i = 0; i < ds.rows; i++) {
    for (let j = 0; j < ds.cols; j++)
      mean[j] = (mean[j] as number) + (ds.x[i * ds.cols + j] as number);
  }
  for (let j = 0; j < ds.cols; j++) mean[j] = (mean[j] as number) / ds.rows;
  for (let i = 0; i < ds.rows; i++) {
    for (let j = 0; j < ds.cols; j++) {
      const d = (ds.x[i * ds.cols + j] as number) - (mean[j] as number);
      scale[j] = (scale[j] as number) + d * d;
    }
  }
  for (let j = 0; j < ds.cols; j++) {
    const sd = Math.sqrt((scale[j] as number) / ds.rows);
    scale[j] = sd > 0 ? sd : 1;
  }
  return { mean, scale };
}

export function standardise(ds: Dataset, s: Standardiser): Dataset {
  const x = new Float64Array(ds.x.length);
  for (let i = 0; i < ds.rows; i++) {
    for (let j = 0; j < ds.cols; j++) {
      const k = i * ds.cols + j;
      x[k] = ((ds.x[k] as number) - (s.mean[j] as number)) / (s.scale[j] as number);
    }
  }
  return { x, y: ds.y.slice(), rows: ds.rows, cols: ds.cols };
}

/** Distinct target values, sorted (the class set of a classification dataset). */
export function classesOf(y: ArrayLike<number>): number[] {
  return [...new Set(Array.from(y))].sort((a, b) => a - b);
}
