/**
 * Byte and big-integer helpers shared by the PSI module: one home for conversions so the
 * protocol code reads like the spec.
 */

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i]!];
  return out;
}

export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new TypeError('fromHex: expected an even-length hexadecimal string');
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Big-endian bytes to an unsigned integer. */
export function bytesToBigInt(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${toHex(bytes)}`);
}

/** An unsigned integer as exactly `length` big-endian bytes. */
export function bigIntToBytes(value: bigint, length: number): Uint8Array {
  const hex = value.toString(16);
  if (value < 0n || hex.length > 2 * length) {
    throw new RangeError(`bigIntToBytes: value does not fit in ${length} bytes`);
  }
  return fromHex(hex.padStart(2 * length, '0'));
}

/** An unsigned integer as its minimal big-endian bytes (0 is one zero byte, as in OpenSSL). */
export function bigIntToMinimalBytes(value: bigint): Uint8Array {
  const hex = value.toString(16);
  return fromHex(hex.length % 2 === 0 ? hex : `0${hex}`);
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Lexicographic byte order (what OpenMined's sort of serialised points uses). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** Bytes as a Map/Set key (latin1 keeps one char per byte and is cheap to build). */
export function bytesKey(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

const encoder = new TextEncoder();

/** The UTF-8 bytes of an item, with no normalisation ("café" NFC and NFD differ). */
export function utf8(item: string): Uint8Array {
  return encoder.encode(item);
}

/** Packs equal-length byte strings into one buffer (for worker transfer). */
export function packFixed(items: readonly Uint8Array[], width: number): Uint8Array {
  const out = new Uint8Array(items.length * width);
  for (let i = 0; i < items.length; i++) out.set(items[i]!, i * width);
  return out;
}

/** Views of the equal-length byte strings packed in `buf`. */
export function unpackFixed(buf: Uint8Array, width: number): Uint8Array[] {
  const n = buf.length / width;
  const out = new Array<Uint8Array>(n);
  for (let i = 0; i < n; i++) out[i] = buf.subarray(i * width, (i + 1) * width);
  return out;
}

/** Packs variable-length byte strings: u32 count, u32 offsets, then the bytes. */
export function packVar(items: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const it of items) total += it.length;
  const head = 4 * (items.length + 2);
  const out = new Uint8Array(head + total);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, items.length, true);
  let at = head;
  for (let i = 0; i < items.length; i++) {
    dv.setUint32(4 * (i + 1), at, true);
    out.set(items[i]!, at);
    at += items[i]!.length;
  }
  dv.setUint32(4 * (items.length + 1), at, true);
  return out;
}

export function unpackVar(buf: Uint8Array): Uint8Array[] {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = dv.getUint32(0, true);
  const out = new Array<Uint8Array>(n);
  for (let i = 0; i < n; i++) {
    out[i] = buf.subarray(dv.getUint32(4 * (i + 1), true), dv.getUint32(4 * (i + 2), true));
  }
  return out;
}
