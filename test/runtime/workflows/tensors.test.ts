import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addDiff,
  excludeFilter,
  weightedAverage,
  weightedMetrics,
} from '../../../src/runtime/workflows/tensors.js';

const vec = (n: number) =>
  fc.array(fc.double({ min: -1e3, max: 1e3, noNaN: true }), { minLength: n, maxLength: n });

describe('weightedAverage', () => {
  it('equals the closed-form weighted mean for every element', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }).chain((n) =>
          fc.array(fc.record({ w: fc.double({ min: 0.1, max: 100, noNaN: true }), x: vec(n) }), {
            minLength: 1,
            maxLength: 5,
          }),
        ),
        (items) => {
          const { tensors, totals } = weightedAverage(
            items.map(({ w, x }) => ({
              weight: w,
              tensors: { a: { shape: [x.length], data: Float64Array.from(x) } },
            })),
          );
          const total = items.reduce((s, i) => s + i.w, 0);
          expect(totals['a']).toBeCloseTo(total, 9);
          const n = items[0]!.x.length;
          for (let j = 0; j < n; j++) {
            const expected = items.reduce((s, i) => s + i.w * i.x[j]!, 0) / total;
            expect(tensors['a']!.data[j]).toBeCloseTo(expected, 6);
          }
        },
      ),
    );
  });

  it('is invariant to scaling every weight by the same factor', () => {
    fc.assert(
      fc.property(vec(4), vec(4), fc.double({ min: 0.01, max: 1000, noNaN: true }), (x, y, k) => {
        const run = (s: number) =>
          weightedAverage([
            { weight: 2 * s, tensors: { v: { shape: [4], data: Float64Array.from(x) } } },
            { weight: 3 * s, tensors: { v: { shape: [4], data: Float64Array.from(y) } } },
          ]).tensors['v']!.data;
        const a = run(1);
        const b = run(k);
        for (let i = 0; i < 4; i++) expect(b[i]).toBeCloseTo(a[i]!, 6);
      }),
    );
  });

  it("keeps sums and totals per key, so a key only one site sends is that site's value", () => {
    const { tensors, totals } = weightedAverage([
      {
        weight: 1,
        tensors: {
          a: { shape: [1], data: Float32Array.of(2) },
          b: { shape: [1], data: Float32Array.of(10) },
        },
      },
      { weight: 3, tensors: { a: { shape: [1], data: Float32Array.of(6) } } },
    ]);
    expect(tensors['a']!.data[0]).toBe(5);
    expect(tensors['b']!.data[0]).toBe(10);
    expect(totals).toEqual({ a: 4, b: 1 });
    expect(tensors['a']!.data).toBeInstanceOf(Float32Array);
  });

  it('throws a clear aggregation error, never NaN, when the total weight is zero', () => {
    expect(() =>
      weightedAverage([{ weight: 0, tensors: { a: { shape: [1], data: Float32Array.of(1) } } }]),
    ).toThrow(/total aggregation weight is 0.*refusing to produce a NaN model/);
  });

  it('rejects contributions whose shapes disagree', () => {
    expect(() =>
      weightedAverage([
        { weight: 1, tensors: { a: { shape: [2], data: new Float32Array(2) } } },
        { weight: 1, tensors: { a: { shape: [3], data: new Float32Array(3) } } },
      ]),
    ).toThrow(/shape \[3\] differs from \[2\]/);
  });
});

describe('excludeFilter', () => {
  it('treats a string as a regex that matches anywhere in the name', () => {
    const keep = excludeFilter('bn\\.');
    expect(keep('layer1.bn.mean')).toBe(false);
    expect(keep('layer1.conv.weight')).toBe(true);
  });

  it('treats a list as exact names', () => {
    const keep = excludeFilter(['a']);
    expect(keep('a')).toBe(false);
    expect(keep('ab')).toBe(true);
  });

  it('reports an invalid regex as a configuration error', () => {
    expect(() => excludeFilter('(')).toThrow(/not a valid regex/);
  });
});

describe('addDiff and weightedMetrics', () => {
  it('adds a diff element-wise and refuses a variable the model lacks', () => {
    const base = { w: { shape: [2], data: Float32Array.of(1, 2) } };
    expect([
      ...addDiff(base, { w: { shape: [2], data: Float32Array.of(0.5, -1) } })['w']!.data,
    ]).toEqual([1.5, 1]);
    expect(() => addDiff(base, { z: { shape: [1], data: Float32Array.of(1) } })).toThrow(
      /does not have/,
    );
  });

  it('averages scalar metrics by weight', () => {
    expect(
      weightedMetrics([
        { weight: 1, metrics: { acc: 0.5 } },
        { weight: 3, metrics: { acc: 0.9 } },
      ]),
    ).toEqual({ acc: 0.8 });
  });
});
