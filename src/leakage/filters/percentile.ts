/**
 * Percentile privacy (Shokri & Shmatikov, "Privacy-Preserving Deep Learning", CCS 2015, as in
 * NVFlare's PercentilePrivacy): per local step, zero every entry whose magnitude is below the
 * `percentile`-th percentile of all magnitudes, and clip the survivors to ±gamma. A heuristic
 * that shares fewer, bounded coordinates; it gives no formal DP guarantee.
 */
import { type Filter, fail, type Payload } from '../../runtime/core/index.js';
import { diffOf, flatten, percentileSorted, stepsOf, unflatten, withWeights } from './vector.js';

export interface PercentilePrivacyOptions {
  /** In [0, 100]; default 10. */
  readonly percentile?: number;
  /** Clip bound for surviving entries, > 0; default 0.01. */
  readonly gamma?: number;
}

/** The pure transform: returns the filtered copy of `values` (already divided by steps). */
export function percentileTruncate(values: Float64Array, percentile: number, gamma: number) {
  const sorted = Float64Array.from(values, Math.abs).sort();
  const cutoff = percentileSorted(sorted, percentile);
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Math.abs(v) < cutoff) continue;
    out[i] = Math.min(gamma, Math.max(-gamma, v));
  }
  return { values: out, cutoff };
}

export class PercentilePrivacy implements Filter {
  readonly name = 'PercentilePrivacy';
  readonly percentile: number;
  readonly gamma: number;

  constructor(options: PercentilePrivacyOptions = {}) {
    this.percentile = options.percentile ?? 10;
    this.gamma = options.gamma ?? 0.01;
    if (!(this.percentile >= 0 && this.percentile <= 100)) {
      fail('PercentilePrivacy percentile', 'a number in [0, 100]', String(this.percentile));
    }
    if (!(this.gamma > 0 && Number.isFinite(this.gamma))) {
      fail('PercentilePrivacy gamma', 'a finite number > 0', String(this.gamma));
    }
  }

  process(payload: Payload): Payload {
    const diff = diffOf(payload, this.name);
    if (diff === null) return payload;
    const steps = stepsOf(diff);
    const flat = flatten(diff.weights);
    const perStep = flat.values.map((v) => v / steps);
    const { values } = percentileTruncate(perStep, this.percentile, this.gamma);
    for (let i = 0; i < values.length; i++) values[i] = values[i]! * steps;
    return withWeights(diff, unflatten(diff.weights, flat, values));
  }
}
