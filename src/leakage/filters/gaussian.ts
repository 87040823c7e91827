/**
 * The Gaussian mechanism on a whole model update (as in DP-FedAvg, McMahan et al., ICLR 2018):
 * clip the update to L2 norm C, add N(0, (z·C)²) to every entry, and account the releases with
 * the Rényi-DP accountant in `../dp/rdp.ts`.
 *
 * What is protected: the site's whole update, i.e. site-level privacy. With the default
 * `replace` adjacency any two clipped updates differ by at most 2C in L2, so the accountant is
 * charged with noise multiplier z/2; `add-remove` (sensitivity C, multiplier z) is the
 * user-level accounting of DP-FedAvg when the site's update can be absent altogether.
 */
import { type Filter, type FilterContext, fail, type Payload } from '../../runtime/core/index.js';
import { gaussian, type RandomSource, secureRandom } from '../dp/random.js';
import { RdpAccountant } from '../dp/rdp.js';
import type { GaussianPrivacyLedger } from './ledger.js';
import { diffOf, flatten, unflatten, withWeights } from './vector.js';

export interface GaussianMechanismOptions {
  /** L2 clip norm C, > 0. */
  readonly clipNorm: number;
  /** Noise multiplier z ≥ 0 (σ = z·C). */
  readonly noiseMultiplier: number;
  /** δ the spent ε is reported at; default 1e-5. */
  readonly delta?: number;
  /** Probability the site takes part in a round (Poisson sampling); default 1. */
  readonly samplingRate?: number;
  /** Default `replace`. */
  readonly adjacency?: 'replace' | 'add-remove';
  readonly random?: RandomSource;
}

/** Clips `values` to L2 norm `clip` in place and returns the norm before clipping. */
export function clipL2(values: Float64Array, clip: number): number {
  let s = 0;
  for (const v of values) s += v * v;
  const norm = Math.sqrt(s);
  if (norm > clip) {
    const f = clip / norm;
    for (let i = 0; i < values.length; i++) values[i] = values[i]! * f;
  }
  return norm;
}

export class GaussianMechanism implements Filter {
  readonly name = 'GaussianMechanism';
  readonly clipNorm: number;
  readonly noiseMultiplier: number;
  readonly samplingRate: number;
  readonly adjacency: 'replace' | 'add-remove';
  readonly ledger: GaussianPrivacyLedger;
  readonly #rng: RandomSource;

  constructor(options: GaussianMechanismOptions) {
    const { clipNorm, noiseMultiplier } = options;
    if (!(clipNorm > 0 && Number.isFinite(clipNorm))) {
      fail('GaussianMechanism clipNorm', 'a finite number > 0', String(clipNorm));
    }
    if (!(noiseMultiplier >= 0 && Number.isFinite(noiseMultiplier))) {
      fail('GaussianMechanism noiseMultiplier', 'a finite number ≥ 0', String(noiseMultiplier));
    }
    const delta = options.delta ?? 1e-5;
    if (!(delta > 0 && delta < 1)) fail('GaussianMechanism delta', 'in (0, 1)', String(delta));
    this.samplingRate = options.samplingRate ?? 1;
    if (!(this.samplingRate > 0 && this.samplingRate <= 1)) {
      fail('GaussianMechanism samplingRate', 'in (0, 1]', String(this.samplingRate));
    }
    this.clipNorm = clipNorm;
    this.noiseMultiplier = noiseMultiplier;
    this.adjacency = options.adjacency ?? 'replace';
    this.#rng = options.random ?? secureRandom();
    const accountant = new RdpAccountant();
    this.ledger = {
      accountant,
      delta,
      spent: () => ({
        epsilon: accountant.epsilon(delta).epsilon,
        delta,
        rounds: accountant.releases,
      }),
    };
  }

  /** Multiplier charged to the accountant: z for add-remove, z/2 for replacement. */
  get accountedMultiplier(): number {
    return this.adjacency === 'replace' ? this.noiseMultiplier / 2 : this.noiseMultiplier;
  }

  process(payload: Payload, ctx: FilterContext): Payload {
    const diff = diffOf(payload, this.name);
    if (diff === null) return payload;
    const flat = flatten(diff.weights);
    const values = Float64Array.from(flat.values);
    clipL2(values, this.clipNorm);
    const sigma = this.noiseMultiplier * this.clipNorm;
    if (sigma > 0) for (let i = 0; i < values.length; i++) values[i]! += gaussian(this.#rng, sigma);
    this.ledger.accountant.record({
      noiseMultiplier: this.accountedMultiplier,
      samplingRate: this.samplingRate,
      steps: 1,
    });
    ctx.siteContext.set('leakage.gaussianLedger', this.ledger);
    return withWeights(diff, unflatten(diff.weights, flat, values));
  }
}
