/**
 * OpenMined's Bloom filter (OM `bloom_filter.cpp`): m = 8·bytes bits, k hash functions by
 * double hashing h1 + i·h2 (mod m) with h1 = SHA-256("1"‖e) mod m and h2 = SHA-256("2"‖e)
 * mod m (digests read big-endian), bit j stored in byte ⌊j/8⌋ at position j mod 8 (LSB
 * first). A plain Uint8Array keeps insertion at native-hash speed.
 *
 * Plain double hashing has a blind spot that matters for PSI: when h2 ≡ 0 (mod m), which
 * happens for one element in m, all k probes land on the same bit, so such a non-member is a
 * false positive with probability equal to the filter's fill (≈ ½ at design load) instead of
 * 2⁻ᵏ. Over a query of nc items that adds about nc·fill/m false positives whatever fpr was
 * asked for: roughly 0.35/k expected per run when nc = N, around 1% at k = 37, where the
 * nominal rate is 1e-9. OpenMined's wire format fixes the probe sequence, so the compatible
 * mode keeps it; vflare's own fast mode uses enhanced double hashing instead (Dillinger and
 * Manolios, "Bloom filters in probabilistic verification", FMCAD 2004): probe i is
 * h1 + i·h2 + (i³ − i)/6 (mod m), whose cubic term keeps the probes apart when h2 is 0 or
 * shares a large factor with m.
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

/** How probe i is derived from (h1, h2): OpenMined's plain double hashing or the enhanced form. */
export type BloomProbing = 'double' | 'enhanced';

export class BloomFilter {
  readonly numHashFunctions: number;
  readonly bits: Uint8Array;
  readonly probing: BloomProbing;
  readonly #m: number;

  constructor(numHashFunctions: number, bits: Uint8Array, probing: BloomProbing = 'double') {
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
    this.probing = probing;
    this.#m = bits.length * 8;
  }

  static create(
    numHashFunctions: number,
    numBytes: number,
    probing: BloomProbing = 'double',
  ): BloomFilter {
    return new BloomFilter(numHashFunctions, new Uint8Array(numBytes), probing);
  }

  /** Calls `visit` with each probe's bit index; stops early when it returns false. */
  #probe(e: Uint8Array, visit: (j: number) => boolean): void {
    const m = this.#m;
    const k = this.numHashFunctions;
    const [h1, h2] = bloomHashes(e, m);
    if (this.probing === 'double') {
      for (let i = 0; i < k; i++) if (!visit((h1 + i * h2) % m)) return;
      return;
    }
    // Incremental form of h1 + i·h2 + (i³ − i)/6: x advances by y, y by i. Both stay < m.
    let x = h1;
    let y = h2;
    for (let i = 1; i <= k; i++) {
      if (!visit(x)) return;
      x = (x + y) % m;
      y = (y + i) % m;
    }
  }

  add(e: Uint8Array): void {
    const bits = this.bits;
    this.#probe(e, (j) => {
      bits[j >>> 3]! |= 1 << (j & 7);
      return true;
    });
  }

  has(e: Uint8Array): boolean {
    const bits = this.bits;
    let all = true;
    this.#probe(e, (j) => {
      all = (bits[j >>> 3]! & (1 << (j & 7))) !== 0;
      return all;
    });
    return all;
  }
}
