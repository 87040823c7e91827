import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeModel,
  encodeModel,
  loadModelFile,
  saveModelFile,
} from '../../../src/runtime/workflows/model-file.js';

describe('model file', () => {
  it('round-trips every dtype bit-exactly', () => {
    fc.assert(
      fc.property(fc.array(fc.double(), { maxLength: 20 }), (xs) => {
        const weights = {
          f64: { shape: [xs.length], data: Float64Array.from(xs) },
          f32: { shape: [xs.length], data: Float32Array.from(xs) },
          i32: { shape: [2, 1], data: Int32Array.of(-5, 7) },
          u8: { shape: [3], data: Uint8Array.of(0, 1, 255) },
          u32: { shape: [1], data: Uint32Array.of(4_000_000_000) },
        };
        const back = decodeModel(encodeModel({ round: 3, weights }));
        expect(back.round).toBe(3);
        for (const [k, t] of Object.entries(weights)) {
          expect(back.weights[k]!.shape).toEqual(t.shape);
          expect(back.weights[k]!.data.constructor).toBe(t.data.constructor);
          expect(Buffer.from(back.weights[k]!.data.buffer)).toEqual(
            Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength),
          );
        }
      }),
    );
  });

  it('rejects a file that is not a model, and a truncated one, with the file named', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vfm-'));
    const p = join(dir, 'x.vfm');
    writeFileSync(p, 'hello');
    await expect(loadModelFile(p)).rejects.toThrow(/x\.vfm is not a valid vflare model file/);
    const bytes = encodeModel({
      round: 0,
      weights: { w: { shape: [100], data: new Float32Array(100) } },
    });
    writeFileSync(p, bytes.subarray(0, bytes.length - 10));
    await expect(loadModelFile(p)).rejects.toThrow(/not a valid vflare model file/);
    await expect(loadModelFile(join(dir, 'missing.vfm'))).rejects.toThrow(/cannot be read/);
  });

  it('never exposes a torn file to a concurrent reader', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vfm-'));
    const p = join(dir, 'm.vfm');
    const big = (v: number) => ({
      round: v,
      weights: { w: { shape: [1 << 20], data: new Float32Array(1 << 20).fill(v) } },
    });
    await saveModelFile(p, big(0));
    let writing = true;
    let reads = 0;
    const reader = (async () => {
      while (writing) {
        const m = decodeModel(readFileSync(p));
        expect(m.weights['w']!.data[12345]).toBe(m.round);
        reads++;
        await new Promise((r) => setImmediate(r));
      }
    })();
    for (let i = 1; i <= 6; i++) await saveModelFile(p, big(i));
    writing = false;
    await reader;
    expect(reads).toBeGreaterThan(0);
    expect(readdirSync(dir)).toEqual(['m.vfm']);
  });

  it('leaves the old model intact when the writing process is killed mid-write', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vfm-'));
    const p = join(dir, 'm.vfm');
    await saveModelFile(p, {
      round: 0,
      weights: { w: { shape: [4], data: Float32Array.of(1, 2, 3, 4) } },
    });
    const before = readFileSync(p);
    const modelFile = new URL('../../../src/runtime/workflows/model-file.ts', import.meta.url)
      .pathname;
    const script = `
      const { saveModelFile } = await import(${JSON.stringify(modelFile)});
      const data = new Float32Array(32 << 20).fill(9);
      process.stdout.write('go\\n');
      const model = { round: 1, weights: { w: { shape: [data.length], data } } };
      for (;;) await saveModelFile(${JSON.stringify(p)}, model);
    `;
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    await new Promise((r) => setTimeout(r, 150));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const after = readFileSync(p);
    const m = decodeModel(after);
    // Either the old model or a complete new one, never a torn one.
    if (m.round === 0) expect(after.equals(before)).toBe(true);
    else expect(m.weights['w']!.data.length).toBe(32 << 20);
  }, 30_000);
});
