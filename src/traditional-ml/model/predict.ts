/**
 * Scoring new rows with a saved model: the API behind `vflare predict <model> <csv>`.
 */
import { VflareError } from '../../runtime/core/index.js';
import { loadCsv } from '../data/csv.js';
import { classifierMetrics } from '../learner/metrics.js';
import { homogeneity, r2, rmse } from '../metrics/index.js';
import { type Prediction, predict, type TmlModel } from './format.js';
import { loadTmlModel } from './io.js';

export type PredictLabel = 'auto' | 'none' | 'first' | 'last';

export interface PredictCsvResult extends Prediction {
  readonly model: TmlModel;
  readonly rows: number;
  /** Quality on the file's labels, when it has a label column. */
  readonly metrics: Readonly<Record<string, number>> | undefined;
}

/**
 * Loads `modelPath` and scores every row of `csvPath`. `label` says where the file's label
 * column is; `auto` (default) takes the last column as the label when the file has one column
 * more than the model's features, and no label when it has exactly as many.
 */
export async function predictCsv(
  modelPath: string,
  csvPath: string,
  label: PredictLabel = 'auto',
): Promise<PredictCsvResult> {
  const model = await loadTmlModel(modelPath);
  const all = loadCsv(csvPath, { label: 'none' }).dataset;
  let where: 'none' | 'first' | 'last' = label === 'auto' ? 'none' : label;
  if (label === 'auto') {
    if (all.cols === model.cols + 1) where = 'last';
    else if (all.cols !== model.cols) {
      throw new VflareError(
        'INVALID_DATA',
        `${csvPath}: rows have ${all.cols} columns; the ${model.kind} model takes ${model.cols} ` +
          `features (add --label first|last|none if the label column is elsewhere)`,
      );
    }
  }
  const cols = where === 'none' ? all.cols : all.cols - 1;
  if (cols !== model.cols) {
    throw new VflareError(
      'INVALID_DATA',
      `${csvPath}: ${cols} feature columns, the ${model.kind} model takes ${model.cols}`,
    );
  }
  const x = new Float64Array(all.rows * cols);
  const y = new Float64Array(all.rows);
  for (let r = 0; r < all.rows; r++) {
    const row = all.x.subarray(r * all.cols, (r + 1) * all.cols);
    const feats = where === 'first' ? row.subarray(1) : row.subarray(0, cols);
    x.set(feats, r * cols);
    y[r] = (where === 'first' ? row[0] : row[all.cols - 1]) as number;
  }
  const p = predict(model, x);
  if (where !== 'none') checkLabels(model, y, csvPath);
  const metrics = where === 'none' ? undefined : qualityOf(model, y, p);
  return { ...p, model, rows: all.rows, metrics };
}

/**
 * A label the model has no class for would be silently scored as the negative class, so it is
 * refused. The message names the row (1 = the first data row) and the model's classes, never
 * the file's value.
 */
function checkLabels(model: TmlModel, y: Float64Array, file: string): void {
  let allowed: ((v: number) => boolean) | undefined;
  let classes = '';
  if (model.kind === 'svm') {
    const [a, b] = model.labels;
    allowed = (v) => v === a || v === b;
    classes = `${a} and ${b}`;
  } else if (model.kind === 'forest') {
    allowed = (v) => Number.isInteger(v) && v >= 0 && v < model.nClasses;
    classes = `0 to ${model.nClasses - 1}`;
  } else if (model.kind === 'linear' && model.loss !== 'squared') {
    // The saved logistic model knows its positive class only: any two values are accepted.
    const seen = new Set<number>([model.positiveClass]);
    allowed = (v) => seen.has(v) || (seen.size < 2 && seen.add(v) !== undefined);
    classes = `${model.positiveClass} (positive) and one other`;
  }
  if (allowed === undefined) return;
  const bad = y.findIndex((v) => !allowed(v));
  if (bad >= 0) {
    throw new VflareError(
      'INVALID_DATA',
      `${file}: data row ${bad + 1} has a label that is not a class of the ${model.kind} model ` +
        `(classes ${classes}); fix the label or score without it (--label none)`,
    );
  }
}

function qualityOf(model: TmlModel, y: Float64Array, p: Prediction): Record<string, number> {
  switch (model.kind) {
    case 'kmeans':
      return { homogeneity: homogeneity(y, p.predictions) };
    case 'linear':
      if (model.loss === 'squared')
        return { r2: r2(y, p.predictions), rmse: rmse(y, p.predictions) };
      return classifierMetrics(
        y.map((v) => (v === model.positiveClass ? 1 : 0)),
        p.predictions,
        p.scores,
      );
    case 'svm': {
      const pos = Math.max(model.labels[0], model.labels[1]);
      return classifierMetrics(
        y.map((v) => (v === pos ? 1 : 0)),
        p.predictions.map((v) => (v === pos ? 1 : 0)),
        p.scores,
      );
    }
    case 'forest':
      return classifierMetrics(y, p.predictions, p.scores);
  }
}
