/**
 * InitializeGlobalWeights (new in NVFlare 2.3): the server asks the clients for their initial
 * weights (task `get_weights`) and keeps the first responder's, or a named client's, as the
 * global model in JobState, where ScatterAndGather picks it up. Every reply must be a non-empty
 * `weights` payload; anything else fails the job with a message naming the site.
 */
import type { ControllerApi, Workflow } from '../core/controller.js';
import { VflareError } from '../core/errors.js';
import type { TaskResult, TensorMap } from '../core/messages.js';
import './state.js';

export interface InitializeGlobalWeightsOptions {
  /** `first`: the first valid reply wins; `client`: only `weightsClientName`'s reply. */
  readonly weightMethod?: 'first' | 'client';
  readonly weightsClientName?: string | undefined;
  /** Replies needed (0 = every client); default 0. */
  readonly minResponsesRequired?: number;
  /** Seconds to wait for more replies once the minimum arrived; default 0. */
  readonly waitTimeAfterMinReceived?: number;
  /** Seconds before the task times out; 0 = never (default). */
  readonly taskTimeout?: number;
  /** Default `get_weights`. */
  readonly taskName?: string;
}

export class InitializeGlobalWeights implements Workflow {
  readonly name = 'InitializeGlobalWeights';
  readonly #method: 'first' | 'client';
  readonly #client: string | undefined;
  readonly #min: number;
  readonly #grace: number;
  readonly #timeout: number;
  readonly #task: string;

  constructor(options: InitializeGlobalWeightsOptions = {}) {
    this.#method = options.weightMethod ?? 'first';
    this.#client = options.weightsClientName;
    this.#min = options.minResponsesRequired ?? 0;
    this.#grace = options.waitTimeAfterMinReceived ?? 0;
    this.#timeout = options.taskTimeout ?? 0;
    this.#task = options.taskName ?? 'get_weights';
    if (this.#method === 'client' && (this.#client === undefined || this.#client === '')) {
      throw new VflareError(
        'INVALID_CONFIG',
        'InitializeGlobalWeights: weightMethod "client" needs weightsClientName',
      );
    }
  }

  async run(api: ControllerApi): Promise<void> {
    if (this.#client !== undefined && !api.clients.includes(this.#client)) {
      throw new VflareError(
        'INVALID_CONFIG',
        `InitializeGlobalWeights: weightsClientName "${this.#client}" is not a client of the job ` +
          `(clients: ${api.clients.join(', ')})`,
      );
    }
    // Every client is asked (and every reply checked), as in NVFlare; `client` keeps one.
    const outcome = await api.broadcastAndWait(
      { name: this.#task, data: null, timeoutMs: this.#timeout * 1000 },
      { minResponses: this.#min, waitTimeAfterMinReceivedMs: this.#grace * 1000 },
    );
    if (outcome.completion === 'aborted' || api.signal.aborted) {
      throw new VflareError('ABORTED', 'job aborted while initialising the global weights');
    }
    for (const result of outcome.results.values()) check(result);
    const chosen =
      this.#method === 'client'
        ? outcome.results.get(this.#client as string)
        : outcome.results.values().next().value;
    if (chosen === undefined) {
      const who = this.#method === 'client' ? `client ${this.#client}` : 'any client';
      throw new VflareError(
        'TASK_FAILED',
        `InitializeGlobalWeights: no initial weights from ${who} (task ${outcome.completion})`,
      );
    }
    const weights = (chosen.payload as { weights: TensorMap }).weights;
    api.jobState.set('globalModel', weights);
    api.logger.info(
      { site: chosen.site, variables: Object.keys(weights).length },
      'global weights initialised',
    );
  }
}

function check(result: TaskResult): void {
  const where = `InitializeGlobalWeights: site ${result.site}`;
  if (result.rc !== 'ok') {
    throw new VflareError(
      'TASK_FAILED',
      `${where} answered ${result.rc}${result.reason === undefined ? '' : ` (${result.reason})`}`,
      { context: { site: result.site } },
    );
  }
  if (result.payload === null || result.payload.kind !== 'weights') {
    throw new VflareError(
      'INVALID_DATA',
      `${where} sent ` +
        `${result.payload === null ? 'no payload' : `a "${result.payload.kind}" payload`}; ` +
        'its get_weights executor must return a weights payload',
      { context: { site: result.site } },
    );
  }
  if (Object.keys(result.payload.weights).length === 0) {
    throw new VflareError('INVALID_DATA', `${where} sent empty weights`, {
      context: { site: result.site },
    });
  }
}
