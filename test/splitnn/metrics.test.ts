import { describe, expect, it } from 'vitest';
import { accuracy, rocAuc } from '../../src/splitnn/metrics.js';

describe('validation metrics', () => {
  it('computes ROC AUC as the Mann-Whitney statistic with ties counted half', () => {
    // scikit-learn: roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) = 0.75
    expect(rocAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBeCloseTo(0.75, 12);
    expect(rocAuc([0.5, 0.5, 0.5], [0, 1, 1])).toBeCloseTo(0.5, 12);
    expect(rocAuc([0.2, 0.9], [1, 1])).toBeNaN();
  });

  it('counts the arg-max class as the prediction', () => {
    const probs = new Float32Array([0.9, 0.1, 0.2, 0.8, 0.6, 0.4]);
    expect(accuracy(probs, new Int32Array([0, 1, 1]), 2)).toBeCloseTo(2 / 3, 12);
  });
});
