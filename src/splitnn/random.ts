/**
 * Seeded randomness for split learning: every party derives the same streams from the job seed,
 * so batch positions, the validation split and initial weights are reproducible everywhere.
 * Generator: SplitMix32-style mixing of a 32-bit counter (Steele, Lea, Flood, "Fast splittable
 * pseudorandom number generators", OOPSLA 2014, with the 32-bit finaliser of MurmurHash3).
 */

/** A deterministic stream of uniform numbers. */
export class SeededRandom {
  #state: number;

  constructor(seed: number, stream = 0) {
    this.#state = mix32((seed >>> 0) ^ Math.imul(stream + 1, 0x9e3779b9)) >>> 0;
  }

  /** Uniform 32-bit unsigned integer. */
  nextUint32(): number {
    this.#state = (this.#state + 0x9e3779b9) >>> 0;
    return mix32(this.#state);
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [0, n), without modulo bias (rejection sampling). */
  nextInt(n: number): number {
    if (n <= 0 || n > 4294967296 || !Number.isInteger(n)) {
      throw new RangeError(`nextInt: expected an integer bound in [1, 2^32], got ${n}`);
    }
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const v = this.nextUint32();
      if (v < limit) return v % n;
    }
  }

  /** Standard normal (Box-Muller). */
  nextNormal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Shuffles in place (Fisher-Yates). */
  shuffle<T extends { length: number; [i: number]: unknown }>(items: T): T {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const t = items[i];
      items[i] = items[j];
      items[j] = t;
    }
    return items;
  }
}

function mix32(x: number): number {
  let z = x >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** Derives a stream number from a label (a party name, a layer), FNV-1a over UTF-16 units. */
export function streamOf(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) {
    h = Math.imul(h ^ label.charCodeAt(i), 0x01000193);
  }
  return h >>> 0;
}
