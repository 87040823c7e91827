/**
 * Validation metrics over class probabilities: accuracy, and the binary ROC AUC computed as the
 * Mann-Whitney U statistic with mid-ranks for ties (Hanley and McNeil, Radiology 1982).
 */

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

/** ROC AUC of `scores` for the positive class 1; NaN when one class is absent. */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const n = labels.length;
  const order = Array.from({ length: n }, (_, i) => i).sort(
    (a, b) => (scores[a] as number) - (scores[b] as number),
  );
  let positives = 0;
  let rankSum = 0;
  let i = 0;
  while (i < n) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1] as number] === scores[order[i] as number]) j++;
    const midRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) {
      if (labels[order[k] as number] === 1) {
        positives++;
        rankSum += midRank;
      }
    }
    i = j + 1;
  }
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) return Number.NaN;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** Column `c` of a row-major `[n, numClasses]` matrix. */
export function column(probabilities: Float32Array, numClasses: number, c: number): Float32Array {
  const n = probabilities.length / numClasses;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = probabilities[i * numClasses + c] as number;
  return out;
}
