/**
 * Randomness for the privacy mechanisms. Noise that protects data must not be predictable, so
 * the default source draws from the operating system's CSPRNG (`crypto.getRandomValues`); a
 * seeded source exists for reproducible tests and experiments only.
 */
import { webcrypto } from 'node:crypto';

export interface RandomSource {
  /** A uniform draw in the open interval (0, 1). */
  uniform(): number;
}

/** CSPRNG-backed source: 53-bit uniforms from buffered OS randomness. */
export function secureRandom(): RandomSource {
  const buf = new Uint32Array(2048);
  let pos = buf.length;
  return {
    uniform() {
      for (;;) {
        if (pos >= buf.length) {
          webcrypto.getRandomValues(buf);
          pos = 0;
        }
        const hi = buf[pos++]! >>> 5;
        const lo = buf[pos++]! >>> 6;
        const u = (hi * 67108864 + lo) / 9007199254740992;
        if (u > 0) return u;
      }
    },
  };
}

/** Deterministic source (xoshiro128**), for tests and reproducible experiments only. */
export function seededRandom(seed: number): RandomSource {
  // splitmix32 expands the seed into the four state words.
  let s = seed >>> 0;
  const next = (): number => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  const st = new Uint32Array([next(), next(), next(), next()]);
  const rotl = (x: number, k: number) => ((x << k) | (x >>> (32 - k))) >>> 0;
  const u32 = (): number => {
    const r = Math.imul(rotl(Math.imul(st[1]!, 5) >>> 0, 7), 9) >>> 0;
    const t = (st[1]! << 9) >>> 0;
    st[2]! ^= st[0]!;
    st[3]! ^= st[1]!;
    st[1]! ^= st[2]!;
    st[0]! ^= st[3]!;
    st[2]! ^= t;
    st[3] = rotl(st[3]!, 11);
    return r;
  };
  return {
    uniform() {
      for (;;) {
        const u = ((u32() >>> 5) * 67108864 + (u32() >>> 6)) / 9007199254740992;
        if (u > 0) return u;
      }
    },
  };
}

/** One N(0, σ²) draw (Box–Muller). */
export function gaussian(rng: RandomSource, sigma: number): number {
  const u1 = rng.uniform();
  const u2 = rng.uniform();
  return sigma * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/** One Laplace(0, b) draw by inverting the CDF. */
export function laplace(rng: RandomSource, b: number): number {
  const u = rng.uniform() - 0.5;
  return -b * Math.sign(u) * Math.log(1 - 2 * Math.abs(u));
}
