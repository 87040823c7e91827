import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  accuracy,
  hardLabelAuc,
  homogeneity,
  r2,
  rmse,
  rocAuc,
} from '../../src/traditional-ml/metrics/index.js';

describe('metrics', () => {
  test('hard-label AUC is balanced accuracy: the issue example gives 0.625', () => {
    // TPR = 1/2, TNR = 3/4 → (1/2 + 3/4) / 2.
    expect(hardLabelAuc([0, 1, 0, 0, 1, 0], [0, 1, 0, 0, 0, 1])).toBe(0.625);
  });

  test('the SVM example figure is (46/46 + 42/68) / 2 = 0.8088', () => {
    const y = [...Array(46).fill(1), ...Array(68).fill(0)];
    const pred = [...Array(46).fill(1), ...Array(42).fill(0), ...Array(26).fill(1)];
    expect(hardLabelAuc(y, pred)).toBeCloseTo(0.80882, 5);
  });

  test('ROC AUC counts ranked pairs, ties as one half', () => {
    // Positives 0.8, 0.4; negatives 0.4, 0.1: pairs (0.8>0.4, 0.8>0.1, 0.4=0.4, 0.4>0.1) = 3.5/4.
    expect(rocAuc([1, 1, 0, 0], [0.8, 0.4, 0.4, 0.1])).toBe(0.875);
    expect(rocAuc([1, 0], [0, 1])).toBe(0);
    expect(() => rocAuc([1, 1], [0.1, 0.2])).toThrow(/both classes/);
  });

  test('reversing the scores gives 1 − AUC', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 20 })), { minLength: 2 }),
        (rows) => {
          const y = rows.map(([b]) => (b ? 1 : 0));
          if (!y.includes(1) || !y.includes(0)) return true;
          const s = rows.map(([, v]) => v);
          const a = rocAuc(y, s);
          return (
            Math.abs(
              a +
                rocAuc(
                  y,
                  s.map((v) => -v),
                ) -
                1,
            ) < 1e-12
          );
        },
      ),
    );
  });

  test('homogeneity matches a hand computation', () => {
    expect(homogeneity([0, 0, 1, 1], [0, 0, 1, 1])).toBe(1);
    expect(homogeneity([0, 0, 1, 1], [0, 0, 0, 0])).toBe(0);
    // Clusters {0,0,1} and {1}: H(C) = ln 2; H(C|K) = −(2/4)ln(2/3) − (1/4)ln(1/3).
    const hck = -(0.5 * Math.log(2 / 3) + 0.25 * Math.log(1 / 3));
    expect(homogeneity([0, 0, 1, 1], [0, 0, 0, 1])).toBeCloseTo(1 - hck / Math.log(2), 12);
    // Splitting a pure cluster further keeps homogeneity at 1.
    expect(homogeneity([0, 0, 1, 1], [0, 1, 2, 3])).toBe(1);
  });

  test('accuracy, R² and RMSE match hand values', () => {
    expect(accuracy([1, 0, 1, 1], [1, 1, 1, 0])).toBe(0.5);
    expect(r2([1, 2, 3], [1, 2, 3])).toBe(1);
    expect(r2([1, 2, 3], [2, 2, 2])).toBe(0);
    expect(rmse([0, 0], [3, 4])).toBeCloseTo(Math.sqrt(12.5), 12);
  });
});
