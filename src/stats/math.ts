/**
 * Federated descriptive statistics as pure functions over typed arrays.
 *
 * Each site summarises a feature as (count, mean, M2, min, max), where M2 is the sum of squared
 * deviations from the site's mean (Welford's online update, Welford 1962). Summaries merge
 * exactly with the pairwise formula of Chan, Golub & LeVeque (1979):
 *   n = nₐ + n_b,  δ = mean_b − meanₐ,  mean = meanₐ + δ·n_b/n,  M2 = M2ₐ + M2_b + δ²·nₐ·n_b/n,
 * so the server never needs raw values, and the merged result equals the pooled computation up
 * to floating-point rounding. The sample standard deviation is √(M2 / (n − 1)).
 */
import { VflareError } from '../runtime/core/errors.js';

export interface FeatureSummary {
  readonly count: number;
  readonly mean: number;
  /** Σ (x − mean)². */
  readonly m2: number;
  readonly min: number;
  readonly max: number;
}

export const EMPTY_SUMMARY: FeatureSummary = {
  count: 0,
  mean: 0,
  m2: 0,
  min: Number.POSITIVE_INFINITY,
  max: Number.NEGATIVE_INFINITY,
};

/** Summarises the finite values of `values`; NaN marks a missing value and is skipped. */
export function summarize(values: ArrayLike<number>): FeatureSummary {
  let count = 0;
  let mean = 0;
  let m2 = 0;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < values.length; i++) {
    const x = values[i] as number;
    if (Number.isNaN(x)) continue;
    count++;
    const d = x - mean;
    mean += d / count;
    m2 += d * (x - mean);
    if (x < min) min = x;
    if (x > max) max = x;
  }
  return { count, mean, m2, min, max };
}

/** Merges two summaries of disjoint data (Chan et al.). */
export function merge(a: FeatureSummary, b: FeatureSummary): FeatureSummary {
  if (a.count === 0) return b;
  if (b.count === 0) return a;
  const n = a.count + b.count;
  const delta = b.mean - a.mean;
  return {
    count: n,
    mean: a.mean + (delta * b.count) / n,
    m2: a.m2 + b.m2 + (delta * delta * a.count * b.count) / n,
    min: Math.min(a.min, b.min),
    max: Math.max(a.max, b.max),
  };
}

/** Sample standard deviation (n − 1 in the denominator); needs at least two values. */
export function sampleStd(s: FeatureSummary): number {
  if (s.count < 2) {
    throw new VflareError(
      'INVALID_DATA',
      `a sample standard deviation needs ≥ 2 values, got ${s.count}`,
    );
  }
  return Math.sqrt(s.m2 / (s.count - 1));
}

/** `bins + 1` equal-width edges from min to max (a single value gets a unit-wide range). */
export function binEdges(min: number, max: number, bins: number): Float64Array {
  if (!Number.isInteger(bins) || bins < 1) {
    throw new VflareError('INVALID_ARGUMENT', `bins: expected an integer ≥ 1, got ${bins}`);
  }
  if (!Number.isFinite(min) || !Number.isFinite(max) || min > max) {
    throw new VflareError('INVALID_ARGUMENT', 'bin range: expected finite min ≤ max');
  }
  const lo = min === max ? min - 0.5 : min;
  const hi = min === max ? max + 0.5 : max;
  const edges = new Float64Array(bins + 1);
  for (let i = 0; i <= bins; i++) edges[i] = lo + ((hi - lo) * i) / bins;
  edges[bins] = hi;
  return edges;
}

/**
 * Counts values per bin: bin i holds edges[i] ≤ x < edges[i+1], the last bin also holds x equal
 * to the last edge. Values outside the edges are counted in `below` / `above`, NaN is skipped.
 */
export function histogram(
  values: ArrayLike<number>,
  edges: Float64Array,
): { counts: Float64Array; below: number; above: number } {
  const bins = edges.length - 1;
  if (bins < 1) throw new VflareError('INVALID_ARGUMENT', 'edges: expected at least 2 edges');
  const counts = new Float64Array(bins);
  const first = edges[0] as number;
  const last = edges[bins] as number;
  let below = 0;
  let above = 0;
  for (let i = 0; i < values.length; i++) {
    const x = values[i] as number;
    if (Number.isNaN(x)) continue;
    if (x < first) below++;
    else if (x > last) above++;
    else {
      // Binary search for the last edge ≤ x, clamped to the last bin.
      let lo = 0;
      let hi = bins;
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        if ((edges[mid] as number) <= x) lo = mid;
        else hi = mid;
      }
      counts[lo] = (counts[lo] as number) + 1;
    }
  }
  return { counts, below, above };
}

/** Element-wise sum of equally long count vectors. */
export function addCounts(into: Float64Array, more: ArrayLike<number>): void {
  if (more.length !== into.length) {
    throw new VflareError(
      'INVALID_DATA',
      `histogram has ${more.length} bins, expected ${into.length}`,
    );
  }
  for (let i = 0; i < into.length; i++) into[i] = (into[i] as number) + (more[i] as number);
}
