/** The metric sets the learners report (safe to log: aggregate numbers only). */
import { accuracy, hardLabelAuc, rocAuc } from '../metrics/index.js';

/**
 * Accuracy, and for two classes present the score ROC AUC (`auc`) next to NVFlare's hard-label
 * figure (`hardLabelAuc`).
 */
export function classifierMetrics(
  labels: Float64Array,
  predictions: Float64Array,
  scores: Float64Array | undefined,
): Record<string, number> {
  const out: Record<string, number> = { accuracy: accuracy(labels, predictions) };
  const classes = new Set(labels);
  if (classes.size === 2 && classes.has(1) && classes.has(0)) {
    out['hardLabelAuc'] = hardLabelAuc(labels, predictions);
    if (scores !== undefined) out['auc'] = rocAuc(labels, scores);
  }
  return out;
}
