/**
 * Native-speed scalar kernels over P-256, built only on node:crypto (OpenSSL) and BigInt, so
 * they run unchanged on the main thread and in worker threads.
 *
 * node:crypto exposes x(k·P) (ECDH `computeSecret`) and, through a raw RSA public operation,
 * modular exponentiation, but no general point multiplication. Two constructions follow from that:
 *
 * - **Compatible mode** needs the full point k·P (33-byte compressed, as OpenMined sends it).
 *   We compute x0 = x(k·P) and x1 = x((k+1)·P) natively, take a native square root y0 for x0,
 *   and decide the sign with one affine-addition identity: if Q = (x0, y0) then
 *   x(Q + P) = λ² − x0 − xP with λ = (y0 − yP)/(x0 − xP), i.e.
 *   (y0 − yP)² ≡ (x1 + x0 + xP)·(x0 − xP)² (mod p), division-free. The other root −y0 satisfies
 *   it only if 4·y0·yP ≡ 0, impossible on a prime-order curve (no point has y = 0), so exactly
 *   one sign passes. k ∈ {1, n−1} (x0 = xP) and k = n−1 ((k+1)·P = ∞) are excluded by the caller.
 * - **Fast mode** is x-only: x(k·P) does not depend on the sign of P, so the cipher
 *   E_k(x) = x(k·P) over x-coordinates is commutative (x(a·(±b·P)) = x(ab·P)) and one native
 *   `computeSecret` is the whole multiplication.
 *
 * Hash to the group, fast mode: H(m) is the P-256 point whose x-coordinate is the first
 * candidate x_i = SHA-256("vflare/psi/fast/v1" ‖ i as u32 BE ‖ m), i = 0, 1, …, that is below p
 * and on the curve (about half are). The on-curve test is Euler's criterion on x³ − 3x + b,
 * computed natively (see `modexpKey`), so a try costs about a tenth of a multiplication and
 * the whole hash runs at native speed. This is the try-and-increment construction PJC and
 * OpenMined use, modelled as a random oracle onto the curve's x-coordinates: x is a SHA-256
 * output, so learning H(m)'s discrete logarithm means finding k with x(k·G) equal to a hash
 * value, i.e. solving discrete log for a random point; the semi-honest DH-PSI argument (DDH
 * in the random-oracle model) applies as for OpenMined. Hashing points into a fixed
 * combination a(m)·G + b(m)·Q would be faster but is NOT sound: any three outputs would be
 * linearly related with known coefficients, letting a party test guesses offline. The number
 * of tries depends on the item, so timing leaks about one bit per try, as in PJC.
 * P-256 has cofactor 1, so every valid point is in the prime-order group; off-curve inputs
 * are rejected by OpenSSL (no invalid-curve attack).
 */
import {
  constants,
  createECDH,
  createHash,
  createPublicKey,
  type ECDH,
  type KeyObject,
  publicEncrypt,
} from 'node:crypto';

/** P-256 field prime, order, and curve coefficient b (SEC 2 / FIPS 186-4). */
export const P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
export const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
export const B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;

const CURVE = 'prime256v1';
const FAST_TAG = new TextEncoder().encode('vflare/psi/fast/v1');

/** A scalar with the native ECDH objects computing x(k·P) and x((k+1)·P). */
export interface NativeKey {
  readonly k: bigint;
  readonly ecdh: ECDH;
  /** For (k+1)·P, used for sign recovery; null when k + 1 = n. */
  readonly ecdhNext: ECDH | null;
}

export function scalarBytes(k: bigint): Buffer {
  return Buffer.from(k.toString(16).padStart(64, '0'), 'hex');
}

export function nativeKey(k: bigint): NativeKey {
  const ecdh = createECDH(CURVE);
  ecdh.setPrivateKey(scalarBytes(k));
  let ecdhNext: ECDH | null = null;
  if (k + 1n < N) {
    ecdhNext = createECDH(CURVE);
    ecdhNext.setPrivateKey(scalarBytes(k + 1n));
  }
  return { k, ecdh, ecdhNext };
}

/** True when the compatible-mode native path can be used with this key. */
export function signRecoverable(k: bigint): boolean {
  return k > 1n && k < N - 2n;
}

function sha256(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

function toBig(b: Uint8Array): bigint {
  return BigInt(`0x${Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')}`);
}

function mod(a: bigint): bigint {
  const r = a % P;
  return r < 0n ? r + P : r;
}

/**
 * Native modular exponentiation mod p. node:crypto has no bignum API, but a raw RSA public
 * operation (no padding) computes m^e mod n in OpenSSL; with n = p (odd, so Montgomery
 * arithmetic applies) and e = (p−1)/2 it is Euler's criterion, with e = (p+1)/4 a square root
 * (p ≡ 3 mod 4). These are public-data operations on hash outputs and public points; no key
 * material goes through them. About 1/10 of an ECDH multiplication each, and no exceptions.
 */
function modexpKey(e: bigint): KeyObject {
  const b64 = (v: bigint) => scalarBytes(v).toString('base64url');
  return createPublicKey({ key: { kty: 'RSA', n: b64(P), e: b64(e) }, format: 'jwk' });
}
let legendreKey: KeyObject | null = null;
let sqrtKey: KeyObject | null = null;

function modexp(key: KeyObject, a: bigint): Buffer {
  return publicEncrypt({ key, padding: constants.RSA_NO_PADDING }, scalarBytes(a));
}

/** x³ − 3x + b mod p, the curve's right-hand side. */
function curveRhs(x: bigint): bigint {
  return (((x * x) % P) * x + P * 3n - 3n * x + B) % P;
}

/** True when x is the x-coordinate of a P-256 point (x < p). */
export function isOnCurveX(x: bigint): boolean {
  const f = curveRhs(x);
  if (f === 0n) return true;
  legendreKey ??= modexpKey((P - 1n) / 2n);
  const r = modexp(legendreKey, f);
  return r[31] === 1 && r.subarray(0, 31).every((b) => b === 0);
}

/** A square root of x³ − 3x + b mod p, or null when x is not on the curve. */
export function curveY(x: bigint): bigint | null {
  const f = curveRhs(x);
  if (f === 0n) return 0n;
  sqrtKey ??= modexpKey((P + 1n) / 4n);
  const y = toBig(modexp(sqrtKey, f));
  return (y * y) % P === f ? y : null;
}

/** 04‖x‖y for x and the root y of the requested parity. */
function uncompressed(x: bigint, y: bigint, odd: boolean): Buffer {
  const yy = (y & 1n) === (odd ? 1n : 0n) ? y : P - y;
  const out = Buffer.alloc(65);
  out[0] = 4;
  scalarBytes(x).copy(out, 1);
  scalarBytes(yy).copy(out, 33);
  return out;
}

/** Decompresses a 33-byte point to 65 bytes (04‖x‖y), or null if it is not on the curve. */
export function decompress(compressed: Uint8Array): Buffer | null {
  const x = toBig(compressed.subarray(1, 33));
  if (x >= P) return null;
  const y = curveY(x);
  return y === null ? null : uncompressed(x, y, compressed[0] === 3);
}

/** Thrown by the kernels on a bad point; carries the element's index only. */
export class BadPointError extends Error {
  constructor(readonly index: number) {
    super(`element ${index} is not a valid P-256 point`);
  }
}

/**
 * OpenMined/PJC hash to curve (PJC `ECGroup::GetPointByHashingToCurveSha256`): x is
 * (SHA-256(0x01‖m)·2²⁵⁶ + SHA-256(0x02‖m)) mod p; if x³ − 3x + b is a square the point is
 * (x, even y), otherwise m becomes x's minimal big-endian bytes and we try again.
 * Returns the uncompressed point 04‖x‖y (its compressed form is 02‖x).
 */
export function compatHash(item: Uint8Array): Buffer {
  let m: Uint8Array = item;
  const one = Uint8Array.of(1);
  const two = Uint8Array.of(2);
  for (;;) {
    const x = ((toBig(sha256(one, m)) << 256n) + toBig(sha256(two, m))) % P;
    const y = curveY(x);
    if (y !== null) return uncompressed(x, y, false);
    let hex = x.toString(16);
    if (hex.length % 2 === 1) hex = `0${hex}`;
    m = Buffer.from(hex, 'hex');
  }
}

/**
 * k·P for a valid uncompressed point P (65 bytes), as a 33-byte compressed point, natively
 * with sign recovery (see the module comment). The key must satisfy `signRecoverable`.
 */
export function compatMultiply(key: NativeKey, pu: Uint8Array): Buffer {
  const x0b = key.ecdh.computeSecret(pu);
  const x1b = key.ecdhNext!.computeSecret(pu);
  const x0 = toBig(x0b);
  const y0 = curveY(x0);
  if (y0 === null) throw new Error('internal: x(kP) is not on the curve');
  const xP = toBig(pu.subarray(1, 33));
  const yP = toBig(pu.subarray(33, 65));
  const x1 = toBig(x1b);
  const dx = mod(x0 - xP);
  const lhs = mod((y0 - yP) * (y0 - yP));
  const rhs = mod(mod(x1 + x0 + xP) * mod(dx * dx));
  // k·P = (x0, y0) if the identity holds, else (x0, p − y0).
  const y = lhs === rhs ? y0 : P - y0;
  const out = Buffer.alloc(33);
  out[0] = y & 1n ? 3 : 2;
  x0b.copy(out, 1);
  return out;
}

/** Validates a 33-byte compressed point and returns it uncompressed, or throws BadPointError. */
export function parseCompressed(el: Uint8Array, index: number): Buffer {
  if (el.length !== 33 || (el[0] !== 2 && el[0] !== 3)) throw new BadPointError(index);
  const pu = decompress(el);
  if (pu === null) throw new BadPointError(index);
  return pu;
}

/** Fast mode: x(k·H(m)) with the fast hash to the group fused into the multiplication. */
export function fastHashMultiply(key: NativeKey, item: Uint8Array, scratch: Buffer): Buffer {
  const ctr = Buffer.alloc(4);
  for (let i = 0; ; i++) {
    ctr.writeUInt32BE(i >>> 0, 0);
    const x = sha256(FAST_TAG, ctr, item);
    // Candidates ≥ p (probability 2⁻³²) are skipped so every x is a canonical field element.
    if (x.compare(P_BYTES) >= 0 || !isOnCurveX(toBig(x))) continue;
    scratch[0] = 2;
    x.copy(scratch, 1);
    return key.ecdh.computeSecret(scratch);
  }
}

/**
 * Fast mode: x(k·P) for a 32-byte x-coordinate; throws BadPointError if x is not on the curve
 * (OpenSSL validates the point while decompressing it).
 */
export function fastMultiply(
  key: NativeKey,
  x: Uint8Array,
  index: number,
  scratch: Buffer,
): Buffer {
  if (x.length !== 32) throw new BadPointError(index);
  scratch[0] = 2;
  scratch.set(x, 1);
  try {
    return key.ecdh.computeSecret(scratch);
  } catch {
    throw new BadPointError(index);
  }
}

const P_BYTES = scalarBytes(P);

/** The batch operations the worker pool runs. */
export type KernelOp =
  | 'compat-hash-encrypt'
  | 'compat-multiply'
  | 'fast-hash-encrypt'
  | 'fast-multiply';

export const OUTPUT_WIDTH: Readonly<Record<KernelOp, number>> = {
  'compat-hash-encrypt': 33,
  'compat-multiply': 33,
  'fast-hash-encrypt': 32,
  'fast-multiply': 32,
};

/**
 * Runs `op` over `inputs` with scalar k and returns the outputs packed at OUTPUT_WIDTH[op].
 * `offset` is the index of inputs[0] in the whole batch (for error messages).
 */
export function runKernel(
  op: KernelOp,
  k: bigint,
  inputs: readonly Uint8Array[],
  offset: number,
): Uint8Array {
  const key = nativeKey(k);
  const w = OUTPUT_WIDTH[op];
  const out = new Uint8Array(inputs.length * w);
  const scratch = Buffer.alloc(33);
  for (let i = 0; i < inputs.length; i++) {
    const el = inputs[i]!;
    let r: Uint8Array;
    switch (op) {
      case 'compat-hash-encrypt':
        r = compatMultiply(key, compatHash(el));
        break;
      case 'compat-multiply':
        r = compatMultiply(key, parseCompressed(el, offset + i));
        break;
      case 'fast-hash-encrypt':
        r = fastHashMultiply(key, el, scratch);
        break;
      case 'fast-multiply':
        r = fastMultiply(key, el, offset + i, scratch);
        break;
    }
    out.set(r, i * w);
  }
  return out;
}
