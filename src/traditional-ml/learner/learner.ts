/**
 * The learner contract (NVFlare's sklearn Learner, typed) and the one executor that runs any
 * learner under the runtime.
 *
 * Round protocol of the `train` task, as NVFlare 2.3's SKLearnExecutor: when the task carries a
 * global model from round 1 on, the learner first validates that model (its metrics go into the
 * result's `meta.initialMetrics` and the site's summary), then trains from it and returns
 * `weights` with `numStepsCurrentRound` = local training rows, which FedAvg weighs by.
 *
 * The executor deep-copies the incoming global model before handing it to the learner: in the
 * in-memory simulator every client receives the same object, and a learner that updated it in
 * place would silently turn FedAvg into sequential training (each client starting where the
 * previous one stopped).
 */
import {
  type Executor,
  type ExecutorContext,
  type Payload,
  type SiteJobContext,
  type TaskData,
  type Tensor,
  type TensorMap,
  VflareError,
} from '../../runtime/core/index.js';

export interface LearnerSetup {
  readonly site: string;
  /** The job's seed; learners derive their own streams from it and the site name. */
  readonly seed: number;
  /** Relative data paths resolve against this folder. */
  readonly dataRoot: string;
}

export interface TrainOutput {
  readonly weights: TensorMap;
  /** Local training rows behind this update (FedAvg's weight). */
  readonly numSteps: number;
}

export interface Learner {
  /** Tag for `meta.processedAlgorithm`; aggregators refuse to mix algorithms. */
  readonly algorithm: string;
  /** Loads data and checks parameters; errors here stop the site before round 0. */
  initialise(setup: LearnerSetup): Promise<void> | void;
  /** One round of local work from `global` (empty in round 0 when the server has no model). */
  train(
    round: number,
    global: TensorMap,
    numRounds: number | undefined,
  ): Promise<TrainOutput> | TrainOutput;
  /** Metrics of `global` on the site's validation rows. */
  validate(
    round: number,
    global: TensorMap,
  ): Promise<Record<string, number>> | Record<string, number>;
  finalise?(): void;
}

/** A deep copy of a tensor map: fresh typed arrays, same dtypes. */
export function cloneTensors(map: TensorMap): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(map)) out[k] = { shape: [...t.shape], data: t.data.slice() };
  return out;
}

export interface LearnerExecutorOptions {
  /** Task name for training; default `train`. */
  readonly trainTask?: string;
  /** Task name for validation only (cross-site evaluation); default `validate`. */
  readonly validateTask?: string;
}

export class LearnerExecutor implements Executor {
  readonly tasks: readonly string[];
  readonly learner: Learner;
  readonly #train: string;
  readonly #validate: string;
  #ready = false;

  constructor(learner: Learner, options: LearnerExecutorOptions = {}) {
    this.learner = learner;
    this.#train = options.trainTask ?? 'train';
    this.#validate = options.validateTask ?? 'validate';
    this.tasks = [this.#train, this.#validate];
  }

  async initialize(ctx: SiteJobContext): Promise<void> {
    await this.learner.initialise({ site: ctx.site, seed: ctx.seed, dataRoot: ctx.dataRoot });
    this.#ready = true;
  }

  async finalize(): Promise<void> {
    this.learner.finalise?.();
  }

  async execute(task: TaskData, ctx: ExecutorContext): Promise<Payload | null> {
    if (!this.#ready) await this.initialize(ctx);
    const payload = task.payload;
    if (payload !== null && payload.kind !== 'weights') {
      throw new VflareError(
        'PROTOCOL_ERROR',
        `${this.learner.algorithm}: task "${task.headers.taskName}" carried a "${payload.kind}" ` +
          'payload; expected the global model as weights',
      );
    }
    const global = payload === null ? {} : cloneTensors(payload.weights);
    const round = task.headers.round ?? 0;
    if (task.headers.taskName === this.#validate) {
      const metrics = await this.learner.validate(round, global);
      ctx.reportMetrics(metrics);
      return { kind: 'metrics', metrics, meta: {} };
    }
    let initialMetrics: Record<string, number> | undefined;
    if (round > 0 && Object.keys(global).length > 0) {
      initialMetrics = await this.learner.validate(round, global);
      ctx.reportMetrics(initialMetrics);
      ctx.logger.info({ round, ...initialMetrics }, 'validated the global model');
    }
    ctx.signal.throwIfAborted();
    const out = await this.learner.train(round, global, task.headers.numRounds);
    return {
      kind: 'weights',
      weights: out.weights,
      meta: {
        numStepsCurrentRound: out.numSteps,
        processedAlgorithm: this.learner.algorithm,
        ...(initialMetrics === undefined ? {} : { initialMetrics }),
      },
    };
  }
}

/** A seed for one site: the job seed mixed with the site name (FNV-1a), stable across runs. */
export function siteSeed(seed: number, site: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < site.length; i++) h = Math.imul(h ^ site.charCodeAt(i), 0x01000193) >>> 0;
  return h >>> 0;
}

/** Reads a tensor by name or fails with a clear protocol error. */
export function need(map: TensorMap, name: string, who: string): Tensor {
  const t = map[name];
  if (t === undefined) {
    throw new VflareError('PROTOCOL_ERROR', `${who}: the global model has no "${name}" variable`);
  }
  return t;
}

/**
 * A round's contributions ordered by site name. Servers combine them in this order, not in
 * arrival order, so the global model is the same on every run (libsvm's solution, k-means
 * clustering of pooled seeds and floating-point sums all depend on the order).
 */
export function bySite<C>(items: ReadonlyMap<string, C>): C[] {
  return [...items.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, c]) => c);
}

/**
 * The name of the first variable holding NaN or ±Infinity, or undefined. Servers reject such a
 * contribution (naming the site and variable, never the values) so that one faulty or hostile
 * site cannot turn the global model into NaN.
 */
export function nonFiniteVariable(map: TensorMap): string | undefined {
  for (const [name, t] of Object.entries(map)) {
    const d = t.data;
    if (d instanceof Float64Array || d instanceof Float32Array) {
      for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i] as number)) return name;
    }
  }
  return undefined;
}

/** The rejection reason `collect` returns for a contribution with non-finite values. */
export function nonFiniteReason(map: TensorMap, site: string): string | undefined {
  const bad = nonFiniteVariable(map);
  return bad === undefined ? undefined : `${site} sent non-finite values in "${bad}"; rejected`;
}
