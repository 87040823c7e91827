/**
 * A plain image for the leakage metrics: row-major `height × width × channels` samples in a
 * typed array. Kept separate from tensors so the metrics are pure functions over typed arrays.
 */
import { fail } from '../../runtime/core/index.js';

export interface Image {
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  /** Row-major HWC samples; length = height × width × channels. */
  readonly data: Float32Array | Float64Array;
}

export function image(
  data: Float32Array | Float64Array,
  height: number,
  width: number,
  channels = 1,
): Image {
  if (data.length !== height * width * channels) {
    fail(
      'image data',
      `${height}×${width}×${channels} = ${height * width * channels} samples`,
      `${data.length}`,
    );
  }
  return { data, height, width, channels };
}

export function assertSameShape(label: string, a: Image, b: Image): void {
  if (a.height !== b.height || a.width !== b.width || a.channels !== b.channels) {
    fail(
      label,
      `images of equal shape (${a.height}×${a.width}×${a.channels})`,
      `${b.height}×${b.width}×${b.channels}`,
    );
  }
}
