/**
 * Validation metrics over class probabilities: accuracy, and the binary ROC AUC computed as the
 * Mann-Whitney U statistic with mid-ranks for ties (Hanley and McNeil, Radiology 1982).
 */
import { rocAuc as mannWhitneyAuc } from '../traditional-ml/metrics/index.js';

/** Share of rows whose highest-probability class equals the label. */
export function accuracy(
  probabilities: Float32Array,
  labels: Int32Array,
  numClasses: number,
): number {
  if (labels.length === 0) return Number.NaN;
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    let bestP = -Infinity;
    for (let c = 0; c < numClasses; c++) {
      const p = probabilities[i * numClasses + c] as number;
      if (p > bestP) {
        bestP = p;
        best = c;
      }
    }
    if (best === labels[i]) correct++;
  }
  return correct / labels.length;
}

/**
 * ROC AUC of `scores` for the positive class 1; NaN when one class is absent (a tiny validation
 * share can hold one class only, and a metric must not end the job). The statistic itself is
 * the traditional-ML module's, which throws in that case instead.
 */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  let positives = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] === 1) positives++;
  if (positives === 0 || positives === labels.length) return Number.NaN;
  return mannWhitneyAuc(labels, scores);
}

/** Column `c` of a row-major `[n, numClasses]` matrix. */
export function column(probabilities: Float32Array, numClasses: number, c: number): Float32Array {
  const n = probabilities.length / numClasses;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = probabilities[i * numClasses + c] as number;
  return out;
}
