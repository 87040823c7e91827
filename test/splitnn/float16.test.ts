import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromFloat16, roundFloat16, toFloat16 } from '../../src/splitnn/float16.js';

describe('float16 wire encoding', () => {
  it('encodes known values bit-exactly', () => {
    const values = new Float32Array([
      0,
      -0,
      1,
      -2,
      65504,
      65520,
      6.103515625e-5,
      2 ** -24,
      1e-9,
      Infinity,
      0.1,
    ]);
    const bits = Array.from(toFloat16(values));
    // 65520 rounds up past the largest finite half (overflow to infinity); 1e-9 underflows to 0;
    // 0.1 → 0x2E66 (round to nearest even).
    expect(bits).toEqual([
      0x0000, 0x8000, 0x3c00, 0xc000, 0x7bff, 0x7c00, 0x0400, 0x0001, 0x0000, 0x7c00, 0x2e66,
    ]);
    expect(Number.isNaN(fromFloat16(toFloat16(new Float32Array([Number.NaN])))[0])).toBe(true);
  });

  it('round-trips every half-precision value exactly', () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i).filter(
      (h) => (h & 0x7c00) !== 0x7c00 || (h & 0x3ff) === 0,
    );
    expect(Array.from(toFloat16(fromFloat16(all)))).toEqual(Array.from(all));
  });

  it('rounds to the nearest half with relative error at most 2^-11 in the normal range', () => {
    fc.assert(
      fc.property(
        fc.float({ min: Math.fround(6.2e-5), max: Math.fround(65000), noNaN: true }),
        (v) => {
          const r = roundFloat16(new Float32Array([v]))[0] as number;
          expect(Math.abs(r - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -11 * 1.0000001);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
