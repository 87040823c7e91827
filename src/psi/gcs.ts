/**
 * OpenMined's Golomb-compressed set (OM `datastructure/gcs.cpp`, `golomb.cpp`): each element
 * maps to SHA-256(e) mod hash_range (digest read big-endian); the sorted, de-duplicated values
 * are delta-coded with Golomb-Rice parameter div = max(0, round(−log₂(−log₂(1 − 1/avg)))),
 * avg = (max + 1)/count; each delta is a unary quotient (zeros then a one) followed by div
 * remainder bits, everything LSB first. Values are BigInt: hash_range goes up to 2⁶³ − 1.
 */
import { hash } from 'node:crypto';
import { VflareError } from '../runtime/core/index.js';

function digestMod(e: Uint8Array, range: bigint): bigint {
  const d = hash('sha256', e, 'hex') as string;
  return BigInt(`0x${d}`) % range;
}

export function gcsHash(e: Uint8Array, hashRange: bigint): bigint {
  return digestMod(e, hashRange);
}

/** OpenMined's Golomb parameter for sorted values (count includes duplicates, as in OM). */
export function golombDiv(sorted: BigInt64Array): number {
  if (sorted.length === 0) return 0;
  const avg = (Number(sorted[sorted.length - 1]!) + 1) / sorted.length;
  const prob = 1 / avg;
  let div = Math.round(-Math.log2(-Math.log2(1 - prob)));
  // OpenMined's formula breaks down once 1 − prob rounds to 1 (avg beyond 2⁵³, hash ranges
  // near 2⁶³ with few items): there it is undefined behaviour in C++. log1p gives the value
  // the formula means; elsewhere OM's exact expression is kept so the bits stay identical.
  if (!Number.isFinite(div)) div = Math.round(-Math.log2(-Math.log1p(-prob) / Math.LN2));
  if (Number.isNaN(div)) div = 0;
  return Math.min(62, Math.max(0, div));
}

class BitWriter {
  bytes = new Uint8Array(1024);
  pos = 0;

  #ensure(bits: number): void {
    const need = Math.ceil((this.pos + bits) / 8);
    if (need <= this.bytes.length) return;
    const next = new Uint8Array(Math.max(need, this.bytes.length * 2));
    next.set(this.bytes);
    this.bytes = next;
  }

  /** quotient zeros, a one, then `div` low bits of `rem`, LSB first. */
  write(quotient: number, rem: bigint, div: number): void {
    this.#ensure(quotient + 1 + div);
    this.pos += quotient;
    this.bytes[this.pos >>> 3]! |= 1 << (this.pos & 7);
    this.pos++;
    for (let i = 0; i < div; i++, this.pos++) {
      if ((rem >> BigInt(i)) & 1n) this.bytes[this.pos >>> 3]! |= 1 << (this.pos & 7);
    }
  }

  finish(): Uint8Array {
    return this.bytes.slice(0, Math.ceil(this.pos / 8));
  }
}

export interface Gcs {
  readonly div: number;
  readonly hashRange: bigint;
  readonly bits: Uint8Array;
}

export function buildGcs(elements: readonly Uint8Array[], hashRange: bigint): Gcs {
  const values = new BigInt64Array(elements.length);
  for (let i = 0; i < elements.length; i++) values[i] = digestMod(elements[i]!, hashRange);
  values.sort();
  const div = golombDiv(values);
  const w = new BitWriter();
  const mask = (1n << BigInt(div)) - 1n;
  let prev = 0n;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (i > 0 && v === prev) continue;
    const delta = v - prev;
    const quotient = delta >> BigInt(div);
    if (quotient > 1n << 32n) {
      throw new VflareError('INTERNAL', 'PSI GCS: a Golomb quotient is out of range');
    }
    w.write(Number(quotient), delta & mask, div);
    prev = v;
  }
  return { div, hashRange, bits: values.length === 0 ? new Uint8Array(0) : w.finish() };
}

/** Decodes the set's values (the prefix sums of the coded deltas). */
export function decodeGcs(gcs: Gcs): Set<bigint> {
  const { bits, div } = gcs;
  if (!Number.isInteger(div) || div < 0 || div > 63) {
    throw new VflareError('PROTOCOL_ERROR', `PSI GCS: div must be in [0, 63], got ${div}`);
  }
  if (gcs.hashRange <= 0n) {
    throw new VflareError('PROTOCOL_ERROR', 'PSI GCS: hash_range must be positive');
  }
  const out = new Set<bigint>();
  const total = bits.length * 8;
  let pos = 0;
  let sum = 0n;
  const bit = (j: number) => (bits[j >>> 3]! >>> (j & 7)) & 1;
  for (;;) {
    let q = 0;
    while (pos < total && bit(pos) === 0) {
      // Whole zero bytes are skipped at once.
      if ((pos & 7) === 0 && bits[pos >>> 3] === 0) {
        q += 8;
        pos += 8;
      } else {
        q++;
        pos++;
      }
    }
    if (pos >= total) break;
    pos++;
    let rem = 0n;
    for (let i = 0; i < div; i++, pos++) {
      if (pos < total && bit(pos)) rem |= 1n << BigInt(i);
    }
    sum += (BigInt(q) << BigInt(div)) | rem;
    out.add(sum);
  }
  return out;
}
