import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { collectingLogger } from '../../src/runtime/core/logger.js';
import { currentBackend, initBackend } from '../../src/tf/index.js';

interface Case {
  readonly n: number;
  readonly h: number;
  readonly w: number;
  readonly c: number;
  readonly k: number;
  readonly fh: number;
  readonly fw: number;
  readonly stride: number;
  readonly pad: 'same' | 'valid';
}

function filled(size: number, seed: number): Float32Array {
  const out = new Float32Array(size);
  let s = seed >>> 0;
  for (let i = 0; i < size; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

/** The filter gradient of sum(conv2d(x, f) · dy), on the active backend. */
function filterGrad(c: Case, seed: number): Float32Array {
  return tf.tidy(() => {
    const x = tf.tensor4d(filled(c.n * c.h * c.w * c.c, seed), [c.n, c.h, c.w, c.c]);
    const f = tf.tensor4d(filled(c.fh * c.fw * c.c * c.k, seed + 1), [c.fh, c.fw, c.c, c.k]);
    const y = tf.conv2d(x, f, c.stride, c.pad);
    const dy = tf.tensor(filled(y.size, seed + 2), y.shape);
    const g = tf.grad((ff) => tf.sum(tf.mul(tf.conv2d(x, ff as tf.Tensor4D, c.stride, c.pad), dy)));
    return g(f).dataSync() as Float32Array;
  });
}

describe('TensorFlow.js backend set-up', () => {
  it('keeps the cpu backend from printing its install-tfjs-node banner', async () => {
    await initBackend('wasm');
    expect(tf.env().getBool('PROD')).toBe(true);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    // A fresh cpu backend prints the banner on its first tensor unless production mode is on.
    const firstWrite = () =>
      (tf.findBackendFactory('cpu')!() as tf.KernelBackend).write(
        new Float32Array(1),
        [1],
        'float32',
      );
    try {
      firstWrite();
      expect(warn).not.toHaveBeenCalled();
      tf.env().set('PROD', false);
      firstWrite();
      expect(String(warn.mock.calls[0]?.[0])).toMatch(/tfjs-node/);
    } finally {
      tf.env().set('PROD', true);
      warn.mockRestore();
    }
  });

  it('loads the wasm backend from node_modules with SIMD and logs the choice once', async () => {
    const logger = collectingLogger();
    expect(await initBackend({ preference: 'wasm', logger })).toBe('wasm');
    await initBackend({ preference: 'wasm', logger });
    expect(currentBackend()).toBe('wasm');
    expect(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')).toBe(true);
    expect(logger.records.filter((r) => r.msg === 'tfjs backend')).toHaveLength(1);
  });

  it('rejects an unknown backend name and an absent native backend with clear errors', async () => {
    await expect(initBackend('gpu' as never)).rejects.toThrow(/expected one of/);
    await expect(initBackend('tensorflow')).rejects.toThrow(/@tensorflow\/tfjs-node/);
  });

  it('computes the conv2d filter gradient on wasm as the cpu backend does', async () => {
    const arb = fc.record({
      n: fc.integer({ min: 1, max: 3 }),
      h: fc.integer({ min: 3, max: 9 }),
      w: fc.integer({ min: 3, max: 9 }),
      c: fc.integer({ min: 1, max: 4 }),
      k: fc.integer({ min: 1, max: 5 }),
      fh: fc.integer({ min: 1, max: 3 }),
      fw: fc.integer({ min: 1, max: 3 }),
      stride: fc.integer({ min: 1, max: 2 }),
      pad: fc.constantFrom<'same' | 'valid'>('same', 'valid'),
    });
    const cases = fc.sample(arb, { numRuns: 25, seed: 7 });
    for (const [i, c] of cases.entries()) {
      await initBackend('cpu');
      const expected = filterGrad(c, i * 3);
      await initBackend('wasm');
      const actual = filterGrad(c, i * 3);
      expect(actual.length).toBe(expected.length);
      for (let j = 0; j < expected.length; j++) {
        expect(Math.abs((actual[j] as number) - (expected[j] as number))).toBeLessThan(1e-4);
      }
    }
  });

  it('trains a small CNN on wasm without leaking tensors', async () => {
    await initBackend('wasm');
    const f = tf.variable(tf.tensor4d(filled(3 * 3 * 1 * 4, 1), [3, 3, 1, 4]));
    const x = tf.tensor4d(filled(2 * 8 * 8, 2), [2, 8, 8, 1]);
    const before = tf.memory().numTensors;
    const loss0 = tf.tidy(() => tf.sum(tf.square(tf.conv2d(x, f, 1, 'same'))).dataSync()[0]);
    for (let i = 0; i < 5; i++) {
      tf.tidy(() => {
        const { grads } = tf.variableGrads(() => tf.sum(tf.square(tf.conv2d(x, f, 1, 'same'))));
        f.assign(tf.sub(f, tf.mul(grads[f.name] as tf.Tensor, 0.01)));
      });
    }
    const loss1 = tf.tidy(() => tf.sum(tf.square(tf.conv2d(x, f, 1, 'same'))).dataSync()[0]);
    expect(loss1).toBeLessThan(loss0 as number);
    expect(tf.memory().numTensors).toBe(before);
    f.dispose();
    x.dispose();
  });
});
