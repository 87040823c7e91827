/**
 * Relative data leakage value (RDLV), after Hatamizadeh et al., "Do Gradient Inversion Attacks
 * Make Federated Learning Unsafe?" (IEEE TMI 2023, arXiv 2202.06924) and NVFlare's research
 * example: how much more an attacker's reconstruction resembles a training image than the
 * attacker's prior guess does, relative to the prior,
 *
 *   RDLV(i, r) = (SSIM(recon_r, image_i) − SSIM(prior, image_i)) / SSIM(prior, image_i),
 *
 * keeping per image the best reconstruction (largest RDLV) and reporting the maximum over
 * images.
 *
 * Zero or negative prior similarity (an explicit rule; the reference divides blindly and can
 * produce ±Infinity, NaN or a flipped sign): the denominator is `max(SSIM(prior, image),
 * priorFloor)` with `priorFloor` > 0 (default 0.01). The value stays finite, keeps the sign of
 * the gain over the prior, and `priorClamped` reports which images hit the floor.
 */
import { fail } from '../../runtime/core/index.js';
import type { Image } from './image.js';
import { type SsimOptions, ssim } from './ssim.js';

export interface RdlvOptions extends SsimOptions {
  /** Smallest denominator used; default 0.01. Must be > 0. */
  readonly priorFloor?: number;
}

export interface RdlvResult {
  /** SSIM(recon r, image i) as `ssim[i][r]`. */
  readonly ssim: readonly (readonly number[])[];
  /** SSIM(prior, image i). */
  readonly priorSsim: readonly number[];
  /** RDLV(i, r) as `pairs[i][r]`. */
  readonly pairs: readonly (readonly number[])[];
  /** Per image: the best reconstruction's index and its RDLV. */
  readonly bestReconstruction: readonly number[];
  readonly bestPerImage: readonly number[];
  /** Per image: whether the prior SSIM was below the floor and the floor was used. */
  readonly priorClamped: readonly boolean[];
  /** Maximum over images of the per-image best RDLV. */
  readonly rdlv: number;
}

export function relativeDataLeakage(
  images: readonly Image[],
  reconstructions: readonly Image[],
  prior: Image,
  options: RdlvOptions,
): RdlvResult {
  if (images.length === 0) fail('rdlv images', 'at least one training image', 'none');
  if (reconstructions.length === 0) fail('rdlv reconstructions', 'at least one', 'none');
  const floor = options.priorFloor ?? 0.01;
  if (!(floor > 0) || !Number.isFinite(floor)) {
    fail('rdlv priorFloor', 'a finite number > 0', String(floor));
  }
  const ssims: number[][] = [];
  const pairs: number[][] = [];
  const priorSsim: number[] = [];
  const clamped: boolean[] = [];
  const best: number[] = [];
  const bestIdx: number[] = [];
  for (const img of images) {
    const p = ssim(prior, img, options);
    const denom = Math.max(p, floor);
    const row = reconstructions.map((r) => ssim(r, img, options));
    const rel = row.map((s) => (s - p) / denom);
    let k = 0;
    for (let r = 1; r < rel.length; r++) if (rel[r]! > rel[k]!) k = r;
    ssims.push(row);
    pairs.push(rel);
    priorSsim.push(p);
    clamped.push(p < floor);
    bestIdx.push(k);
    best.push(rel[k]!);
  }
  return {
    ssim: ssims,
    priorSsim,
    pairs,
    bestReconstruction: bestIdx,
    bestPerImage: best,
    priorClamped: clamped,
    rdlv: Math.max(...best),
  };
}
