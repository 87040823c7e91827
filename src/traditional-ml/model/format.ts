/**
 * The saved-model format of this module: one JSON document per global model, readable without
 * vflare. JSON numbers are written in JavaScript's shortest round-trip form, so every float64
 * survives a save/load exactly (the round-trip tests check identical predictions).
 *
 * ```
 * { "format": "vflare-tml-model", "version": 1, "kind": "linear" | "svm" | "kmeans" | "forest",
 *   "cols": <features per row>, ...kind-specific fields (see the schemas below) }
 * ```
 *
 * - linear: `loss` ("log" | "squared"), `coef` [cols], `intercept`, `positiveClass`; score
 *   w·x + b; for log loss the prediction is 1 (the training label `positiveClass`) when the
 *   score is > 0, else 0 (any other label).
 * - svm: `kernel` ("rbf" | "linear"), `C`, `gamma`, `rho`, `labels` [positive side, negative
 *   side], `coef` [n] (yᵢαᵢ), `supportVectors` [n][cols] — RAW TRAINING ROWS — and
 *   `supportLabels` [n]; f(x) = Σ coefᵢ K(svᵢ, x) − rho.
 * - kmeans: `centres` [k][cols]; a row's cluster is its nearest centre.
 * - forest: `nClasses`, `trees` [{feature, threshold, left, right, value}] with node 0 the root,
 *   `feature` −1 at leaves, go left when x[feature] ≤ threshold, `value` [nodes][nClasses] the
 *   leaf class distribution; the forest's probability is the mean over trees.
 */
import { z } from 'zod';
import { VflareError } from '../../runtime/core/index.js';
import { checkForest } from '../forest/federated.js';
import { type Forest, forestPredict, forestProba, treeCount } from '../forest/forest.js';
import { assignClusters } from '../kmeans/kmeans.js';
import type { LinearModel } from '../linear/sgd.js';
import { linearDecision } from '../linear/sgd.js';
import { type SvmModel, svmDecision } from '../svm/svm.js';

export const TML_MODEL_FORMAT = 'vflare-tml-model';
export const TML_MODEL_VERSION = 1;

const num = z.number().finite();
const head = {
  format: z.literal(TML_MODEL_FORMAT),
  version: z.literal(TML_MODEL_VERSION),
  cols: z.number().int().min(1),
};

const linearSchema = z.strictObject({
  ...head,
  kind: z.literal('linear'),
  loss: z.enum(['log', 'squared']),
  coef: z.array(num),
  intercept: num,
  positiveClass: num,
});
const svmSchema = z.strictObject({
  ...head,
  kind: z.literal('svm'),
  kernel: z.enum(['rbf', 'linear']),
  C: num.positive(),
  gamma: num.positive(),
  rho: num,
  labels: z.tuple([num, num]),
  coef: z.array(num),
  supportVectors: z.array(z.array(num)),
  supportLabels: z.array(num),
});
const kmeansSchema = z.strictObject({
  ...head,
  kind: z.literal('kmeans'),
  centres: z.array(z.array(num)).min(1),
});
const treeSchema = z.strictObject({
  feature: z.array(z.number().int().min(-1)),
  threshold: z.array(num),
  left: z.array(z.number().int()),
  right: z.array(z.number().int()),
  value: z.array(z.array(num)),
});
const forestSchema = z.strictObject({
  ...head,
  kind: z.literal('forest'),
  nClasses: z.number().int().min(2),
  trees: z.array(treeSchema).min(1),
});

export const tmlModelSchema = z.discriminatedUnion('kind', [
  linearSchema,
  svmSchema,
  kmeansSchema,
  forestSchema,
]);
export type TmlModel = z.output<typeof tmlModelSchema>;
export type TmlModelKind = TmlModel['kind'];

const base = { format: TML_MODEL_FORMAT, version: TML_MODEL_VERSION } as const;

function rowsOf(data: ArrayLike<number>, cols: number): number[][] {
  const out: number[][] = [];
  for (let r = 0; r * cols < data.length; r++)
    out.push(Array.from({ length: cols }, (_, j) => data[r * cols + j] as number));
  return out;
}

export function linearModelToJson(m: LinearModel, positiveClass = 1): TmlModel {
  return {
    ...base,
    kind: 'linear',
    cols: m.coef.length,
    loss: m.loss,
    coef: Array.from(m.coef),
    intercept: m.intercept,
    positiveClass,
  };
}

export function svmModelToJson(m: SvmModel): TmlModel {
  return {
    ...base,
    kind: 'svm',
    cols: m.cols,
    kernel: m.kernel,
    C: m.C,
    gamma: m.gamma,
    rho: m.rho,
    labels: [m.labels[0], m.labels[1]],
    coef: Array.from(m.coef),
    supportVectors: rowsOf(m.supportX, m.cols),
    supportLabels: Array.from(m.supportY),
  };
}

export function kmeansModelToJson(centres: Float64Array, cols: number): TmlModel {
  return { ...base, kind: 'kmeans', cols, centres: rowsOf(centres, cols) };
}

export function forestModelToJson(f: Forest): TmlModel {
  const trees = [];
  for (let t = 0; t < treeCount(f); t++) {
    const a = f.offsets[t] as number;
    const b = f.offsets[t + 1] as number;
    trees.push({
      feature: list(f.feature.subarray(a, b)),
      threshold: list(f.threshold.subarray(a, b)),
      left: list(f.left.subarray(a, b)),
      right: list(f.right.subarray(a, b)),
      value: rowsOf(f.value.subarray(a * f.nClasses, b * f.nClasses), f.nClasses),
    });
  }
  return { ...base, kind: 'forest', cols: f.cols, nClasses: f.nClasses, trees };
}

function list(a: ArrayLike<number>): number[] {
  return Array.from(a);
}

function flat(rows: readonly (readonly number[])[], cols: number, what: string): Float64Array {
  const out = new Float64Array(rows.length * cols);
  rows.forEach((r, i) => {
    if (r.length !== cols) {
      throw new VflareError(
        'INVALID_DATA',
        `model: ${what} row ${i} has ${r.length} values, expected ${cols}`,
      );
    }
    out.set(r, i * cols);
  });
  return out;
}

/** Parses and checks a model document (throws INVALID_DATA naming the first problem). */
export function parseTmlModel(doc: unknown, source = 'model'): TmlModel {
  const format = (doc as { format?: unknown } | null)?.format;
  if (
    typeof doc !== 'object' ||
    doc === null ||
    Array.isArray(doc) ||
    format !== TML_MODEL_FORMAT
  ) {
    throw new VflareError(
      'INVALID_DATA',
      `${source} is not a vflare traditional-ML model (no "format": "${TML_MODEL_FORMAT}"); ` +
        'give the global_model.json a traditional-ML job saved (<workspace>/server/)',
    );
  }
  const parsed = tmlModelSchema.safeParse(doc);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new VflareError(
      'INVALID_DATA',
      `${source} is not a vflare traditional-ML model: ` +
        `${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
    );
  }
  const m = parsed.data;
  // Cross-field checks the schema cannot express.
  predictorOf(m, source);
  return m;
}

export interface Prediction {
  /** Class label, regression value, or cluster index per row. */
  readonly predictions: Float64Array;
  /** A real-valued score per row for two-class models (larger = positive class). */
  readonly scores?: Float64Array;
}

type Predictor = (x: ArrayLike<number>) => Prediction;

function predictorOf(m: TmlModel, source: string): Predictor {
  switch (m.kind) {
    case 'linear': {
      if (m.coef.length !== m.cols)
        throw new VflareError(
          'INVALID_DATA',
          `${source}: coef has ${m.coef.length} values, cols says ${m.cols}`,
        );
      const lm: LinearModel = {
        loss: m.loss,
        coef: Float64Array.from(m.coef),
        intercept: m.intercept,
      };
      return (x) => {
        const s = linearDecision(lm, x, m.cols);
        if (m.loss === 'squared') return { predictions: s };
        // 1 = the positive class (`positiveClass` in the training labels), 0 = any other.
        return { predictions: s.map((v) => (v > 0 ? 1 : 0)), scores: s };
      };
    }
    case 'svm': {
      const n = m.coef.length;
      if (m.supportVectors.length !== n || m.supportLabels.length !== n) {
        throw new VflareError(
          'INVALID_DATA',
          `${source}: coef, supportVectors and supportLabels differ in length`,
        );
      }
      const sm: SvmModel = {
        kernel: m.kernel,
        C: m.C,
        gamma: m.gamma,
        rho: m.rho,
        cols: m.cols,
        labels: m.labels,
        coef: Float64Array.from(m.coef),
        supportX: flat(m.supportVectors, m.cols, 'supportVectors'),
        supportY: Float64Array.from(m.supportLabels),
        supportIndices: new Uint32Array(0),
      };
      return (x) => {
        const f = svmDecision(sm, x);
        const scores = m.labels[0] > m.labels[1] ? f : f.map((v) => -v);
        return { predictions: f.map((v) => (v > 0 ? m.labels[0] : m.labels[1])), scores };
      };
    }
    case 'kmeans': {
      const c = flat(m.centres, m.cols, 'centres');
      return (x) => ({
        predictions: Float64Array.from(assignClusters(Float64Array.from(x), m.cols, c)),
      });
    }
    case 'forest': {
      const f = forestFromJson(m);
      checkForest(f, source);
      return (x) => {
        const predictions = forestPredict(f, x);
        if (f.nClasses !== 2) return { predictions };
        return { predictions, scores: forestProba(f, x).filter((_, i) => i % 2 === 1) };
      };
    }
  }
}

function forestFromJson(m: Extract<TmlModel, { kind: 'forest' }>): Forest {
  const offsets = [0];
  for (const t of m.trees) offsets.push((offsets[offsets.length - 1] as number) + t.feature.length);
  const cat = (pick: (t: (typeof m.trees)[number]) => number[]) => m.trees.flatMap(pick);
  return {
    nClasses: m.nClasses,
    cols: m.cols,
    offsets: Int32Array.from(offsets),
    feature: Int32Array.from(cat((t) => t.feature)),
    threshold: Float64Array.from(cat((t) => t.threshold)),
    left: Int32Array.from(cat((t) => t.left)),
    right: Int32Array.from(cat((t) => t.right)),
    value: Float64Array.from(m.trees.flatMap((t) => t.value.flat())),
  };
}

/** Scores rows (row-major, `model.cols` values each) with any of the four model kinds. */
export function predict(model: TmlModel, x: ArrayLike<number>): Prediction {
  if (x.length % model.cols !== 0) {
    throw new VflareError(
      'INVALID_DATA',
      `predict: rows must have ${model.cols} features (the model's), got ${x.length} values`,
    );
  }
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i] as number)) {
      // Position only: the value itself is a private data point.
      throw new VflareError(
        'INVALID_DATA',
        `predict: row ${Math.floor(i / model.cols) + 1}, feature ${(i % model.cols) + 1} is ` +
          'not a finite number; the model scores finite values only',
      );
    }
  }
  return predictorOf(model, 'model')(x);
}
