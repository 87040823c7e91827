/**
 * CrossSiteModelEval: every site's local model and the server's global model are validated at
 * every site. Clients answer `submit_model` with their local model (`weights`) and `validate`
 * with `metrics` for the model the task carries. Failed submissions or validations are recorded
 * as null cells rather than failing the job (as NVFlare), and logged.
 *
 * The matrix goes to `<server workspace>/<fileName>` as JSON, to JobState (`crossSiteMatrix`) for
 * code that runs after it, and to the summary's server metrics as
 * `cse.<model>.<site>.<metric>`.
 */
import { join } from 'node:path';
import type { ControllerApi, Workflow } from '../core/controller.js';
import { VflareError } from '../core/errors.js';
import type { TensorMap } from '../core/messages.js';
import { writeFileAtomic } from './model-file.js';
import type { ModelPersistor } from './persistor.js';
import type { CrossSiteMatrix } from './state.js';
import './state.js';

export interface CrossSiteModelEvalOptions {
  /** Where the server model comes from when JobState has none (e.g. a file from earlier). */
  readonly persistor?: ModelPersistor;
  /** Include the server's global model; default true. */
  readonly includeServerModel?: boolean;
  /** Seconds for the submit task; default 600. */
  readonly submitModelTimeout?: number;
  /** Seconds for each validate task; default 6000. */
  readonly validationTimeout?: number;
  readonly submitTaskName?: string;
  readonly validateTaskName?: string;
  /** JSON file in the server workspace; default `cross_site_val.json`. */
  readonly fileName?: string;
  /** Report matrix cells as server metrics in summary.json; default true. */
  readonly reportMetrics?: boolean;
}

/** Name of the server's model in the matrix. */
export const SERVER_MODEL = 'server';

export class CrossSiteModelEval implements Workflow {
  readonly name = 'CrossSiteModelEval';
  readonly #o: CrossSiteModelEvalOptions;
  /** The last matrix computed. */
  matrix: CrossSiteMatrix | undefined;

  constructor(options: CrossSiteModelEvalOptions = {}) {
    this.#o = options;
  }

  async run(api: ControllerApi): Promise<void> {
    const o = this.#o;
    const log = api.logger.child({ workflow: this.name });
    const models = new Map<string, TensorMap>();
    if (o.includeServerModel ?? true) {
      const server = api.jobState.get('globalModel') ?? (await o.persistor?.load()) ?? null;
      if (server === null) log.warn('no server model to evaluate (none in JobState or persistor)');
      else models.set(SERVER_MODEL, server);
    }
    const submitted = await api.broadcastAndWait(
      {
        name: o.submitTaskName ?? 'submit_model',
        data: null,
        timeoutMs: (o.submitModelTimeout ?? 600) * 1000,
      },
      { minResponses: 0 },
    );
    this.#aborted(api, submitted.completion);
    for (const site of api.clients) {
      const r = submitted.results.get(site);
      if (r?.rc === 'ok' && r.payload?.kind === 'weights') models.set(site, r.payload.weights);
      else log.warn({ peer: site, rc: r?.rc ?? 'no answer' }, 'site submitted no model');
    }
    const results: Record<string, Record<string, Record<string, number> | null>> = {};
    for (const [owner, weights] of models) {
      const row: Record<string, Record<string, number> | null> = {};
      const outcome = await api.broadcastAndWait(
        {
          name: o.validateTaskName ?? 'validate',
          data: { kind: 'weights', weights, meta: {} },
          timeoutMs: (o.validationTimeout ?? 6000) * 1000,
        },
        { minResponses: 0 },
      );
      this.#aborted(api, outcome.completion);
      for (const site of api.clients) {
        const r = outcome.results.get(site);
        if (r?.rc === 'ok' && r.payload?.kind === 'metrics') row[site] = { ...r.payload.metrics };
        else {
          row[site] = null;
          log.warn({ model: owner, peer: site, rc: r?.rc ?? 'no answer' }, 'validation failed');
        }
      }
      results[owner] = row;
    }
    const matrix: CrossSiteMatrix = {
      models: [...models.keys()],
      sites: [...api.clients],
      results,
    };
    this.matrix = matrix;
    api.jobState.set('crossSiteMatrix', matrix);
    await writeFileAtomic(
      join(api.workspace, o.fileName ?? 'cross_site_val.json'),
      `${JSON.stringify(matrix, null, 2)}\n`,
    );
    if (o.reportMetrics ?? true) api.reportMetrics(matrixMetrics(matrix));
  }

  #aborted(api: ControllerApi, completion: string): void {
    if (completion === 'aborted' || api.signal.aborted) {
      throw new VflareError('ABORTED', 'job aborted during cross-site evaluation');
    }
  }
}

/** Flattens a matrix into `cse.<model>.<site>.<metric>` numbers. */
export function matrixMetrics(matrix: CrossSiteMatrix): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [model, row] of Object.entries(matrix.results)) {
    for (const [site, metrics] of Object.entries(row)) {
      for (const [name, value] of Object.entries(metrics ?? {})) {
        out[`cse.${model}.${site}.${name}`] = value;
      }
    }
  }
  return out;
}
