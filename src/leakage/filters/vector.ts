/**
 * Shared plumbing for the privacy filters: they all act on a weight-difference payload seen as
 * one flat vector over its floating-point variables (in sorted-name order, so results do not
 * depend on insertion order). Integer variables (counters) are left as they are.
 */
import {
  type Payload,
  type Tensor,
  type TensorMap,
  VflareError,
  type WeightDiffPayload,
} from '../../runtime/core/index.js';

export interface FlatDiff {
  readonly names: readonly string[];
  readonly offsets: readonly number[];
  readonly values: Float64Array;
}

function isFloat(t: Tensor): boolean {
  return t.data instanceof Float32Array || t.data instanceof Float64Array;
}

export function flatten(weights: TensorMap): FlatDiff {
  const names = Object.keys(weights)
    .filter((n) => isFloat(weights[n]!))
    .sort();
  const offsets: number[] = [];
  let size = 0;
  for (const n of names) {
    offsets.push(size);
    size += weights[n]!.data.length;
  }
  const values = new Float64Array(size);
  names.forEach((n, i) => {
    values.set(weights[n]!.data, offsets[i]);
  });
  return { names, offsets, values };
}

/** Writes `values` back into copies of the flattened variables; other variables are kept. */
export function unflatten(weights: TensorMap, flat: FlatDiff, values: Float64Array): TensorMap {
  const out: Record<string, Tensor> = { ...weights };
  flat.names.forEach((n, i) => {
    const t = weights[n]!;
    const start = flat.offsets[i]!;
    const slice = values.subarray(start, start + t.data.length);
    const data =
      t.data instanceof Float64Array ? Float64Array.from(slice) : Float32Array.from(slice);
    out[n] = { shape: t.shape, data };
  });
  return out;
}

/**
 * The weight-difference payload a privacy filter acts on, or null when the payload carries no
 * model update (metrics, statistics: passed through). Full weights are refused: the mechanisms
 * bound and perturb a change, and applying them to absolute weights would protect nothing.
 */
export function diffOf(payload: Payload, filter: string): WeightDiffPayload | null {
  if (payload.kind === 'weight-diff') return payload;
  if (payload.kind === 'weights') {
    throw new VflareError(
      'FILTER_FAILED',
      `${filter} acts on weight differences but the result carries full weights; ` +
        'configure the learner to send weight differences',
    );
  }
  return null;
}

/** Local steps behind the update (NVFlare's NUM_STEPS_CURRENT_ROUND), default 1. */
export function stepsOf(payload: WeightDiffPayload): number {
  const s = payload.meta.numStepsCurrentRound;
  return s !== undefined && s > 0 ? s : 1;
}

/** numpy-style percentile (linear interpolation) of already sorted values. */
export function percentileSorted(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  const pos = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function withWeights(payload: WeightDiffPayload, weights: TensorMap): WeightDiffPayload {
  return { kind: 'weight-diff', weights, meta: payload.meta };
}
