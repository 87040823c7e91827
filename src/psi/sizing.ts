/**
 * OpenMined's sizing rules for the server's container (OM `bloom_filter.cpp`, `gcs.cpp`,
 * `psi_server.cpp`, PR #5 and #151): the caller's false-positive rate covers the whole query of
 * nc client items, so the per-element rate is p = fpr / nc, and containers are sized for
 * N = max(nc, |S|) elements.
 */
import { VflareError } from '../runtime/core/index.js';

export type ContainerKind = 'bloom' | 'gcs' | 'raw';
export const CONTAINER_KINDS: readonly ContainerKind[] = ['bloom', 'gcs', 'raw'];

export interface Sizing {
  /** Per-element false-positive rate p = fpr / nc, in (0, 1). */
  readonly perElementFpr: number;
  /** N = max(nc, |S|). */
  readonly capacity: number;
}

export function sizing(fpr: number, numClientInputs: number, numServerInputs: number): Sizing {
  if (typeof fpr !== 'number' || !(fpr > 0 && fpr < 1)) {
    throw new VflareError('INVALID_ARGUMENT', `PSI fpr: expected a number in (0, 1), got ${fpr}`);
  }
  if (!Number.isSafeInteger(numClientInputs) || numClientInputs < 1) {
    throw new VflareError(
      'INVALID_ARGUMENT',
      `PSI numClientInputs: expected an integer ≥ 1, got ${numClientInputs}; ` +
        'an empty client set has nothing to intersect',
    );
  }
  const p = fpr / numClientInputs;
  if (!(p > 0)) {
    throw new VflareError('INVALID_ARGUMENT', `PSI fpr / numClientInputs underflows to 0`);
  }
  return { perElementFpr: p, capacity: Math.max(numClientInputs, numServerInputs) };
}

/** Bloom filter parameters: k = ⌈−log₂ p⌉ hash functions over 8·⌈N·(−log₂ p)/ln 2/8⌉ bits. */
export function bloomParams(s: Sizing): { numHashFunctions: number; numBytes: number } {
  const bitsPerElement = -Math.log2(s.perElementFpr);
  return {
    numHashFunctions: Math.ceil(bitsPerElement),
    numBytes: Math.ceil((s.capacity * bitsPerElement) / Math.LN2 / 8),
  };
}

const INT64_LIMIT = 2 ** 63;

/**
 * GCS hash range: OpenMined's int64(N / p). When N / p reaches 2⁶³ the C++ conversion
 * overflows (psi.js traps); the range could not be sent in the int64 field either, so vflare
 * refuses from the sizing alone, before any encryption, and says what to change.
 */
export function gcsHashRange(s: Sizing): bigint {
  const range = Math.trunc(s.capacity / s.perElementFpr);
  if (!(range < INT64_LIMIT)) {
    throw new VflareError(
      'UNSUPPORTED',
      `PSI GCS: the hash range N/p = ${s.capacity}/${s.perElementFpr} exceeds OpenMined's int64 ` +
        'field (2^63); use the Bloom or raw container, a larger fpr, or smaller sets',
    );
  }
  if (range < 1) throw new VflareError('INVALID_ARGUMENT', 'PSI GCS: hash range below 1');
  return BigInt(range);
}
