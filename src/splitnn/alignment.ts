/**
 * Turning a PSI intersection into the common row order every party agrees on.
 *
 * - Order: ids sorted by their UTF-8 bytes (lexicographically, shorter prefix first), which every
 *   language's byte-string sort reproduces; JavaScript's default sort compares UTF-16 code units,
 *   which orders characters above U+FFFF differently (surrogates sort below U+E000–U+FFFF).
 * - Agreement: SHA-256 over the sorted ids, each as a 4-byte big-endian length then its UTF-8
 *   bytes (the length prefix keeps ["ab","c"] and ["a","bc"] apart). Parties compare digests
 *   before any training: Bloom or GCS false positives in PSI's fast modes can leave parties with
 *   slightly different sets, which would silently misalign rows.
 * - Validation split: a seeded shuffle of positions, identical at every party.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { VflareError } from '../runtime/core/errors.js';
import { SeededRandom, streamOf } from './random.js';

const encoder = new TextEncoder();

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** Sorts ids by UTF-8 byte order; refuses duplicates (an intersection is a set). */
export function sortIdsUtf8(ids: readonly string[]): string[] {
  const keyed = ids.map((id) => ({ id, bytes: encoder.encode(id) }));
  keyed.sort((x, y) => compareBytes(x.bytes, y.bytes));
  for (let i = 1; i < keyed.length; i++) {
    if (
      compareBytes(
        (keyed[i - 1] as { bytes: Uint8Array }).bytes,
        (keyed[i] as { bytes: Uint8Array }).bytes,
      ) === 0
    ) {
      throw new VflareError(
        'INVALID_DATA',
        `the intersection holds a duplicate id (position ${i} after sorting); ids must be unique`,
      );
    }
  }
  return keyed.map((k) => k.id);
}

/** SHA-256 of sorted ids (length-prefixed UTF-8). */
export function digestIds(sorted: readonly string[]): Uint8Array {
  const h = sha256.create();
  const len = new Uint8Array(4);
  const view = new DataView(len.buffer);
  for (const id of sorted) {
    const bytes = encoder.encode(id);
    view.setUint32(0, bytes.length, false);
    h.update(len);
    h.update(bytes);
  }
  return h.digest();
}

export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Splits positions 0…n−1 into sorted train and validation sets from the job seed. */
export function splitPositions(
  n: number,
  validationFraction: number,
  seed: number,
): { train: Int32Array; validation: Int32Array } {
  if (!(validationFraction >= 0 && validationFraction < 1)) {
    throw new VflareError(
      'INVALID_CONFIG',
      `validation fraction must be in [0, 1), got ${validationFraction}`,
    );
  }
  const all = Int32Array.from({ length: n }, (_, i) => i);
  new SeededRandom(seed, streamOf('splitnn.validation')).shuffle(all);
  const v = Math.round(n * validationFraction);
  const validation = all.slice(0, v).sort();
  const train = all.slice(v).sort();
  if (train.length === 0) {
    throw new VflareError(
      'INVALID_DATA',
      `no training rows: ${n} aligned rows, ${v} for validation`,
    );
  }
  return { train, validation };
}

/** Maps each sorted id to the party's local row index; every id must be present locally. */
export function rowIndexFor(
  sorted: readonly string[],
  localIds: readonly string[],
  party: string,
): Int32Array {
  const index = new Map<string, number>();
  let duplicates = 0;
  localIds.forEach((id, i) => {
    if (index.has(id)) duplicates++;
    else index.set(id, i);
  });
  if (duplicates > 0) {
    // A repeated id would make the row looked up for it arbitrary: refuse rather than guess.
    throw new VflareError(
      'INVALID_DATA',
      `party "${party}": its data lists ${duplicates} id(s) more than once; each record id must ` +
        'appear once (remove or merge the repeated records)',
    );
  }
  const out = new Int32Array(sorted.length);
  for (let i = 0; i < sorted.length; i++) {
    const r = index.get(sorted[i] as string);
    if (r === undefined) {
      throw new VflareError(
        'INVALID_DATA',
        `party "${party}": ${sorted.length - i} or fewer ids of the intersection are not in its ` +
          `data (first at sorted position ${i}); PSI ran on different data than training uses`,
      );
    }
    out[i] = r;
  }
  return out;
}
