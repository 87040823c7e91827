/**
 * OpenMined's Bloom filter (OM `bloom_filter.cpp`): m = 8·bytes bits, k hash functions by
 * double hashing h1 + i·h2 (mod m) with h1 = SHA-256("1"‖e) mod m and h2 = SHA-256("2"‖e)
 * mod m (digests read big-endian), bit j stored in byte ⌊j/8⌋ at position j mod 8 (LSB
 * first). A plain Uint8Array keeps insertion at native-hash speed.
 */
import { hash } from 'node:crypto';
import { VflareError } from '../runtime/core/index.js';

const ONE = Buffer.from('1');
const TWO = Buffer.from('2');

/** A 32-byte big-endian digest mod m, in doubles (exact while m < 2⁴⁵). */
function digestMod(d: Buffer, m: number): number {
  let r = 0;
  for (let i = 0; i < d.length; i++) r = (r * 256 + d[i]!) % m;
  return r;
}

function sha(prefix: Buffer, e: Uint8Array): Buffer {
  return hash('sha256', Buffer.concat([prefix, e]), 'buffer') as Buffer;
}

/** The pair (h1, h2) OpenMined derives for element e in a filter of m bits. */
export function bloomHashes(e: Uint8Array, m: number): [number, number] {
  return [digestMod(sha(ONE, e), m), digestMod(sha(TWO, e), m)];
}

export class BloomFilter {
  readonly numHashFunctions: number;
  readonly bits: Uint8Array;
  readonly #m: number;

  constructor(numHashFunctions: number, bits: Uint8Array) {
    if (!Number.isInteger(numHashFunctions) || numHashFunctions < 1 || numHashFunctions > 1024) {
      throw new VflareError(
        'PROTOCOL_ERROR',
        `PSI Bloom filter: expected 1–1024 hash functions, got ${numHashFunctions}`,
      );
    }
    if (bits.length === 0 || bits.length * 8 >= 2 ** 45) {
      throw new VflareError('PROTOCOL_ERROR', `PSI Bloom filter: bad size ${bits.length} bytes`);
    }
    this.numHashFunctions = numHashFunctions;
    this.bits = bits;
    this.#m = bits.length * 8;
  }

  static create(numHashFunctions: number, numBytes: number): BloomFilter {
    return new BloomFilter(numHashFunctions, new Uint8Array(numBytes));
  }

  add(e: Uint8Array): void {
    const m = this.#m;
    const [h1, h2] = bloomHashes(e, m);
    for (let i = 0; i < this.numHashFunctions; i++) {
      const j = (h1 + i * h2) % m;
      this.bits[j >>> 3]! |= 1 << (j & 7);
    }
  }

  has(e: Uint8Array): boolean {
    const m = this.#m;
    const [h1, h2] = bloomHashes(e, m);
    for (let i = 0; i < this.numHashFunctions; i++) {
      const j = (h1 + i * h2) % m;
      if ((this.bits[j >>> 3]! & (1 << (j & 7))) === 0) return false;
    }
    return true;
  }
}
