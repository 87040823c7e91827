import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { image, psnr, relativeDataLeakage, ssim } from '../../src/leakage/metrics/index.js';

interface Case {
  name: string;
  shape: number[];
  dataRange: number;
  winSize: number;
  a: number[];
  b: number[];
  ssim: number;
  psnr: number;
}
const vectors = JSON.parse(
  readFileSync(new URL('../fixtures/leakage/ssim-vectors.json', import.meta.url), 'utf8'),
) as { cases: Case[] };

const img = (values: number[], shape: number[]) =>
  image(Float64Array.from(values), shape[0]!, shape[1]!, shape[2] ?? 1);

describe('ssim and psnr', () => {
  for (const c of vectors.cases) {
    it(`match the scikit-image-default reference values: ${c.name}`, () => {
      const a = img(c.a, c.shape);
      const b = img(c.b, c.shape);
      const opts = { dataRange: c.dataRange, winSize: c.winSize };
      expect(ssim(a, b, opts)).toBeCloseTo(c.ssim, 10);
      expect(ssim(b, a, opts)).toBeCloseTo(c.ssim, 10);
      expect(psnr(a, b, c.dataRange)).toBeCloseTo(c.psnr, 10);
    });
  }

  it('give the hand-computed luminance term for two constant images', () => {
    // Variances and covariance vanish, so SSIM = (2ab + C1) / (a² + b² + C1), C1 = (0.01·1)².
    const a = image(new Float64Array(100).fill(0.2), 10, 10);
    const b = image(new Float64Array(100).fill(0.6), 10, 10);
    expect(ssim(a, b, { dataRange: 1 })).toBeCloseTo(0.2401 / 0.4001, 12);
    // MSE = 0.16 → PSNR = 10·log10(1 / 0.16).
    expect(psnr(a, b, 1)).toBeCloseTo(10 * Math.log10(1 / 0.16), 12);
  });

  it('are 1 and +Infinity for identical images', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 64, maxLength: 64 }),
        (v) => {
          const a = image(Float64Array.from(v), 8, 8);
          expect(ssim(a, a, { dataRange: 1 })).toBeCloseTo(1, 9);
          expect(psnr(a, a, 1)).toBe(Number.POSITIVE_INFINITY);
        },
      ),
      { numRuns: 50 },
    );
  });

  it('keep SSIM within [-1, 1] and symmetric', () => {
    const arr = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), {
      minLength: 81,
      maxLength: 81,
    });
    fc.assert(
      fc.property(arr, arr, (u, v) => {
        const a = image(Float64Array.from(u), 9, 9);
        const b = image(Float64Array.from(v), 9, 9);
        const s = ssim(a, b, { dataRange: 1 });
        expect(s).toBeGreaterThanOrEqual(-1 - 1e-9);
        expect(s).toBeLessThanOrEqual(1 + 1e-9);
        expect(ssim(b, a, { dataRange: 1 })).toBeCloseTo(s, 12);
      }),
      { numRuns: 50 },
    );
  });

  it('reject images smaller than the window, a bad window and a missing data range', () => {
    const tiny = image(new Float64Array(36), 6, 6);
    expect(() => ssim(tiny, tiny, { dataRange: 1 })).toThrow(/winSize 7/);
    expect(ssim(tiny, tiny, { dataRange: 1, winSize: 3 })).toBeCloseTo(1, 12);
    expect(() => ssim(tiny, tiny, { dataRange: 1, winSize: 4 })).toThrow(/odd integer/);
    expect(() => ssim(tiny, tiny, { dataRange: 0 })).toThrow(/dataRange/);
    const other = image(new Float64Array(49), 7, 7);
    expect(() => ssim(tiny, other, { dataRange: 1, winSize: 3 })).toThrow(/equal shape/);
  });
});

describe('relativeDataLeakage', () => {
  const noise = (seed: number, n: number) => {
    let s = seed;
    return Float64Array.from({ length: n }, () => {
      s = (s * 1103515245 + 12345) % 2147483648;
      return s / 2147483648;
    });
  };
  const train = [image(noise(1, 196), 14, 14), image(noise(2, 196), 14, 14)];
  const prior = image(
    Float64Array.from(train[0]!.data, (v, i) => 0.5 * v + 0.5 * train[1]!.data[i]!),
    14,
    14,
  );

  it('is (s − p) / p per pair, best reconstruction per image, max over images', () => {
    const recons = [train[1]!, image(noise(3, 196), 14, 14)];
    const r = relativeDataLeakage(train, recons, prior, { dataRange: 1 });
    for (let i = 0; i < 2; i++) {
      const p = ssim(prior, train[i]!, { dataRange: 1 });
      expect(r.priorSsim[i]).toBeCloseTo(p, 12);
      for (let k = 0; k < 2; k++) {
        const s = ssim(recons[k]!, train[i]!, { dataRange: 1 });
        expect(r.pairs[i]![k]).toBeCloseTo((s - p) / p, 12);
      }
    }
    // Image 1 is reconstructed exactly by reconstruction 0: RDLV = (1 − p) / p.
    expect(r.bestReconstruction[1]).toBe(0);
    expect(r.bestPerImage[1]).toBeCloseTo((1 - r.priorSsim[1]!) / r.priorSsim[1]!, 12);
    expect(r.rdlv).toBe(Math.max(...r.bestPerImage));
    expect(r.priorClamped).toEqual([false, false]);
  });

  it('clamps a zero or negative prior similarity to the floor instead of dividing by it', () => {
    // A flat prior has (near) zero structure; an inverted image has negative SSIM.
    const inverted = image(
      Float64Array.from(train[0]!.data, (v) => 1 - v),
      14,
      14,
    );
    const r = relativeDataLeakage([train[0]!], [train[0]!, prior], inverted, {
      dataRange: 1,
      priorFloor: 0.05,
    });
    const p = r.priorSsim[0]!;
    expect(p).toBeLessThan(0);
    expect(r.priorClamped).toEqual([true]);
    expect(r.pairs[0]![0]).toBeCloseTo((1 - p) / 0.05, 10);
    expect(Number.isFinite(r.rdlv)).toBe(true);
    expect(r.rdlv).toBeGreaterThan(0);
  });

  it('rejects empty inputs and a non-positive floor', () => {
    expect(() => relativeDataLeakage([], [prior], prior, { dataRange: 1 })).toThrow(
      /training image/,
    );
    expect(() => relativeDataLeakage([prior], [], prior, { dataRange: 1 })).toThrow(/at least one/);
    expect(() =>
      relativeDataLeakage([prior], [prior], prior, { dataRange: 1, priorFloor: 0 }),
    ).toThrow(/priorFloor/);
  });
});
