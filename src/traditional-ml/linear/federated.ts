/**
 * Federated SGD linear models (NVFlare 2.3's sklearn-linear recipe): every round each client
 * runs one local epoch of SGD from the global weights and the server takes the FedAvg mean
 * weighted by local rows (the runtime's `WeightedFedAvgAggregator` with `expectedKind:
 * 'weights'`). Only coefficients travel.
 */

import { z } from 'zod';
import { type TensorMap, VflareError } from '../../runtime/core/index.js';
import { need, type TrainOutput } from '../learner/learner.js';
import { classifierMetrics } from '../learner/metrics.js';
import { TabularLearner } from '../learner/tabular.js';
import { r2, rmse } from '../metrics/index.js';
import { createRng } from '../random/index.js';
import { type LinearModel, linearDecision, type SgdOptions, sgdEpoch, zeroModel } from './sgd.js';

export const LINEAR_ALGORITHM = 'tml.linear';

export const linearParamsSchema = z.strictObject({
  loss: z.enum(['log', 'squared']).default('log'),
  learningRate: z.number().positive().finite().default(1e-4),
  alpha: z.number().nonnegative().finite().default(1e-4),
  fitIntercept: z.boolean().default(true),
  /** Log loss: the label that is the positive class (the class set is fixed: {other, this}). */
  positiveClass: z.number().default(1),
});
export type LinearParams = z.output<typeof linearParamsSchema>;

export function linearToTensors(m: LinearModel): TensorMap {
  return {
    coef: { shape: [1, m.coef.length], data: m.coef.slice() },
    intercept: { shape: [1], data: Float64Array.of(m.intercept) },
  };
}

export function tensorsToLinear(
  map: TensorMap,
  loss: LinearModel['loss'],
  who = 'linear',
): LinearModel {
  const coef = need(map, 'coef', who);
  const b = need(map, 'intercept', who);
  if (b.data.length !== 1)
    throw new VflareError('PROTOCOL_ERROR', `${who}: intercept must hold one value`);
  return { loss, coef: Float64Array.from(coef.data), intercept: b.data[0] as number };
}

export class LinearLearner extends TabularLearner<LinearParams> {
  readonly algorithm = LINEAR_ALGORITHM;

  get options(): SgdOptions {
    const p = this.params;
    return {
      loss: p.loss,
      learningRate: p.learningRate,
      alpha: p.alpha,
      fitIntercept: p.fitIntercept,
      positiveClass: p.positiveClass,
    };
  }

  train(round: number, global: TensorMap): TrainOutput {
    const { train } = this.data;
    const start =
      global['coef'] === undefined
        ? zeroModel(this.params.loss, train.cols)
        : tensorsToLinear(global, this.params.loss, 'linear global model');
    const model = sgdEpoch(start, train, this.options, createRng(this.seed + round * 7919));
    return { weights: linearToTensors(model), numSteps: train.rows };
  }

  validate(_round: number, global: TensorMap): Record<string, number> {
    const { valid } = this.data;
    if (valid === undefined) return {};
    const model = tensorsToLinear(global, this.params.loss, 'linear global model');
    return linearMetrics(model, valid.x, valid.y, valid.cols, this.params.positiveClass);
  }
}

export function linearMetrics(
  model: LinearModel,
  x: ArrayLike<number>,
  y: Float64Array,
  cols: number,
  positiveClass = 1,
): Record<string, number> {
  const out = linearDecision(model, x, cols);
  if (model.loss === 'squared') return { r2: r2(y, out), rmse: rmse(y, out) };
  const labels = y.map((v) => (v === positiveClass ? 1 : 0));
  const pred = out.map((v) => (v > 0 ? 1 : 0));
  return classifierMetrics(labels, pred, out);
}
