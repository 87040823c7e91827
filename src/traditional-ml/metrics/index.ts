/**
 * Quality metrics as pure functions. Two AUCs side by side on purpose: `rocAuc` ranks real-valued
 * scores (the usual ROC AUC), while `hardLabelAuc` is what NVFlare's traditional-ML examples
 * report — scikit-learn's `roc_auc_score` applied to hard 0/1 predictions, which equals balanced
 * accuracy ((TPR + TNR) / 2). Published figures such as the SVM example's 0.8088 are of the second
 * kind, so we compute both.
 */
import { VflareError } from '../../runtime/core/index.js';

function sameLength(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  if (a.length !== b.length) {
    throw new VflareError('INVALID_ARGUMENT', `${what}: ${a.length} labels but ${b.length} values`);
  }
  if (a.length === 0) throw new VflareError('INVALID_ARGUMENT', `${what}: no rows`);
}

/**
 * ROC AUC of `scores` for binary `labels` (1 = positive, anything else negative): the
 * Mann–Whitney statistic with tied scores given their average rank. Throws when one class is
 * absent (AUC is undefined then).
 */
export function rocAuc(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  sameLength(labels, scores, 'rocAuc');
  const n = labels.length;
  const order = Array.from({ length: n }, (_, i) => i).sort(
    (a, b) => (scores[a] as number) - (scores[b] as number),
  );
  let pos = 0;
  let rankSum = 0;
  let i = 0;
  while (i < n) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1] as number] === scores[order[i] as number]) j++;
    const avgRank = (i + j + 2) / 2;
    for (let t = i; t <= j; t++) {
      if (labels[order[t] as number] === 1) {
        pos++;
        rankSum += avgRank;
      }
    }
    i = j + 1;
  }
  const neg = n - pos;
  if (pos === 0 || neg === 0) {
    throw new VflareError('INVALID_ARGUMENT', 'rocAuc: both classes must be present in the labels');
  }
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** NVFlare's "AUC" on hard 0/1 predictions (= balanced accuracy for binary labels). */
export function hardLabelAuc(labels: ArrayLike<number>, predictions: ArrayLike<number>): number {
  return rocAuc(labels, predictions);
}

export function accuracy(labels: ArrayLike<number>, predictions: ArrayLike<number>): number {
  sameLength(labels, predictions, 'accuracy');
  let ok = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] === predictions[i]) ok++;
  return ok / labels.length;
}

function entropy(counts: Iterable<number>, n: number): number {
  let h = 0;
  for (const c of counts) if (c > 0) h -= (c / n) * Math.log(c / n);
  return h;
}

/**
 * Homogeneity (Rosenberg & Hirschberg 2007): 1 − H(C|K)/H(C), where C are the true classes and
 * K the cluster labels; 1 when every cluster holds one class only. 1 by convention when H(C) = 0.
 */
export function homogeneity(classes: ArrayLike<number>, clusters: ArrayLike<number>): number {
  sameLength(classes, clusters, 'homogeneity');
  const n = classes.length;
  const byClass = new Map<number, number>();
  const byCluster = new Map<number, Map<number, number>>();
  for (let i = 0; i < n; i++) {
    const c = classes[i] as number;
    const k = clusters[i] as number;
    byClass.set(c, (byClass.get(c) ?? 0) + 1);
    let m = byCluster.get(k);
    if (m === undefined) {
      m = new Map();
      byCluster.set(k, m);
    }
    m.set(c, (m.get(c) ?? 0) + 1);
  }
  const hC = entropy(byClass.values(), n);
  if (hC === 0) return 1;
  let hCK = 0;
  for (const m of byCluster.values()) {
    for (const nck of m.values()) {
      let nk = 0;
      for (const v of m.values()) nk += v;
      hCK -= (nck / n) * Math.log(nck / nk);
    }
  }
  return 1 - hCK / hC;
}

/** Coefficient of determination R² = 1 − SS_res / SS_tot. */
export function r2(targets: ArrayLike<number>, predictions: ArrayLike<number>): number {
  sameLength(targets, predictions, 'r2');
  let mean = 0;
  for (let i = 0; i < targets.length; i++) mean += targets[i] as number;
  mean /= targets.length;
  let res = 0;
  let tot = 0;
  for (let i = 0; i < targets.length; i++) {
    const t = targets[i] as number;
    res += (t - (predictions[i] as number)) ** 2;
    tot += (t - mean) ** 2;
  }
  return tot === 0 ? (res === 0 ? 1 : 0) : 1 - res / tot;
}

export function rmse(targets: ArrayLike<number>, predictions: ArrayLike<number>): number {
  sameLength(targets, predictions, 'rmse');
  let s = 0;
  for (let i = 0; i < targets.length; i++)
    s += ((targets[i] as number) - (predictions[i] as number)) ** 2;
  return Math.sqrt(s / targets.length);
}
