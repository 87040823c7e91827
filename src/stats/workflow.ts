/**
 * The server side of federated statistics, in two phases: (1) every site sends per-feature
 * summaries, merged into global count, mean, sample std, min and max; (2) the server sends
 * global equal-width bin edges and adds up the sites' histograms. Results: summary metrics
 * `<feature>.count|mean|std` (full precision) and `<server workspace>/statistics.json` with the
 * histograms. Sites are merged in name order, so results do not depend on arrival order.
 */
import { join } from 'node:path';
import type { ControllerApi, TaskOutcome, Workflow } from '../runtime/core/controller.js';
import { VflareError } from '../runtime/core/errors.js';
import type { TensorMap } from '../runtime/core/messages.js';
import { writeFileAtomic } from '../runtime/workflows/model-file.js';
import { addCounts, binEdges, type FeatureSummary, merge, sampleStd } from './math.js';
import { HISTOGRAM_TASK, readSummaries, SUMMARY_TASK } from './protocol.js';

export interface FederatedStatisticsOptions {
  /** Histogram bins per feature; default 10. */
  readonly bins?: number;
  /** Seconds each phase may take; 0 = no limit (default). */
  readonly taskTimeout?: number;
  /** JSON file in the server workspace; default `statistics.json`. */
  readonly fileName?: string;
}

export interface FeatureStatistics extends FeatureSummary {
  readonly std: number;
  readonly histogram: { readonly edges: number[]; readonly counts: number[] };
}

export interface StatisticsResult {
  readonly sites: readonly string[];
  readonly features: Readonly<Record<string, FeatureStatistics>>;
}

export class FederatedStatistics implements Workflow {
  readonly name = 'FederatedStatistics';
  readonly #bins: number;
  readonly #timeoutMs: number;
  readonly #file: string;
  result: StatisticsResult | undefined;

  constructor(options: FederatedStatisticsOptions = {}) {
    this.#bins = options.bins ?? 10;
    this.#timeoutMs = (options.taskTimeout ?? 0) * 1000;
    this.#file = options.fileName ?? 'statistics.json';
    binEdges(0, 1, this.#bins); // validates `bins` early
  }

  async run(api: ControllerApi): Promise<void> {
    const sites = [...api.clients].sort();
    const phase1 = await this.#gather(api, SUMMARY_TASK, null);
    const global = new Map<string, FeatureSummary>();
    let features: string[] | undefined;
    for (const site of sites) {
      const stats = this.#stats(phase1, site);
      const summaries = readSummaries(stats);
      if (typeof summaries === 'string') this.#bad(site, summaries);
      const names = [...summaries.keys()];
      features ??= names;
      if (names.length !== features.length || names.some((n, i) => n !== features![i])) {
        this.#bad(site, "its features differ from the other sites'");
      }
      for (const [name, s] of summaries)
        global.set(name, merge(global.get(name) ?? emptyLike(), s));
    }
    const edges: Record<string, { shape: number[]; data: Float64Array }> = {};
    for (const [name, s] of global) {
      const e = binEdges(s.min, s.max, this.#bins);
      edges[name] = { shape: [e.length], data: e };
    }
    const phase2 = await this.#gather(api, HISTOGRAM_TASK, edges);
    const counts = new Map([...global.keys()].map((n) => [n, new Float64Array(this.#bins)]));
    for (const site of sites) {
      const stats = this.#stats(phase2, site);
      for (const [name, total] of counts) {
        const c = stats[name];
        if (c === undefined) this.#bad(site, `no histogram for feature "${name}"`);
        addCounts(total, c.data);
      }
    }
    const out: Record<string, FeatureStatistics> = {};
    const metrics: Record<string, number> = {};
    for (const [name, s] of global) {
      const std = sampleStd(s);
      out[name] = {
        ...s,
        std,
        histogram: { edges: [...(edges[name]?.data ?? [])], counts: [...(counts.get(name) ?? [])] },
      };
      metrics[`${name}.count`] = s.count;
      metrics[`${name}.mean`] = s.mean;
      metrics[`${name}.std`] = std;
    }
    this.result = { sites, features: out };
    api.reportMetrics(metrics);
    await writeFileAtomic(
      join(api.workspace, this.#file),
      `${JSON.stringify(this.result, null, 2)}\n`,
    );
    api.logger.info({ features: global.size, sites: sites.length }, 'statistics aggregated');
  }

  async #gather(api: ControllerApi, name: string, data: TensorMap | null): Promise<TaskOutcome> {
    const outcome = await api.broadcastAndWait(
      {
        name,
        data: data === null ? null : { kind: 'statistics', stats: data, meta: {} },
        timeoutMs: this.#timeoutMs,
      },
      { minResponses: 0 },
    );
    if (outcome.completion === 'aborted' || api.signal.aborted) {
      throw new VflareError('ABORTED', `job aborted during ${name}`);
    }
    const missing = api.clients.filter((c) => !outcome.results.has(c));
    if (missing.length > 0) {
      throw new VflareError(
        outcome.completion === 'client-dead' ? 'SITE_DEAD' : 'TASK_FAILED',
        `${name} closed (${outcome.completion}) without an answer from: ${missing.join(', ')}`,
        { context: { task: name, sites: missing.join(',') } },
      );
    }
    return outcome;
  }

  #stats(outcome: TaskOutcome, site: string): TensorMap {
    const r = outcome.results.get(site);
    if (r === undefined || r.rc !== 'ok') {
      this.#bad(site, `it answered ${r?.rc ?? 'nothing'}${r?.reason ? ` (${r.reason})` : ''}`);
    }
    if (r.payload?.kind !== 'statistics') this.#bad(site, 'its answer is not a statistics payload');
    return r.payload.stats;
  }

  #bad(site: string, why: string): never {
    throw new VflareError('TASK_FAILED', `statistics from site ${site} unusable: ${why}`, {
      context: { site },
    });
  }
}

function emptyLike(): FeatureSummary {
  return { count: 0, mean: 0, m2: 0, min: Number.POSITIVE_INFINITY, max: Number.NEGATIVE_INFINITY };
}
