/**
 * Sparse vector technique over a model update (after Shokri & Shmatikov, CCS 2015, and
 * NVFlare's SVTPrivacy), written as the standard SVT of Lyu, Su & Li, "Understanding the
 * Sparse Vector Technique for Differential Privacy" (VLDB 2017, Alg. 1), with clipping first:
 *
 * 1. per local step, clip every entry to ±gamma (so |entry| has sensitivity gamma);
 * 2. noisy threshold T = tau + Lap(gamma / ε₁), ε₁ = ε/2;
 * 3. visit the entries in a random order; accept an entry when
 *    |entry| + Lap(2·c·gamma / ε₂) ≥ T (ε₂ = ε/2), stopping after c = ceil(fraction·n) accepts
 *    (one pass only: NVFlare's extra passes over rejected entries would spend more budget);
 * 4. release each accepted entry as clip(entry + Lap(2·c·gamma / ε_r), ±gamma), the release
 *    budget ε_r split over the c values; every other entry becomes 0.
 *
 * Each call spends ε + ε_r (coordinate-level, per update), recorded in the site's ledger with
 * sequential composition across rounds. The guarantee is per coordinate of one update, not
 * per training record; say so when you report it.
 */
import { type Filter, type FilterContext, fail, type Payload } from '../../runtime/core/index.js';
import { laplace, type RandomSource, secureRandom } from '../dp/random.js';
import { EpsilonLedger } from './ledger.js';
import { diffOf, flatten, stepsOf, unflatten, withWeights } from './vector.js';

export interface SvtOptions {
  /** Largest share of entries released, in (0, 1]; default 0.1. */
  readonly fraction?: number;
  /** Selection budget ε per update, > 0; default 0.1. */
  readonly epsilon?: number;
  /** Release budget ε_r per update, > 0; default 0.1. */
  readonly releaseEpsilon?: number;
  /** Clip bound, > 0; default 1e-5 (NVFlare's default). */
  readonly gamma?: number;
  /** Threshold before noise, ≥ 0; default 1e-6. */
  readonly tau?: number;
  /** Randomness; default the OS CSPRNG. */
  readonly random?: RandomSource;
}

export interface SvtParams {
  readonly fraction: number;
  readonly epsilon: number;
  readonly releaseEpsilon: number;
  readonly gamma: number;
  readonly tau: number;
}

/** The pure mechanism over a per-step vector; returns the released vector and accept count. */
export function sparseVector(values: Float64Array, p: SvtParams, rng: RandomSource) {
  const n = values.length;
  const c = Math.max(1, Math.ceil(p.fraction * n));
  const clipped = values.map((v) => Math.min(p.gamma, Math.max(-p.gamma, v)));
  const threshold = p.tau + laplace(rng, p.gamma / (p.epsilon / 2));
  const queryScale = (2 * c * p.gamma) / (p.epsilon / 2);
  const releaseScale = (2 * c * p.gamma) / p.releaseEpsilon;
  const order = Uint32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  const out = new Float64Array(n);
  let accepted = 0;
  for (let k = 0; k < n && accepted < c; k++) {
    const i = order[k]!;
    const v = clipped[i]!;
    if (Math.abs(v) + laplace(rng, queryScale) >= threshold) {
      const noisy = v + laplace(rng, releaseScale);
      out[i] = Math.min(p.gamma, Math.max(-p.gamma, noisy));
      accepted++;
    }
  }
  return { values: out, accepted, limit: c };
}

export class SvtPrivacy implements Filter {
  readonly name = 'SvtPrivacy';
  readonly params: SvtParams;
  readonly ledger = new EpsilonLedger();
  readonly #rng: RandomSource;

  constructor(options: SvtOptions = {}) {
    const p = {
      fraction: options.fraction ?? 0.1,
      epsilon: options.epsilon ?? 0.1,
      releaseEpsilon: options.releaseEpsilon ?? 0.1,
      gamma: options.gamma ?? 1e-5,
      tau: options.tau ?? 1e-6,
    };
    if (!(p.fraction > 0 && p.fraction <= 1)) fail('SVT fraction', 'in (0, 1]', String(p.fraction));
    for (const k of ['epsilon', 'releaseEpsilon', 'gamma'] as const) {
      if (!(p[k] > 0 && Number.isFinite(p[k])))
        fail(`SVT ${k}`, 'a finite number > 0', String(p[k]));
    }
    if (!(p.tau >= 0 && Number.isFinite(p.tau)))
      fail('SVT tau', 'a finite number ≥ 0', String(p.tau));
    this.params = Object.freeze(p);
    this.#rng = options.random ?? secureRandom();
  }

  process(payload: Payload, ctx: FilterContext): Payload {
    const diff = diffOf(payload, this.name);
    if (diff === null) return payload;
    const steps = stepsOf(diff);
    const flat = flatten(diff.weights);
    const { values } = sparseVector(
      flat.values.map((v) => v / steps),
      this.params,
      this.#rng,
    );
    for (let i = 0; i < values.length; i++) values[i] = values[i]! * steps;
    this.ledger.record({
      round: ctx.round,
      mechanism: this.name,
      epsilon: this.params.epsilon + this.params.releaseEpsilon,
    });
    ctx.siteContext.set('leakage.svtLedger', this.ledger);
    return withWeights(diff, unflatten(diff.weights, flat, values));
  }
}
