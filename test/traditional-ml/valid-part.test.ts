import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { dataSpecSchema, loadSiteData } from '../../src/traditional-ml/data/spec.js';

/** A gzipped uint8 IDX file: two zero bytes, type 0x08, dimension count, big-endian sizes. */
function idx(dims: number[], data: number[]): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt8(0x08, 2);
  head.writeUInt8(dims.length, 3);
  dims.forEach((d, i) => {
    head.writeUInt32BE(d, 4 + 4 * i);
  });
  return gzipSync(Buffer.concat([head, Buffer.from(data)]));
}

/** `train` has 6 one-pixel images labelled 1, `t10k` 4 labelled 7: the label tells the file. */
function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'validpart-'));
  for (const [part, rows, label] of [
    ['train', 6, 1],
    ['t10k', 4, 7],
  ] as const) {
    const pixels = Array.from({ length: rows }, (_, i) => i * 10);
    writeFileSync(join(dir, `${part}-images-idx3-ubyte.gz`), idx([rows, 1, 1], pixels));
    writeFileSync(join(dir, `${part}-labels-idx1-ubyte.gz`), idx([rows], Array(rows).fill(label)));
  }
  return dir;
}

describe('data validPart', () => {
  it('takes the training rows from part and the validation rows from validPart', () => {
    const dir = folder();
    const spec = dataSpecSchema.parse({
      path: dir,
      format: 'idx',
      part: 'train',
      validPart: 't10k',
    });
    const data = loadSiteData(spec, { train: [1, 6], valid: [0, 4] }, dir);
    expect(data.train.rows).toBe(5);
    expect(Array.from(data.train.y)).toEqual([1, 1, 1, 1, 1]);
    expect(data.valid?.rows).toBe(4);
    expect(Array.from(data.valid?.y ?? [])).toEqual([7, 7, 7, 7]);
    expect(() => loadSiteData(spec, { train: [0, 6], valid: [0, 5] }, dir)).toThrow(
      /valid rows \[0, 5\) do not fit the 4 rows/,
    );
  });

  it('is the same file as part when absent or equal', () => {
    const dir = folder();
    const spec = dataSpecSchema.parse({
      path: dir,
      format: 'idx',
      part: 'train',
      validPart: 'train',
    });
    const data = loadSiteData(spec, { train: [0, 4], valid: [4, 6] }, dir);
    expect(Array.from(data.valid?.y ?? [])).toEqual([1, 1]);
  });

  it('refuses validPart with a non-IDX format or with standardise', () => {
    const dir = folder();
    const std = dataSpecSchema.parse({
      path: dir,
      format: 'idx',
      part: 'train',
      validPart: 't10k',
      standardise: true,
    });
    expect(() => loadSiteData(std, { train: [0, 6], valid: [0, 4] }, dir)).toThrow(
      /validPart needs format "idx"/,
    );
    const csv = dataSpecSchema.parse({ path: 'x.csv', validPart: 't10k' });
    expect(() => loadSiteData(csv, { train: [0, 1] }, dir)).toThrow(/validPart needs format "idx"/);
  });
});
