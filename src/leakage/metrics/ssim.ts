/**
 * Structural similarity (Wang, Bovik, Sheikh, Simoncelli, IEEE TIP 2004), computed the way
 * scikit-image's `structural_similarity` does with its defaults, so numbers are comparable with
 * NVFlare's RDLV (which calls scikit-image):
 *
 * - a `winSize × winSize` uniform window (default 7), not the paper's Gaussian;
 * - K1 = 0.01, K2 = 0.03, C1 = (K1·L)², C2 = (K2·L)² with L = `dataRange` (required: the
 *   caller says whether samples span 1, 255 or 256 levels, as scikit-image insists for floats);
 * - sample covariance (variances scaled by N/(N−1), N = winSize²);
 * - the mean of the SSIM map over window centres at least (winSize−1)/2 from every border
 *   (scikit-image filters with reflection and then crops that border, so only windows lying
 *   wholly inside the image count; we evaluate exactly those windows);
 * - several channels: the mean of the per-channel SSIM.
 *
 * Sums over windows use summed-area tables in float64, so cost is linear in the image size.
 */
import { fail } from '../../runtime/core/index.js';
import { assertSameShape, type Image } from './image.js';

export interface SsimOptions {
  /** Dynamic range L of the samples (max − min possible value). Required, > 0. */
  readonly dataRange: number;
  /** Odd window side, ≥ 3; default 7 (scikit-image's default). */
  readonly winSize?: number;
  /** Default 0.01. */
  readonly k1?: number;
  /** Default 0.03. */
  readonly k2?: number;
}

/** Mean SSIM between two images of equal shape. Symmetric in its arguments. */
export function ssim(a: Image, b: Image, options: SsimOptions): number {
  assertSameShape('ssim', a, b);
  const win = options.winSize ?? 7;
  if (!Number.isInteger(win) || win < 3 || win % 2 === 0) {
    fail('ssim winSize', 'an odd integer ≥ 3', String(win));
  }
  if (!(options.dataRange > 0) || !Number.isFinite(options.dataRange)) {
    fail('ssim dataRange', 'a finite number > 0', String(options.dataRange));
  }
  if (a.height < win || a.width < win) {
    fail(
      'ssim image',
      `height and width ≥ winSize ${win} (use a smaller winSize for tiny images)`,
      `${a.height}×${a.width}`,
    );
  }
  let total = 0;
  for (let c = 0; c < a.channels; c++) total += channelSsim(a, b, c, win, options);
  return total / a.channels;
}

function channelSsim(a: Image, b: Image, c: number, win: number, o: SsimOptions): number {
  const { height: h, width: w, channels: ch } = a;
  const w1 = w + 1;
  // Summed-area tables of x, y, x², y², xy with a zero first row and column.
  const sx = new Float64Array((h + 1) * w1);
  const sy = new Float64Array(sx.length);
  const sxx = new Float64Array(sx.length);
  const syy = new Float64Array(sx.length);
  const sxy = new Float64Array(sx.length);
  for (let i = 0; i < h; i++) {
    let rx = 0;
    let ry = 0;
    let rxx = 0;
    let ryy = 0;
    let rxy = 0;
    for (let j = 0; j < w; j++) {
      const x = a.data[(i * w + j) * ch + c]!;
      const y = b.data[(i * w + j) * ch + c]!;
      rx += x;
      ry += y;
      rxx += x * x;
      ryy += y * y;
      rxy += x * y;
      const k = (i + 1) * w1 + j + 1;
      const up = i * w1 + j + 1;
      sx[k] = sx[up]! + rx;
      sy[k] = sy[up]! + ry;
      sxx[k] = sxx[up]! + rxx;
      syy[k] = syy[up]! + ryy;
      sxy[k] = sxy[up]! + rxy;
    }
  }
  const n = win * win;
  const covNorm = n / (n - 1);
  const c1 = (o.k1 ?? 0.01) * o.dataRange;
  const c2 = (o.k2 ?? 0.03) * o.dataRange;
  const C1 = c1 * c1;
  const C2 = c2 * c2;
  const box = (t: Float64Array, i: number, j: number): number =>
    t[(i + win) * w1 + j + win]! - t[i * w1 + j + win]! - t[(i + win) * w1 + j]! + t[i * w1 + j]!;
  let sum = 0;
  let count = 0;
  for (let i = 0; i + win <= h; i++) {
    for (let j = 0; j + win <= w; j++) {
      const ux = box(sx, i, j) / n;
      const uy = box(sy, i, j) / n;
      const vx = covNorm * (box(sxx, i, j) / n - ux * ux);
      const vy = covNorm * (box(syy, i, j) / n - uy * uy);
      const vxy = covNorm * (box(sxy, i, j) / n - ux * uy);
      const num = (2 * ux * uy + C1) * (2 * vxy + C2);
      const den = (ux * ux + uy * uy + C1) * (vx + vy + C2);
      sum += num / den;
      count++;
    }
  }
  return sum / count;
}
