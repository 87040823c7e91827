/**
 * P-256 scalars and the pure-JS (noble) reference of OpenMined's commutative cipher
 * (PJC `ECCommutativeCipher`, SHA-256 hash type). The production path is the native kernels
 * (`kernels.ts`); this file is the independent implementation the tests check them against, and
 * the fallback for the two keys the native sign recovery cannot use (k = 1 and k ≥ n − 2).
 */
import { randomBytes } from 'node:crypto';
import { p256 } from '@noble/curves/nist.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { VflareError } from '../runtime/core/index.js';
import { bigIntToMinimalBytes, bytesToBigInt, concatBytes } from './bytes.js';
import { N, P } from './kernels.js';

const Point = p256.Point;
type Pt = InstanceType<typeof Point>;

/** A uniformly random scalar in [1, n) (rejection sampling over 256-bit strings). */
export function randomScalar(): bigint {
  for (;;) {
    const k = bytesToBigInt(randomBytes(32));
    if (k >= 1n && k < N) return k;
  }
}

/** Parses a 32-byte big-endian key, as OpenMined exports it; 0 and ≥ n are rejected. */
export function scalarFromBytes(bytes: Uint8Array): bigint {
  if (!(bytes instanceof Uint8Array) || bytes.length !== 32) {
    throw new VflareError('INVALID_ARGUMENT', 'PSI key: expected 32 big-endian bytes');
  }
  const k = bytesToBigInt(bytes);
  if (k === 0n || k >= N) {
    throw new VflareError('INVALID_ARGUMENT', 'PSI key: expected a scalar in [1, n) of P-256');
  }
  return k;
}

export function invertScalar(k: bigint): bigint {
  // Fermat: k^(n−2) mod n (n is prime).
  let result = 1n;
  let base = k % N;
  let e = N - 2n;
  while (e > 0n) {
    if (e & 1n) result = (result * base) % N;
    base = (base * base) % N;
    e >>= 1n;
  }
  return result;
}

/** PJC's try-and-increment hash to curve, in noble (see `kernels.ts` `compatHash`). */
export function nobleHashToCurve(item: Uint8Array): Pt {
  let m = item;
  for (;;) {
    const x =
      ((bytesToBigInt(sha256(concatBytes(Uint8Array.of(1), m))) << 256n) +
        bytesToBigInt(sha256(concatBytes(Uint8Array.of(2), m)))) %
      P;
    const rhs = Point.Fp.add(
      Point.Fp.mul(Point.Fp.sqr(x), x),
      Point.Fp.add(Point.Fp.mul(x, P - 3n), B_NOBLE),
    );
    if (Point.Fp.eql(Point.Fp.pow(rhs, (P - 1n) / 2n), Point.Fp.ONE) || rhs === 0n) {
      let y = Point.Fp.sqrt(rhs);
      if (y & 1n) y = P - y;
      return Point.fromAffine({ x, y });
    }
    m = bigIntToMinimalBytes(x);
  }
}

const B_NOBLE = p256.Point.CURVE().b;

/** k·P in noble, compressed. */
export function nobleMultiply(k: bigint, point: Pt): Uint8Array {
  return point.multiply(k).toBytes(true);
}

/** Parses and validates a 33-byte compressed point in noble. */
export function nobleParse(bytes: Uint8Array): Pt {
  const pt = Point.fromBytes(bytes);
  pt.assertValidity();
  return pt;
}
