/**
 * Rényi-DP accountant for the Gaussian mechanism, the accountant TF Privacy and Opacus use:
 *
 * - Unsampled Gaussian with noise multiplier z (σ = z × L2 sensitivity):
 *   ε_α = α / (2z²) for every real α > 1 (Mironov, "Rényi Differential Privacy", CSF 2017,
 *   Prop. 7).
 * - Poisson-sampled Gaussian with rate q (a site or record takes part with probability q):
 *   for integer α, ε_α = log(A_α) / (α − 1) with
 *   A_α = Σ_{k=0..α} C(α,k) (1−q)^{α−k} q^k exp((k² − k) / (2z²))
 *   (Mironov, Talwar, Zhang, "Rényi Differential Privacy of the Sampled Gaussian Mechanism",
 *   2019, Sec. 3.3). Non-integer orders are skipped when q < 1.
 * - Composition over rounds adds ε_α per order (Mironov 2017, Prop. 1).
 * - Conversion to (ε, δ): ε = min_α [ε_α + log((α−1)/α) − (log δ + log α)/(α − 1)]
 *   (Canonne, Kamath, Steinke 2020 / Balle et al. 2020), never worse than Mironov's
 *   ε_α + log(1/δ)/(α − 1).
 */
import { fail } from '../../runtime/core/index.js';

/** Default orders: a fine grid on (1, 11) and the integers up to 256. */
export const DEFAULT_ORDERS: readonly number[] = Object.freeze([
  ...Array.from({ length: 99 }, (_, i) => 1.1 + i * 0.1),
  ...Array.from({ length: 246 }, (_, i) => 11 + i),
]);

function logAdd(a: number, b: number): number {
  if (a === Number.NEGATIVE_INFINITY) return b;
  if (b === Number.NEGATIVE_INFINITY) return a;
  const m = Math.max(a, b);
  return m + Math.log1p(Math.exp(-Math.abs(a - b)));
}

function logBinom(n: number, k: number): number {
  let s = 0;
  for (let i = 1; i <= k; i++) s += Math.log(n - k + i) - Math.log(i);
  return s;
}

/** RDP ε at order α of one release of the (possibly Poisson-sampled) Gaussian mechanism. */
export function gaussianRdp(q: number, noiseMultiplier: number, order: number): number {
  if (!(q >= 0 && q <= 1)) fail('sampling rate q', 'a number in [0, 1]', String(q));
  if (!(noiseMultiplier >= 0)) fail('noise multiplier', 'a number ≥ 0', String(noiseMultiplier));
  if (!(order > 1)) fail('RDP order', 'a number > 1', String(order));
  if (q === 0) return 0;
  if (noiseMultiplier === 0 || order === Number.POSITIVE_INFINITY) {
    return Number.POSITIVE_INFINITY;
  }
  const z2 = noiseMultiplier * noiseMultiplier;
  if (q === 1) return order / (2 * z2);
  if (!Number.isInteger(order)) return Number.NaN;
  let logA = Number.NEGATIVE_INFINITY;
  for (let k = 0; k <= order; k++) {
    const term =
      logBinom(order, k) + (order - k) * Math.log1p(-q) + k * Math.log(q) + (k * k - k) / (2 * z2);
    logA = logAdd(logA, term);
  }
  return logA / (order - 1);
}

/** (ε, δ) from accumulated RDP values, with the order that attains it. */
export function rdpToDp(
  orders: readonly number[],
  rdp: readonly number[],
  delta: number,
): { readonly epsilon: number; readonly order: number } {
  if (!(delta > 0 && delta < 1)) fail('delta', 'a number in (0, 1)', String(delta));
  let best = Number.POSITIVE_INFINITY;
  let bestOrder = Number.NaN;
  for (let i = 0; i < orders.length; i++) {
    const a = orders[i]!;
    const r = rdp[i]!;
    if (!Number.isFinite(r) || Number.isNaN(r)) continue;
    const eps = r + Math.log1p(-1 / a) - (Math.log(delta) + Math.log(a)) / (a - 1);
    if (eps < best) {
      best = eps;
      bestOrder = a;
    }
  }
  return { epsilon: Math.max(0, best), order: bestOrder };
}

export interface GaussianRelease {
  readonly noiseMultiplier: number;
  /** Poisson sampling rate of the release; 1 when the party always takes part. */
  readonly samplingRate: number;
  readonly steps: number;
}

/** Accumulates Gaussian releases and answers (ε, δ) at any time. */
export class RdpAccountant {
  readonly orders: readonly number[];
  readonly #rdp: Float64Array;
  #releases = 0;

  constructor(orders: readonly number[] = DEFAULT_ORDERS) {
    if (orders.length === 0) fail('RDP orders', 'at least one order > 1', 'none');
    for (const o of orders) if (!(o > 1)) fail('RDP order', 'a number > 1', String(o));
    this.orders = orders;
    this.#rdp = new Float64Array(orders.length);
  }

  record(release: GaussianRelease): void {
    const { noiseMultiplier: z, samplingRate: q, steps } = release;
    if (!Number.isInteger(steps) || steps < 0) fail('steps', 'an integer ≥ 0', String(steps));
    for (let i = 0; i < this.orders.length; i++) {
      this.#rdp[i] = this.#rdp[i]! + steps * gaussianRdp(q, z, this.orders[i]!);
    }
    this.#releases += steps;
  }

  get releases(): number {
    return this.#releases;
  }

  rdp(): readonly number[] {
    return Array.from(this.#rdp);
  }

  epsilon(delta: number): { readonly epsilon: number; readonly order: number } {
    return rdpToDp(this.orders, Array.from(this.#rdp), delta);
  }
}
