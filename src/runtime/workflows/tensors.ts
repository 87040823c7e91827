/**
 * Pure tensor-map helpers the workflows share: weighted sums per key, element-wise addition,
 * dtype-preserving copies. No runtime, no logging: testable on plain typed arrays.
 */
import { VflareError } from '../core/errors.js';
import type { NumericArray, Tensor, TensorMap } from '../core/messages.js';

/** One contribution to a weighted average: its tensors and its (already combined) weight. */
export interface WeightedTensors {
  readonly weight: number;
  readonly tensors: TensorMap;
}

/** Decides whether a variable takes part in aggregation (false = excluded). */
export type KeyFilter = (key: string) => boolean;

export const INCLUDE_ALL: KeyFilter = () => true;

/**
 * Builds the exclusion filter FedAvg uses. A string is a regular expression with *search*
 * semantics (it matches anywhere in the name, as NVFlare's `exclude_vars`); a list names the
 * excluded variables exactly.
 */
export function excludeFilter(exclude: string | readonly string[] | undefined): KeyFilter {
  if (exclude === undefined) return INCLUDE_ALL;
  if (typeof exclude === 'string') {
    let re: RegExp;
    try {
      re = new RegExp(exclude);
    } catch (err) {
      throw new VflareError('INVALID_CONFIG', `excludeVars: "${exclude}" is not a valid regex`, {
        cause: err,
      });
    }
    return (key) => !re.test(key);
  }
  const names = new Set(exclude);
  return (key) => !names.has(key);
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Typed-array constructor that holds an average of `data` without losing the fraction. */
function averageArray(data: NumericArray, length: number): Float32Array | Float64Array {
  return data instanceof Float32Array ? new Float32Array(length) : new Float64Array(length);
}

export interface WeightedAverage {
  /** The averaged tensors, only for the keys that were included and had a contribution. */
  readonly tensors: Record<string, Tensor>;
  /** Total weight per key (the denominator). */
  readonly totals: Record<string, number>;
}

/**
 * Weighted average per key: Σ wᵢ·xᵢ / Σ wᵢ over the contributions that hold the key. Sums run
 * in float64 and are cast back to float32 when the inputs were float32. Throws
 * `AGGREGATION_FAILED` when a key's total weight is zero (never returns NaN), and when two
 * contributions disagree on a key's shape.
 */
export function weightedAverage(
  contributions: readonly WeightedTensors[],
  include: KeyFilter = INCLUDE_ALL,
): WeightedAverage {
  const sums = new Map<
    string,
    { shape: readonly number[]; sum: Float64Array; like: NumericArray }
  >();
  const totals: Record<string, number> = {};
  for (const { weight, tensors } of contributions) {
    if (!Number.isFinite(weight) || weight < 0) {
      throw new VflareError('AGGREGATION_FAILED', `contribution weight must be finite and ≥ 0`);
    }
    for (const [key, t] of Object.entries(tensors)) {
      if (!include(key)) continue;
      let acc = sums.get(key);
      if (acc === undefined) {
        acc = { shape: t.shape, sum: new Float64Array(t.data.length), like: t.data };
        sums.set(key, acc);
        totals[key] = 0;
      } else if (!sameShape(acc.shape, t.shape) || acc.sum.length !== t.data.length) {
        throw new VflareError(
          'AGGREGATION_FAILED',
          `variable "${key}": shape [${t.shape}] differs from [${acc.shape}] of another site`,
        );
      }
      const s = acc.sum;
      const d = t.data;
      for (let i = 0; i < s.length; i++) s[i] += weight * (d[i] as number);
      totals[key] = (totals[key] as number) + weight;
    }
  }
  const out: Record<string, Tensor> = {};
  const zero: string[] = [];
  for (const [key, { shape, sum, like }] of sums) {
    const total = totals[key] as number;
    if (total === 0) {
      zero.push(key);
      continue;
    }
    const avg = averageArray(like, sum.length);
    for (let i = 0; i < sum.length; i++) avg[i] = (sum[i] as number) / total;
    out[key] = { shape: [...shape], data: avg };
  }
  if (zero.length > 0) {
    throw new VflareError(
      'AGGREGATION_FAILED',
      `total aggregation weight is 0 for ${zero.length} variable(s) (e.g. "${zero[0]}"): every ` +
        `contribution had weight 0 (numStepsCurrentRound = 0 or aggregation weight 0); ` +
        `refusing to produce a NaN model`,
    );
  }
  return { tensors: out, totals };
}

/** Element-wise `base + diff` per key; a diff for a variable the base lacks is an error. */
export function addDiff(base: TensorMap, diff: TensorMap): Record<string, Tensor> {
  const out: Record<string, Tensor> = { ...base };
  for (const [key, d] of Object.entries(diff)) {
    const b = base[key];
    if (b === undefined) {
      throw new VflareError(
        'AGGREGATION_FAILED',
        `weight-diff holds variable "${key}" that the global model does not have`,
      );
    }
    if (!sameShape(b.shape, d.shape)) {
      throw new VflareError(
        'AGGREGATION_FAILED',
        `weight-diff for "${key}" has shape [${d.shape}], global model has [${b.shape}]`,
      );
    }
    const sum = averageArray(b.data, b.data.length);
    for (let i = 0; i < sum.length; i++) sum[i] = (b.data[i] as number) + (d.data[i] as number);
    out[key] = { shape: [...b.shape], data: sum };
  }
  return out;
}

/** Weighted average of scalar metrics per name (used for `metrics` payloads). */
export function weightedMetrics(
  contributions: readonly { weight: number; metrics: Readonly<Record<string, number>> }[],
  include: KeyFilter = INCLUDE_ALL,
): Record<string, number> {
  const wrapped = contributions.map(({ weight, metrics }) => ({
    weight,
    tensors: Object.fromEntries(
      Object.entries(metrics).map(([k, v]) => [k, { shape: [1], data: Float64Array.of(v) }]),
    ),
  }));
  const { tensors } = weightedAverage(wrapped, include);
  return Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k, t.data[0] as number]));
}
