/**
 * The aggregator contract ScatterAndGather drives, and the weighted FedAvg aggregator (NVFlare's
 * InTimeAccumulateWeightedAggregator, typed). An aggregator sees each result as it arrives and
 * either keeps it or rejects it with a reason; at the end of the round it produces one payload.
 */
import { VflareError } from '../core/errors.js';
import type { Payload, TaskResult, Tensor, TensorMap } from '../core/messages.js';
import { excludeFilter, type KeyFilter, weightedAverage, weightedMetrics } from './tensors.js';

export type Acceptance = { readonly accepted: true } | { readonly accepted: false; reason: string };

export interface AggregateOutcome {
  /** The round's aggregate, or null when no contribution was accepted (model stays as it is). */
  readonly payload: Payload | null;
  /** Sites whose contribution went into `payload`, in arrival order. */
  readonly contributors: readonly string[];
  /** Sites whose contribution was rejected, with the reason (safe text, no data). */
  readonly rejected: ReadonlyMap<string, string>;
}

export interface Aggregator {
  /** Forgets every contribution and starts collecting for `round`. */
  startRound(round: number): void;
  /** Offers one site's result; never throws for bad input, it rejects with a reason. */
  accept(result: TaskResult): Acceptance;
  /** Combines what was accepted in the current round. */
  aggregate(): AggregateOutcome;
}

/**
 * The checks every aggregator makes before looking at a result's data: a non-ok code, a result
 * for another round than the current one (stale), a second contribution of the same site.
 */
export abstract class RoundCollector<C> implements Aggregator {
  protected round = -1;
  protected readonly contributions = new Map<string, C>();
  protected readonly rejected = new Map<string, string>();

  startRound(round: number): void {
    this.round = round;
    this.contributions.clear();
    this.rejected.clear();
  }

  accept(result: TaskResult): Acceptance {
    const reason = this.check(result);
    if (reason !== undefined) {
      // A site keeps its first accepted contribution; only record the first rejection reason.
      if (!this.rejected.has(result.site)) this.rejected.set(result.site, reason);
      return { accepted: false, reason };
    }
    return { accepted: true };
  }

  private check(result: TaskResult): string | undefined {
    if (result.rc !== 'ok') return `result code ${result.rc}`;
    const round = result.headers.round;
    if (round !== undefined && round !== this.round) {
      return `stale contribution for round ${round} (current round ${this.round})`;
    }
    if (this.contributions.has(result.site)) return 'second contribution in the same round';
    if (result.payload === null) return 'empty result (no payload)';
    const made = this.take(result.payload, result.site);
    if (typeof made === 'string') return made;
    this.contributions.set(result.site, made.contribution);
    return undefined;
  }

  /** Turns a payload into a contribution, or returns why it is refused. */
  protected abstract take(payload: Payload, site: string): { contribution: C } | string;

  abstract aggregate(): AggregateOutcome;
}

export interface WeightedFedAvgOptions {
  /** Kind the clients must send; default `weight-diff` (as NVFlare). */
  readonly expectedKind?: 'weights' | 'weight-diff' | 'metrics';
  /** Regex (search semantics) or exact list of variables left out of the aggregate. */
  readonly excludeVars?: string | readonly string[] | undefined;
  /** Per-site weight; a site not listed weighs 1. */
  readonly aggregationWeights?: Readonly<Record<string, number>> | undefined;
  /** Multiply each weight by the result's `numStepsCurrentRound` (default 1 when absent). */
  readonly weighByLocalIter?: boolean;
}

interface FedAvgContribution {
  readonly weight: number;
  readonly tensors?: TensorMap;
  readonly metrics?: Readonly<Record<string, number>>;
  readonly algorithm: string | undefined;
}

/**
 * Weighted FedAvg: weight = aggregationWeights[site] × numStepsCurrentRound; sums and weight
 * totals are kept per variable, so a variable only some sites send is averaged over those
 * sites. Excluded variables are absent from the result. Rejects a wrong kind and a mix of
 * `processedAlgorithm`s, besides the checks of `RoundCollector`.
 */
export class WeightedFedAvgAggregator extends RoundCollector<FedAvgContribution> {
  readonly expectedKind: 'weights' | 'weight-diff' | 'metrics';
  readonly #include: KeyFilter;
  readonly #weights: Readonly<Record<string, number>>;
  readonly #byIter: boolean;

  constructor(options: WeightedFedAvgOptions = {}) {
    super();
    this.expectedKind = options.expectedKind ?? 'weight-diff';
    this.#include = excludeFilter(options.excludeVars);
    this.#weights = options.aggregationWeights ?? {};
    this.#byIter = options.weighByLocalIter ?? true;
    for (const [site, w] of Object.entries(this.#weights)) {
      if (!Number.isFinite(w) || w < 0) {
        throw new VflareError(
          'INVALID_CONFIG',
          `aggregationWeights.${site}: expected a finite number ≥ 0, got ${w}`,
        );
      }
    }
  }

  protected take(payload: Payload, site: string): { contribution: FedAvgContribution } | string {
    if (payload.kind !== this.expectedKind) {
      return `wrong payload kind "${payload.kind}" (expected "${this.expectedKind}")`;
    }
    const meta = payload.meta;
    const steps = this.#byIter ? (meta.numStepsCurrentRound ?? 1) : 1;
    if (!Number.isFinite(steps) || steps < 0) {
      return `numStepsCurrentRound must be a finite number ≥ 0, got ${steps}`;
    }
    const algorithm = meta.processedAlgorithm;
    for (const other of this.contributions.values()) {
      if (other.algorithm !== algorithm) {
        return (
          `processedAlgorithm "${algorithm ?? 'none'}" differs from ` +
          `"${other.algorithm ?? 'none'}"`
        );
      }
    }
    const weight = (this.#weights[site] ?? 1) * steps;
    if (payload.kind === 'metrics') {
      return { contribution: { weight, metrics: payload.metrics, algorithm } };
    }
    if (payload.kind === 'weights' || payload.kind === 'weight-diff') {
      return { contribution: { weight, tensors: payload.weights, algorithm } };
    }
    return 'wrong payload kind';
  }

  aggregate(): AggregateOutcome {
    const contributors = [...this.contributions.keys()];
    const rejected = new Map(this.rejected);
    if (contributors.length === 0) return { payload: null, contributors, rejected };
    const list = [...this.contributions.values()];
    const algorithm = list[0]?.algorithm;
    const meta = algorithm === undefined ? {} : { processedAlgorithm: algorithm };
    try {
      if (this.expectedKind === 'metrics') {
        const metrics = weightedMetrics(
          list.map((c) => ({ weight: c.weight, metrics: c.metrics ?? {} })),
          this.#include,
        );
        return { payload: { kind: 'metrics', metrics, meta }, contributors, rejected };
      }
      const { tensors } = weightedAverage(
        list.map((c) => ({ weight: c.weight, tensors: c.tensors ?? {} })),
        this.#include,
      );
      const weights: Record<string, Tensor> = tensors;
      return { payload: { kind: this.expectedKind, weights, meta }, contributors, rejected };
    } catch (err) {
      if (err instanceof VflareError) {
        throw new VflareError('AGGREGATION_FAILED', `round ${this.round}: ${err.message}`, {
          context: { round: this.round, sites: contributors.join(',') },
        });
      }
      throw err;
    }
  }
}
