import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CIFAR10_RECORD, loadPartyData, parseCifar10 } from '../../src/splitnn/data.js';

describe('party data loaders', () => {
  it('reads CIFAR-10 binary records into NHWC images and labels', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vflare-cifar-'));
    const bytes = new Uint8Array(3 * CIFAR10_RECORD);
    for (let r = 0; r < 3; r++) {
      const base = r * CIFAR10_RECORD;
      bytes[base] = [3, 0, 9][r] as number;
      bytes[base + 1 + 5] = 255; // red plane, pixel (0, 5)
      bytes[base + 1 + 1024 + 32] = 51; // green plane, pixel (1, 0)
      bytes[base + 1 + 2048 + 1023] = 102 + r; // blue plane, pixel (31, 31)
    }
    writeFileSync(join(dir, 'test_batch.bin'), bytes);
    const images = loadPartyData(
      { format: 'cifar10', files: ['test_batch.bin'], take: 'images', idPrefix: 'c', limit: 2 },
      dir,
      'p',
    );
    const labels = loadPartyData(
      { format: 'cifar10', files: ['test_batch.bin'], take: 'labels', idPrefix: 'c' },
      dir,
      'q',
    );
    expect(images.ids).toEqual(['c0', 'c1']);
    expect(images.features?.rowShape).toEqual([32, 32, 3]);
    const px = images.features?.data as Float32Array;
    expect(px[5 * 3 + 0]).toBe(1);
    expect(px[32 * 3 + 1]).toBeCloseTo(0.2, 6);
    expect(px[3072 + 1023 * 3 + 2]).toBeCloseTo(103 / 255, 6);
    expect(Array.from(labels.labels?.values ?? [])).toEqual([3, 0, 9]);
    expect(() => parseCifar10(new Uint8Array(100), 'short.bin')).toThrow(/short.bin: 100 bytes/);
  });

  it('reads a CSV by header, standardises features and explains bad input by line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vflare-csv-'));
    writeFileSync(join(dir, 'a.csv'), 'id,x,y,label\nr1,1,10,0\nr2,3,10,1\n');
    const d = loadPartyData({ format: 'csv', path: 'a.csv', labelColumn: 'label' }, dir, 'p');
    expect(d.ids).toEqual(['r1', 'r2']);
    expect(Array.from(d.features?.data ?? [])).toEqual([-1, 0, 1, 0]);
    expect(Array.from(d.labels?.values ?? [])).toEqual([0, 1]);
    writeFileSync(join(dir, 'b.csv'), 'id,x\nr1,1\nr2,oops\n');
    expect(() => loadPartyData({ format: 'csv', path: 'b.csv' }, dir, 'p')).toThrow(
      /b.csv line 3, column "x" is not a number/,
    );
    expect(() =>
      loadPartyData({ format: 'csv', path: 'a.csv', labelColumn: 'nope' }, dir, 'p'),
    ).toThrow(/no column "nope"/);
  });
});
