/**
 * IDX reader (the MNIST / Fashion-MNIST container, LeCun et al.): a big-endian header
 * `0x00 0x00 <dtype> <ndims>`, one uint32 per dimension, then the values. Only unsigned bytes
 * (dtype 0x08) are supported, which is what the (Fashion-)MNIST files hold. Pure functions over
 * bytes, so the split-learning and leakage modules reuse them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { VflareError } from '../../runtime/core/index.js';
import type { Dataset } from './dataset.js';

export interface IdxArray {
  readonly shape: readonly number[];
  readonly data: Uint8Array;
}

/** Parses IDX bytes (already gunzipped, or gzip: detected by the gzip magic). */
export function parseIdx(bytes: Uint8Array, source = 'idx'): IdxArray {
  let buf = bytes;
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) buf = gunzipSync(buf);
  if (buf.length < 4 || buf[0] !== 0 || buf[1] !== 0) {
    throw new VflareError('INVALID_DATA', `${source}: not an IDX file (bad magic)`);
  }
  if (buf[2] !== 0x08) {
    throw new VflareError(
      'UNSUPPORTED',
      `${source}: IDX dtype 0x${buf[2]?.toString(16)} is not unsigned bytes`,
    );
  }
  const dims = buf[3] as number;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.length < 4 + 4 * dims) {
    throw new VflareError('INVALID_DATA', `${source}: IDX header truncated`);
  }
  const shape: number[] = [];
  for (let i = 0; i < dims; i++) shape.push(view.getUint32(4 + 4 * i, false));
  const size = shape.reduce((a, b) => a * b, 1);
  const start = 4 + 4 * dims;
  if (buf.length - start !== size) {
    throw new VflareError(
      'INVALID_DATA',
      `${source}: IDX header announces ${size} values, the file holds ${buf.length - start}`,
    );
  }
  return { shape, data: buf.subarray(start, start + size) };
}

export function readIdx(path: string): IdxArray {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new VflareError('NOT_FOUND', `cannot read ${path}: check the path`, { cause: err });
  }
  return parseIdx(bytes, path);
}

/** The raw images (n × 28 × 28 bytes) and labels of one Fashion-MNIST part. */
export interface ImageSet {
  readonly images: Uint8Array;
  readonly labels: Uint8Array;
  readonly count: number;
  readonly height: number;
  readonly width: number;
}

/**
 * Loads `<dir>/<part>-images-idx3-ubyte.gz` and `<dir>/<part>-labels-idx1-ubyte.gz` (`part` is
 * `train` or `t10k`) and checks they agree.
 */
export function loadIdxImageSet(dir: string, part: 'train' | 't10k'): ImageSet {
  const images = readIdx(join(dir, `${part}-images-idx3-ubyte.gz`));
  const labels = readIdx(join(dir, `${part}-labels-idx1-ubyte.gz`));
  if (
    images.shape.length !== 3 ||
    labels.shape.length !== 1 ||
    images.shape[0] !== labels.shape[0]
  ) {
    throw new VflareError(
      'INVALID_DATA',
      `${dir}: ${part} images [${images.shape}] and labels [${labels.shape}] do not match`,
    );
  }
  return {
    images: images.data,
    labels: labels.data,
    count: images.shape[0] as number,
    height: images.shape[1] as number,
    width: images.shape[2] as number,
  };
}

/** Pixels scaled to [0, 1] as float32 features, labels as targets. */
export function imageSetToDataset(set: ImageSet): Dataset {
  const cols = set.height * set.width;
  const x = new Float32Array(set.count * cols);
  for (let i = 0; i < x.length; i++) x[i] = (set.images[i] as number) / 255;
  return { x, y: Float64Array.from(set.labels), rows: set.count, cols };
}
