/** Fashion-MNIST t10k images for the leakage tests (vendored at examples/data/fashion-mnist). */
import { fileURLToPath } from 'node:url';
import { loadIdxImageSet } from '../../src/traditional-ml/data/idx.js';

const dir = fileURLToPath(new URL('../../examples/data/fashion-mnist', import.meta.url));
let cached: ReturnType<typeof loadIdxImageSet> | undefined;

export function fashion() {
  cached ??= loadIdxImageSet(dir, 't10k');
  return cached;
}

/** Image `i` scaled to [0, 1]. */
export function fashionImage(i: number): { image: Float32Array; label: number } {
  const set = fashion();
  return {
    image: Float32Array.from(set.images.subarray(i * 784, (i + 1) * 784), (v) => v / 255),
    label: set.labels[i]!,
  };
}

/** Mean of images [from, to): an attacker's prior from data no client holds. */
export function meanImage(from: number, to: number): Float32Array {
  const set = fashion();
  const out = new Float32Array(784);
  for (let i = from; i < to; i++) {
    for (let p = 0; p < 784; p++) out[p]! += set.images[i * 784 + p]! / 255;
  }
  return out.map((v) => v / (to - from));
}
