/**
 * Relative Gaussian noise, for parity with NVFlare's quantifying-data-leakage research example
 * (its GaussianPrivacy filter): σ = sigma0 × the `percentile`-th percentile of the non-zero
 * |Δ| over all variables, N(0, σ²) added to every entry.
 *
 * NOT DIFFERENTIALLY PRIVATE: nothing is clipped, σ depends on the private update itself, and
 * no budget is accounted. Use it to draw leakage/utility curves comparable with the
 * reference's plots; use `GaussianMechanism` for a guarantee.
 */
import { type Filter, fail, type Payload } from '../../runtime/core/index.js';
import { gaussian, type RandomSource, secureRandom } from '../dp/random.js';
import { diffOf, flatten, percentileSorted, unflatten, withWeights } from './vector.js';

export interface RelativeNoiseOptions {
  /** Noise relative to the update's scale, ≥ 0; 0 leaves the update unchanged. */
  readonly sigma0: number;
  /** In [0, 100]; default 95. */
  readonly percentile?: number;
  readonly random?: RandomSource;
}

export class RelativeNoise implements Filter {
  readonly name = 'RelativeNoise(not-DP)';
  readonly differentiallyPrivate = false;
  readonly sigma0: number;
  readonly percentile: number;
  readonly #rng: RandomSource;

  constructor(options: RelativeNoiseOptions) {
    this.sigma0 = options.sigma0;
    this.percentile = options.percentile ?? 95;
    if (!(this.sigma0 >= 0 && Number.isFinite(this.sigma0))) {
      fail('RelativeNoise sigma0', 'a finite number ≥ 0', String(this.sigma0));
    }
    if (!(this.percentile >= 0 && this.percentile <= 100)) {
      fail('RelativeNoise percentile', 'a number in [0, 100]', String(this.percentile));
    }
    this.#rng = options.random ?? secureRandom();
  }

  /** σ for a flat update: sigma0 × percentile of its non-zero magnitudes. */
  sigmaFor(values: Float64Array): number {
    const mags = Float64Array.from(
      values.filter((v) => v !== 0),
      Math.abs,
    ).sort();
    return this.sigma0 * percentileSorted(mags, this.percentile);
  }

  process(payload: Payload): Payload {
    const diff = diffOf(payload, this.name);
    if (diff === null || this.sigma0 === 0) return payload;
    const flat = flatten(diff.weights);
    const sigma = this.sigmaFor(flat.values);
    const values = Float64Array.from(flat.values, (v) => v + gaussian(this.#rng, sigma));
    return withWeights(diff, unflatten(diff.weights, flat, values));
  }
}
