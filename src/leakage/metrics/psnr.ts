/**
 * Peak signal-to-noise ratio, 10·log10(L² / MSE), as scikit-image's `peak_signal_noise_ratio`
 * computes it (MSE over every sample of every channel). Identical images give +Infinity.
 */
import { fail } from '../../runtime/core/index.js';
import { assertSameShape, type Image } from './image.js';

export function psnr(reference: Image, test: Image, dataRange: number): number {
  assertSameShape('psnr', reference, test);
  if (!(dataRange > 0) || !Number.isFinite(dataRange)) {
    fail('psnr dataRange', 'a finite number > 0', String(dataRange));
  }
  let se = 0;
  for (let i = 0; i < reference.data.length; i++) {
    const d = reference.data[i]! - test.data[i]!;
    se += d * d;
  }
  const mse = se / reference.data.length;
  if (mse === 0) return Number.POSITIVE_INFINITY;
  return 10 * Math.log10((dataRange * dataRange) / mse);
}
