/** Encoding cut-layer matrices for peer messages (float32, or float16 to halve the bytes). */

import { fromFloat16, toFloat16 } from './float16.js';
import { type CutTensor, checkCut, type WireEncoding } from './messages.js';

export function encodeCut(
  values: Float32Array,
  rows: number,
  cols: number,
  encoding: WireEncoding,
): CutTensor {
  return { rows, cols, encoding, data: encoding === 'float16' ? toFloat16(values) : values };
}

/** Checks the shape and returns float32 values. */
export function decodeCut(
  t: CutTensor,
  rows: number,
  cols: number,
  what: string,
  from: string,
): Float32Array {
  checkCut(t, rows, cols, what, from);
  return t.encoding === 'float16' ? fromFloat16(t.data as Uint16Array) : (t.data as Float32Array);
}
