/** Grey-scale PNG output of images in [0, 1] (pngjs), enlarged for viewing. */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PNG } from 'pngjs';

/**
 * Writes images side by side (a 1-pixel white gap between them), each `height × width` grey
 * values in [0, 1] scaled up `scale` times with nearest-neighbour sampling.
 */
export async function writeGreyPng(
  path: string,
  images: readonly Float32Array[],
  height: number,
  width: number,
  scale = 4,
): Promise<void> {
  const gap = 1;
  const w = images.length * (width * scale + gap) - gap;
  const h = height * scale;
  const png = new PNG({ width: w, height: h });
  png.data.fill(255);
  images.forEach((img, k) => {
    const x0 = k * (width * scale + gap);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < width * scale; x++) {
        const v = img[Math.floor(y / scale) * width + Math.floor(x / scale)]!;
        const g = Math.round(Math.min(1, Math.max(0, v)) * 255);
        const o = (y * w + x0 + x) * 4;
        png.data[o] = g;
        png.data[o + 1] = g;
        png.data[o + 2] = g;
        png.data[o + 3] = 255;
      }
    }
  });
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, PNG.sync.write(png));
}
