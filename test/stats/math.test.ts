import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { binEdges, histogram, merge, sampleStd, summarize } from '../../src/stats/math.js';

const values = fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), {
  minLength: 0,
  maxLength: 60,
});

function pooled(xs: number[]) {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const m2 = xs.reduce((a, x) => a + (x - mean) ** 2, 0);
  return { n, mean, m2 };
}

const close = (a: number, b: number, tol = 1e-9) =>
  expect(Math.abs(a - b)).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(b)));

describe('summaries', () => {
  it('merging site summaries equals the pooled computation', () => {
    fc.assert(
      fc.property(fc.array(values, { minLength: 1, maxLength: 5 }), (parts) => {
        const all = parts.flat();
        fc.pre(all.length >= 2);
        const merged = parts.map((p) => summarize(p)).reduce(merge);
        const ref = pooled(all);
        expect(merged.count).toBe(ref.n);
        close(merged.mean, ref.mean, 1e-9);
        close(merged.m2, ref.m2, 1e-7);
        expect(merged.min).toBe(Math.min(...all));
        expect(merged.max).toBe(Math.max(...all));
      }),
    );
  });

  it('uses n − 1 for the sample standard deviation and skips NaN as missing', () => {
    const s = summarize([2, 4, 4, 4, 5, 5, 7, 9, Number.NaN]);
    expect(s.count).toBe(8);
    expect(sampleStd(s)).toBeCloseTo(Math.sqrt(32 / 7), 12);
    expect(() => sampleStd(summarize([1]))).toThrow(/needs ≥ 2 values/);
  });
});

describe('histograms', () => {
  it('counts every value in [min, max] exactly once, the maximum in the last bin', () => {
    fc.assert(
      fc.property(values, fc.integer({ min: 1, max: 20 }), (xs, bins) => {
        fc.pre(xs.length > 0);
        const s = summarize(xs);
        const edges = binEdges(s.min, s.max, bins);
        const { counts, below, above } = histogram(xs, edges);
        expect(below + above).toBe(0);
        expect(counts.reduce((a, b) => a + b, 0)).toBe(xs.length);
        if (s.min !== s.max) expect(counts[bins - 1]).toBeGreaterThanOrEqual(1);
      }),
    );
  });

  it('puts values on an inner edge in the upper bin', () => {
    const { counts } = histogram([0, 1, 1, 2], binEdges(0, 2, 2));
    expect([...counts]).toEqual([1, 3]);
  });

  it('rejects bad bin counts and ranges', () => {
    expect(() => binEdges(0, 1, 0)).toThrow(/bins/);
    expect(() => binEdges(2, 1, 3)).toThrow(/min ≤ max/);
    expect([...binEdges(5, 5, 2)]).toEqual([4.5, 5, 5.5]);
  });
});
