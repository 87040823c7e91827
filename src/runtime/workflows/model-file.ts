/**
 * The model file format and atomic file writes.
 *
 * Format (`.vfm`, "vflare model"): one msgpack document
 * `{format: 'vflare-model', version: 1, round, variables: [{name, dtype, shape, data}]}` where
 * `data` is a msgpack `bin` holding the tensor's raw little-endian bytes. Why binary msgpack
 * rather than JSON + base64: the bytes go in and out without a text round trip (base64 costs a
 * third more space and a full encode/decode pass), float values are bit-exact by construction,
 * and msgpack is already the wire encoding, so any msgpack reader (Python's `msgpack` +
 * `numpy.frombuffer`, for instance) can open a model. The explicit `dtype` + `shape` per variable
 * (rather than msgpackr's private typed-array extension) keeps the file readable outside JS.
 *
 * Writes are atomic: the bytes go to a temporary file in the same folder, are flushed to disk,
 * then renamed over the target (rename is atomic within one file system), so a crash leaves
 * either the old file or the new one, never a torn model.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { endianness } from 'node:os';
import { dirname } from 'node:path';
import { pack, unpack } from 'msgpackr';
import { VflareError } from '../core/errors.js';
import type { NumericArray, Tensor, TensorMap } from '../core/messages.js';

export const MODEL_FORMAT = 'vflare-model';
export const MODEL_FORMAT_VERSION = 1;

const DTYPES = {
  float32: Float32Array,
  float64: Float64Array,
  int32: Int32Array,
  uint8: Uint8Array,
  uint32: Uint32Array,
} as const;
type DType = keyof typeof DTYPES;

function dtypeOf(data: NumericArray): DType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Uint32Array) return 'uint32';
  return 'uint8';
}

if (endianness() !== 'LE') {
  // Typed arrays use the platform's byte order; the format is little-endian.
  throw new VflareError('UNSUPPORTED', 'model files need a little-endian platform');
}

export interface ModelFile {
  readonly round: number | null;
  readonly weights: TensorMap;
}

/** Encodes a model as `.vfm` bytes. */
export function encodeModel(model: ModelFile): Uint8Array {
  const variables = Object.entries(model.weights).map(([name, t]) => ({
    name,
    dtype: dtypeOf(t.data),
    shape: [...t.shape],
    data: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
  }));
  return pack({
    format: MODEL_FORMAT,
    version: MODEL_FORMAT_VERSION,
    round: model.round,
    variables,
  });
}

function bad(source: string, what: string): never {
  throw new VflareError('INVALID_DATA', `${source} is not a valid vflare model file: ${what}`);
}

/** Decodes `.vfm` bytes; `source` names the file in error messages. */
export function decodeModel(bytes: Uint8Array, source = 'model'): ModelFile {
  let doc: unknown;
  try {
    doc = unpack(bytes);
  } catch {
    bad(source, 'not msgpack');
  }
  const d = doc as Record<string, unknown> | null;
  if (d === null || typeof d !== 'object' || d['format'] !== MODEL_FORMAT) bad(source, 'no header');
  if (d['version'] !== MODEL_FORMAT_VERSION) bad(source, `unsupported version ${d['version']}`);
  const round = d['round'];
  if (round !== null && typeof round !== 'number') bad(source, 'round is not a number');
  if (!Array.isArray(d['variables'])) bad(source, 'variables is not a list');
  const weights: Record<string, Tensor> = {};
  for (const v of d['variables'] as Record<string, unknown>[]) {
    const name = v['name'];
    const dtype = v['dtype'];
    const shape = v['shape'];
    const raw = v['data'];
    if (typeof name !== 'string') bad(source, 'a variable has no name');
    if (typeof dtype !== 'string' || !(dtype in DTYPES)) bad(source, `"${name}": bad dtype`);
    if (!Array.isArray(shape) || !shape.every((n) => Number.isInteger(n) && n >= 0)) {
      bad(source, `"${name}": bad shape`);
    }
    if (!(raw instanceof Uint8Array)) bad(source, `"${name}": data is not binary`);
    const Ctor = DTYPES[dtype as DType];
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    if (raw.byteLength !== count * Ctor.BYTES_PER_ELEMENT) {
      bad(source, `"${name}": ${raw.byteLength} bytes do not fit shape [${shape}] of ${dtype}`);
    }
    // Copy into a fresh, aligned buffer: the decoded bytes may sit at any offset.
    const copy = new Uint8Array(raw.byteLength);
    copy.set(raw);
    weights[name] = { shape: shape as number[], data: new Ctor(copy.buffer) };
  }
  return { round: round as number | null, weights };
}

/**
 * Writes `bytes` to `path` atomically (temporary file in the same folder, fsync, rename, then
 * a best-effort fsync of the folder so the rename itself is durable).
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array | string): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const fh = await open(tmp, 'wx');
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new VflareError('INTERNAL', `could not write ${path}`, { cause: err });
  }
  try {
    const dh = await open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  } catch {
    // Some platforms cannot fsync a directory; the rename is still atomic.
  }
}

export async function saveModelFile(path: string, model: ModelFile): Promise<void> {
  await writeFileAtomic(path, encodeModel(model));
}

export async function loadModelFile(path: string): Promise<ModelFile> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new VflareError('NOT_FOUND', `model file ${path} cannot be read`, { cause: err });
  }
  return decodeModel(bytes, path);
}
