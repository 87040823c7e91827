/**
 * A reusable TensorFlow.js FedAvg client (McMahan et al., AISTATS 2017): loads the global
 * weights, runs plain local SGD, and answers with the weight difference and the number of
 * steps it took (`numStepsCurrentRound`, FedAvg's weight). It publishes its hyper-parameters
 * and an accessor to its training data to the site context, where the site's own filters (the
 * leakage filter) read them; none of that leaves the site.
 *
 * Tasks: `train` (weights → weight-diff), `validate` (weights → accuracy metrics),
 * `submit_model` and `get_weights` (the local model as weights).
 */
import type * as tf from '@tensorflow/tfjs';
import * as tfjs from '@tensorflow/tfjs';
import {
  type Executor,
  type ExecutorContext,
  fail,
  type Payload,
  type SiteJobContext,
  type TaskData,
  VflareError,
} from '../../runtime/core/index.js';
import { initBackend } from '../../tf/index.js';
import {
  buildLayersModel,
  type LocalTrainingConfig,
  type ModelSpec,
  readWeights,
  subtractWeights,
  writeWeights,
} from '../model/index.js';
import { accuracy, type LocalData, trainLocal } from './train.js';

/** What the learner publishes for the site's filters. */
export interface TfLearnerInfo {
  /** The architecture; the leakage filter builds its differentiable twin from it. */
  readonly spec: ModelSpec;
  readonly training: LocalTrainingConfig;
  /** The local training images and labels (site-local; never sent). */
  trainingData(): LocalData;
}

declare module '../../runtime/core/context.js' {
  interface SiteContextEntries {
    'leakage.learner': TfLearnerInfo;
  }
}

export interface TfFedAvgExecutorOptions {
  readonly spec: ModelSpec;
  readonly learningRate: number;
  readonly batchSize: number;
  /** Local epochs per round; default 1. */
  readonly epochs?: number;
  /** Loads the local training data (called once, at initialisation). */
  readonly trainData: () => LocalData;
  /** Loads local validation data, if any. */
  readonly validData?: () => LocalData;
  /** Builds the model; default `buildLayersModel(spec, seed)`. Must match `spec`. */
  readonly model?: (seed: number) => tf.LayersModel;
}

export class TfFedAvgExecutor implements Executor {
  readonly tasks = ['train', 'validate', 'submit_model', 'get_weights'] as const;
  readonly info: TfLearnerInfo;
  readonly #o: TfFedAvgExecutorOptions;
  #model: tf.LayersModel | undefined;
  #train: LocalData | undefined;
  #valid: LocalData | undefined;

  constructor(options: TfFedAvgExecutorOptions) {
    if (!(options.learningRate > 0))
      fail('learningRate', 'a number > 0', String(options.learningRate));
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1) {
      fail('batchSize', 'an integer ≥ 1', String(options.batchSize));
    }
    const epochs = options.epochs ?? 1;
    if (!Number.isInteger(epochs) || epochs < 1) fail('epochs', 'an integer ≥ 1', String(epochs));
    this.#o = options;
    const training = { learningRate: options.learningRate, batchSize: options.batchSize, epochs };
    this.info = {
      spec: options.spec,
      training,
      trainingData: () => this.#data(),
    };
  }

  async initialize(ctx: SiteJobContext): Promise<void> {
    await this.#ready(ctx.seed);
    ctx.siteContext.set('leakage.learner', this.info);
  }

  async finalize(): Promise<void> {
    this.#model?.dispose();
    this.#model = undefined;
  }

  async execute(task: TaskData, ctx: ExecutorContext): Promise<Payload | null> {
    const model = await this.#ready(ctx.seed);
    ctx.siteContext.set('leakage.learner', this.info);
    switch (task.headers.taskName) {
      case 'train':
        return this.#trainRound(model, task.payload, ctx);
      case 'validate': {
        writeWeights(model, this.#weightsOf(task.payload, 'validate'), tfjs);
        const valid = this.#validData();
        return { kind: 'metrics', metrics: { accuracy: accuracy(model, valid) }, meta: {} };
      }
      case 'submit_model':
      case 'get_weights':
        return { kind: 'weights', weights: readWeights(model), meta: {} };
      default:
        throw new VflareError(
          'INVALID_ARGUMENT',
          `TfFedAvgExecutor: unknown task "${task.headers.taskName}"`,
        );
    }
  }

  #trainRound(model: tf.LayersModel, payload: Payload | null, ctx: ExecutorContext): Payload {
    const global = this.#weightsOf(payload, 'train');
    writeWeights(model, global, tfjs);
    const initialMetrics =
      this.#o.validData === undefined
        ? undefined
        : { accuracy: accuracy(model, this.#validData()) };
    if (initialMetrics !== undefined)
      ctx.reportMetrics({ valid_accuracy: initialMetrics.accuracy });
    const steps = trainLocal(model, this.#data(), this.#o.spec.classes, this.info.training);
    const diff = subtractWeights(readWeights(model), global);
    return {
      kind: 'weight-diff',
      weights: diff,
      meta: {
        numStepsCurrentRound: steps,
        ...(initialMetrics === undefined ? {} : { initialMetrics }),
      },
    };
  }

  #weightsOf(payload: Payload | null, task: string) {
    if (payload?.kind !== 'weights') {
      throw new VflareError(
        'INVALID_DATA',
        `TfFedAvgExecutor: task "${task}" needs the global model as a weights payload, got ` +
          (payload === null ? 'no payload' : `"${payload.kind}"`),
      );
    }
    return payload.weights;
  }

  async #ready(seed: number): Promise<tf.LayersModel> {
    if (this.#model === undefined) {
      // The inverter needs second-order gradients, which only the cpu kernels provide.
      await initBackend('cpu');
      this.#model = this.#o.model?.(seed) ?? buildLayersModel(this.#o.spec, seed);
    }
    return this.#model;
  }

  #data(): LocalData {
    this.#train ??= this.#o.trainData();
    return this.#train;
  }

  #validData(): LocalData {
    if (this.#o.validData === undefined) {
      throw new VflareError('INVALID_CONFIG', 'TfFedAvgExecutor: validation needs validData');
    }
    this.#valid ??= this.#o.validData();
    return this.#valid;
  }
}
