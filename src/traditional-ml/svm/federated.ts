/**
 * Federated two-step SVM (NVFlare 2.3's sklearn-svm recipe).
 *
 * Round 0: each client trains an SVM on its rows and sends its support vectors; the server
 * trains an SVM on the pooled vectors, keeps that model's support vectors as the global support
 * set and (our addition) fits the final model on that set — the model every client would get by
 * refitting on the set, which NVFlare's clients do to validate — and sends it.
 * Round 1: clients validate the global model (and resend their support vectors, unchanged).
 * There is nothing to learn after that: a third round is refused with a clear error.
 *
 * PRIVACY: support vectors are raw training rows. Clients ship some of their rows to the
 * server, and the server ships the global support set (rows of several clients) to every client.
 */

import { z } from 'zod';
import { type TensorMap, VflareError } from '../../runtime/core/index.js';
import type { Assembler } from '../../runtime/workflows/assemble.js';
import { makeDataset } from '../data/dataset.js';
import type { SiteData } from '../data/spec.js';
import { bySite, nonFiniteReason, type TrainOutput } from '../learner/learner.js';
import { classifierMetrics } from '../learner/metrics.js';
import { TabularLearner } from '../learner/tabular.js';
import { libsvm } from './libsvm.js';
import { type SvmModel, type SvmOptions, svmPredict, svmScores, trainSvm } from './svm.js';
import { readSupport, supportTensors, svmToTensors, tensorsToSvm } from './tensors.js';

export const SVM_ALGORITHM = 'tml.svm';

export const svmParamsSchema = z.strictObject({
  kernel: z.enum(['rbf', 'linear']).default('rbf'),
  C: z.number().positive().finite().default(1),
  gamma: z.union([z.literal('scale'), z.number().positive().finite()]).default('scale'),
});
export type SvmParams = z.output<typeof svmParamsSchema>;

function refuseRound(round: number, numRounds: number | undefined): void {
  if (round >= 2 || (numRounds !== undefined && numRounds > 2)) {
    throw new VflareError(
      'PROTOCOL_ERROR',
      `federated SVM runs exactly two rounds (0: local support vectors, 1: validation); ` +
        `round ${round} of ${numRounds ?? '?'} refused: set numRounds to 2`,
      { context: { round } },
    );
  }
}

export class SvmLearner extends TabularLearner<SvmParams> {
  readonly algorithm = SVM_ALGORITHM;
  #local: SvmModel | undefined;

  protected override checkData(data: SiteData, site: string): void {
    const classes = new Set(data.train.y).size;
    if (classes !== 2) {
      throw new VflareError(
        'INVALID_DATA',
        `svm: site ${site} has ${data.train.rows} training row(s) holding ${classes} ` +
          'class(es); federated SVM needs both classes at every site (give this site rows of ' +
          'both classes, or use the linear or forest model)',
      );
    }
  }

  train(round: number, _global: TensorMap, numRounds: number | undefined): TrainOutput {
    refuseRound(round, numRounds);
    const data = this.data;
    this.#local ??= trainSvm(libsvm, data.train, this.params);
    return { weights: supportTensors(this.#local), numSteps: data.train.rows };
  }

  validate(_round: number, global: TensorMap): Record<string, number> {
    const valid = this.data.valid;
    if (valid === undefined) return {};
    const model = tensorsToSvm(global, 'svm validation');
    return classifierMetrics(valid.y, svmPredict(model, valid.x), svmScores(model, valid.x));
  }
}

export interface SupportSet {
  readonly x: Float64Array;
  readonly y: Float64Array;
  readonly rows: number;
  readonly cols: number;
}

/** Pools the support vectors of every client (in the given order) and fits the global model. */
export function assembleSvm(sets: readonly SupportSet[], options: SvmOptions): SvmModel {
  const cols = sets[0]?.cols ?? 0;
  if (sets.some((s) => s.cols !== cols)) {
    throw new VflareError(
      'AGGREGATION_FAILED',
      'svm: clients sent support vectors of different widths',
    );
  }
  const rows = sets.reduce((a, s) => a + s.rows, 0);
  const x = new Float64Array(rows * cols);
  const y = new Float64Array(rows);
  let o = 0;
  for (const s of sets) {
    x.set(s.x, o * cols);
    y.set(s.y, o);
    o += s.rows;
  }
  const pooled = trainSvm(libsvm, makeDataset(x, y, rows, cols), options);
  const support = makeDataset(pooled.supportX, pooled.supportY, pooled.coef.length, cols);
  return trainSvm(libsvm, support, options);
}

export class SvmAssembler implements Assembler<'weights', SupportSet> {
  readonly expectedKind = 'weights' as const;
  readonly #options: SvmOptions;
  #global: TensorMap | undefined;

  constructor(params: SvmParams) {
    this.#options = params;
  }

  collect(payload: { weights: TensorMap }, site: string, round: number): SupportSet | string {
    if (round >= 2) return `federated SVM has two rounds; round ${round} refused`;
    const bad = nonFiniteReason(payload.weights, site);
    if (bad !== undefined) return bad;
    try {
      return readSupport(payload.weights, `svm contribution of ${site}`);
    } catch (err) {
      return err instanceof VflareError ? err.message : 'malformed support vectors';
    }
  }

  assemble(items: ReadonlyMap<string, SupportSet>, round: number) {
    refuseRound(round, undefined);
    if (round === 0 || this.#global === undefined) {
      this.#global = svmToTensors(assembleSvm(bySite(items), this.#options));
    }
    return {
      kind: 'weights' as const,
      weights: this.#global,
      meta: { processedAlgorithm: SVM_ALGORITHM },
    };
  }
}
