/**
 * ScatterAndGather (NVFlare's SAG, typed): each round the server sends the global model to the
 * clients, gathers their updates, aggregates them and updates the model (a `weight-diff` is
 * added, `weights` replace the model), then persists it on schedule and at the end.
 *
 * Failure semantics: a result with a non-ok code fails the job unless `ignoreResultError`; a
 * round that closes with fewer than `minClients` answers (sites dead, or cut off by
 * `trainTimeout`) fails the job naming the sites that did not answer; a round with no accepted
 * contribution keeps the model unchanged and says so in the log.
 */
import type { ControllerApi, TaskHandle, Workflow } from '../core/controller.js';
import { VflareError } from '../core/errors.js';
import type { TaskResult, TensorMap } from '../core/messages.js';
import type { Aggregator } from './aggregator.js';
import type { ModelPersistor } from './persistor.js';
import './state.js';
import { addDiff } from './tensors.js';

export interface ScatterAndGatherOptions {
  readonly aggregator: Aggregator;
  readonly persistor?: ModelPersistor;
  /** Answers needed before a round may close (the broadcast's `minResponses`); default 1. */
  readonly minClients?: number;
  /** Total rounds; the run covers rounds `startRound` … `numRounds - 1`. Default 5. */
  readonly numRounds?: number;
  /** First round to run (to resume a job); default 0. */
  readonly startRound?: number;
  /** Seconds to wait for more answers once `minClients` answered; default 10. */
  readonly waitTimeAfterMinReceived?: number;
  /** Seconds after which a round closes with what arrived; 0 = no limit (default). */
  readonly trainTimeout?: number;
  /** Skip results with a non-ok code instead of failing the job; default false. */
  readonly ignoreResultError?: boolean;
  /** Allow starting without an initial model (clients start from scratch); default false. */
  readonly allowEmptyGlobalWeights?: boolean;
  /** Persist every n rounds (0 = only at the end); default 1. */
  readonly persistEveryNRounds?: number;
  /** Task name the clients' trainers answer; default `train`. */
  readonly trainTaskName?: string;
  /** Called after each round with (rounds done, total rounds to run). */
  readonly onRound?: (done: number, total: number) => void;
}

function intOption(name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) {
    throw new VflareError(
      'INVALID_CONFIG',
      `ScatterAndGather.${name}: expected an integer ≥ ${min}, got ${value}`,
    );
  }
  return value;
}

function numberOption(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) {
    throw new VflareError(
      'INVALID_CONFIG',
      `ScatterAndGather.${name}: expected a number ≥ 0, got ${value}`,
    );
  }
  return value;
}

export class ScatterAndGather implements Workflow {
  readonly name = 'ScatterAndGather';
  readonly #o: Required<Omit<ScatterAndGatherOptions, 'persistor' | 'onRound'>>;
  readonly #persistor: ModelPersistor | undefined;
  readonly #onRound: ((done: number, total: number) => void) | undefined;
  /** The global model after the last completed round. */
  model: TensorMap = {};

  constructor(options: ScatterAndGatherOptions) {
    this.#o = {
      aggregator: options.aggregator,
      minClients: intOption('minClients', options.minClients ?? 1, 1),
      numRounds: intOption('numRounds', options.numRounds ?? 5, 0),
      startRound: intOption('startRound', options.startRound ?? 0, 0),
      waitTimeAfterMinReceived: numberOption(
        'waitTimeAfterMinReceived',
        options.waitTimeAfterMinReceived ?? 10,
      ),
      trainTimeout: numberOption('trainTimeout', options.trainTimeout ?? 0),
      ignoreResultError: options.ignoreResultError ?? false,
      allowEmptyGlobalWeights: options.allowEmptyGlobalWeights ?? false,
      persistEveryNRounds: intOption('persistEveryNRounds', options.persistEveryNRounds ?? 1, 0),
      trainTaskName: options.trainTaskName ?? 'train',
    };
    this.#persistor = options.persistor;
    this.#onRound = options.onRound;
    if (this.#o.startRound > this.#o.numRounds) {
      throw new VflareError(
        'INVALID_CONFIG',
        `ScatterAndGather.startRound (${this.#o.startRound}) is after ` +
          `numRounds (${this.#o.numRounds})`,
      );
    }
  }

  async run(api: ControllerApi): Promise<void> {
    const o = this.#o;
    if (o.minClients > api.clients.length) {
      throw new VflareError(
        'MIN_CLIENTS_NOT_MET',
        `ScatterAndGather needs minClients = ${o.minClients} but the job has ` +
          `${api.clients.length} client(s)`,
      );
    }
    this.model = await this.#initialModel(api);
    const log = api.logger.child({ workflow: this.name });
    const total = o.numRounds - o.startRound;
    log.info({ rounds: total, minClients: o.minClients }, 'scatter-and-gather starts');
    let lastSaved = -1;
    for (let round = o.startRound; round < o.numRounds; round++) {
      if (api.signal.aborted) throw new VflareError('ABORTED', `job aborted before round ${round}`);
      this.#checkAlive(api, round);
      await this.#round(api, round, log.child({ round }));
      api.jobState.set('globalModel', this.model);
      api.reportRounds(round + 1);
      const n = o.persistEveryNRounds;
      if (this.#persistor !== undefined && n > 0 && (round - o.startRound + 1) % n === 0) {
        await this.#persistor.save(this.model, round);
        lastSaved = round;
      }
      this.#onRound?.(round - o.startRound + 1, total);
    }
    const last = o.numRounds - 1;
    if (this.#persistor !== undefined && total > 0 && lastSaved !== last) {
      await this.#persistor.save(this.model, last);
    }
    log.info({ rounds: total }, 'scatter-and-gather finished');
  }

  async #initialModel(api: ControllerApi): Promise<TensorMap> {
    const loaded = (await this.#persistor?.load()) ?? null;
    if (loaded !== null && Object.keys(loaded).length > 0) return loaded;
    const fromState = api.jobState.get('globalModel');
    if (fromState !== undefined && Object.keys(fromState).length > 0) return fromState;
    if (this.#o.allowEmptyGlobalWeights) return {};
    throw new VflareError(
      'INVALID_CONFIG',
      'ScatterAndGather has no initial model: give the persistor an initialModel, run ' +
        'InitializeGlobalWeights before it, or set allowEmptyGlobalWeights',
    );
  }

  #checkAlive(api: ControllerApi, round: number): void {
    const alive = new Set(api.aliveClients());
    if (alive.size >= this.#o.minClients) return;
    const missing = api.clients.filter((c) => !alive.has(c));
    throw new VflareError(
      'MIN_CLIENTS_NOT_MET',
      `round ${round}: only ${alive.size} client(s) alive, minClients is ${this.#o.minClients}; ` +
        `not responding: ${missing.join(', ')}`,
      { context: { round, sites: missing.join(',') } },
    );
  }

  async #round(api: ControllerApi, round: number, log: ControllerApi['logger']): Promise<void> {
    const o = this.#o;
    o.aggregator.startRound(round);
    let failure: TaskResult | undefined;
    let handle: TaskHandle | undefined;
    const onResult = (result: TaskResult): void => {
      if (result.rc !== 'ok' && !o.ignoreResultError) {
        failure ??= result;
        if (handle !== undefined) api.cancelTask(handle, 'error');
        return;
      }
      const verdict = o.aggregator.accept(result);
      if (!verdict.accepted) {
        log.warn({ peer: result.site, reason: verdict.reason }, 'contribution rejected');
      }
    };
    handle = api.broadcast(
      {
        name: o.trainTaskName,
        data: { kind: 'weights', weights: this.model, meta: {} },
        round,
        numRounds: o.numRounds,
        timeoutMs: o.trainTimeout * 1000,
        onResult,
      },
      {
        minResponses: o.minClients,
        waitTimeAfterMinReceivedMs: o.waitTimeAfterMinReceived * 1000,
      },
    );
    const outcome = await handle.done;
    if (failure !== undefined) {
      throw new VflareError(
        'TASK_FAILED',
        `round ${round}: site ${failure.site} answered ${failure.rc}` +
          `${failure.reason === undefined ? '' : ` (${failure.reason})`}; fix that site, or ` +
          'set ignoreResultError to let the rounds go on without its results',
        { context: { round, site: failure.site, task: o.trainTaskName } },
      );
    }
    if (outcome.completion === 'aborted' || api.signal.aborted) {
      throw new VflareError('ABORTED', `job aborted during round ${round}`);
    }
    if (outcome.completion === 'error') {
      throw new VflareError(
        'TASK_FAILED',
        `round ${round}: the ${o.trainTaskName} task ended with an error` +
          `${outcome.reason === undefined ? '' : ` (${outcome.reason})`}`,
        { context: { round, task: o.trainTaskName } },
      );
    }
    if (outcome.results.size < o.minClients) {
      const missing = api.clients.filter((c) => !outcome.results.has(c));
      const dead = outcome.deadSites ?? [];
      throw new VflareError(
        outcome.completion === 'client-dead' || dead.length > 0
          ? 'SITE_DEAD'
          : 'MIN_CLIENTS_NOT_MET',
        `round ${round} closed (${outcome.completion}) with ${outcome.results.size} result(s), ` +
          `minClients is ${o.minClients}; no answer from: ${missing.join(', ')}` +
          (dead.length > 0 ? ` (dead: ${dead.join(', ')})` : ''),
        { context: { round, sites: missing.join(',') } },
      );
    }
    if (outcome.completion === 'timeout') {
      const late = api.clients.filter((c) => !outcome.results.has(c));
      log.warn({ sites: late.join(',') }, 'round closed at trainTimeout without these sites');
    }
    this.#update(o.aggregator, log);
  }

  #update(aggregator: Aggregator, log: ControllerApi['logger']): void {
    const { payload, contributors, rejected } = aggregator.aggregate();
    if (payload === null) {
      log.warn(
        { rejected: [...rejected.keys()].join(',') },
        'no contribution accepted this round: global model unchanged',
      );
      return;
    }
    if (payload.kind === 'weight-diff') {
      this.model = addDiff(this.model, payload.weights);
    } else if (payload.kind === 'weights') {
      if (Object.keys(payload.weights).length === 0) {
        log.warn('aggregate holds no variables: global model unchanged');
        return;
      }
      this.model = payload.weights;
    } else {
      throw new VflareError(
        'AGGREGATION_FAILED',
        `aggregator produced a "${payload.kind}" payload; ` +
          'ScatterAndGather needs weights or weight-diff',
      );
    }
    log.info({ contributors: contributors.length, rejected: rejected.size }, 'round aggregated');
  }
}
