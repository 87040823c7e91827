/** Fashion-MNIST slices as `LocalData`, and the mean-image prior, for the leakage examples. */

import { fail } from '../runtime/core/index.js';
import { loadIdxImageSet } from '../traditional-ml/data/idx.js';
import type { LocalData } from './learner/train.js';

type ImageSet = ReturnType<typeof loadIdxImageSet>;
const cache = new Map<string, ImageSet>();

function load(dir: string, part: 'train' | 't10k'): ImageSet {
  const key = `${dir}\0${part}`;
  let set = cache.get(key);
  if (set === undefined) {
    set = loadIdxImageSet(dir, part);
    cache.set(key, set);
  }
  return set;
}

function checkRange(set: ImageSet, range: readonly [number, number], label: string): void {
  const [from, to] = range;
  if (
    !Number.isInteger(from) ||
    !Number.isInteger(to) ||
    from < 0 ||
    to <= from ||
    to > set.count
  ) {
    fail(label, `an index range [from, to) inside [0, ${set.count}]`, `[${from}, ${to})`);
  }
}

/**
 * Images [from, to) of an IDX image set, scaled to [0, 1]. With `classes`, only images of
 * those classes count (the range indexes that subset, in file order) and labels become
 * positions in `classes`.
 */
export function idxSlice(
  dir: string,
  part: 'train' | 't10k',
  range: readonly [number, number],
  classes?: readonly number[],
): LocalData {
  const set = load(dir, part);
  const px = set.height * set.width;
  const picked: number[] = [];
  if (classes === undefined) {
    checkRange(set, range, 'image range');
    for (let i = range[0]; i < range[1]; i++) picked.push(i);
  } else {
    if (classes.length < 2 || new Set(classes).size !== classes.length) {
      fail('classes', 'at least two distinct class labels', `${classes.length} label(s)`);
    }
    const subset: number[] = [];
    for (let i = 0; i < set.count; i++) if (classes.includes(set.labels[i]!)) subset.push(i);
    checkRange({ ...set, count: subset.length }, range, 'image range (within the chosen classes)');
    picked.push(...subset.slice(range[0], range[1]));
  }
  const images = new Float32Array(picked.length * px);
  const labels = new Int32Array(picked.length);
  picked.forEach((idx, k) => {
    for (let p = 0; p < px; p++) images[k * px + p] = set.images[idx * px + p]! / 255;
    const l = set.labels[idx]!;
    labels[k] = classes === undefined ? l : classes.indexOf(l);
  });
  return { images, labels, count: picked.length, shape: [set.height, set.width, 1] };
}

/** The mean of images [from, to): a prior from public data no client trains on. */
export function meanImagePrior(
  dir: string,
  part: 'train' | 't10k',
  range: readonly [number, number],
  classes?: readonly number[],
): Float32Array {
  const d = idxSlice(dir, part, range, classes);
  const px = d.shape[0] * d.shape[1] * d.shape[2];
  const out = new Float32Array(px);
  for (let i = 0; i < d.count; i++) for (let p = 0; p < px; p++) out[p]! += d.images[i * px + p]!;
  return out.map((v) => v / d.count);
}
