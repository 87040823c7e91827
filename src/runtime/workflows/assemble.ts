/**
 * Collect-and-assemble aggregation (NVFlare 2.3's CollectAndAssembleAggregator): instead of
 * averaging, the server keeps every site's contribution of the round and hands the whole
 * collection to an `Assembler`, which builds the next global payload. Federated SVM (support
 * vectors from every site, one global SVM trained on their union) and federated k-means (per-site
 * centroids and counts, merged into global centroids) are assemblers.
 */
import type { Payload, PayloadKind, PayloadKinds } from '../core/messages.js';
import { type AggregateOutcome, RoundCollector } from './aggregator.js';

/**
 * What an algorithm supplies to run under `CollectAndAssembleAggregator`.
 *
 * The aggregator does the bookkeeping every aggregator shares (non-ok codes, stale rounds,
 * second contributions, empty results are rejected before `collect` is called); the assembler
 * only sees well-formed payloads of its `expectedKind`, for the current round.
 *
 * Contract:
 * - `collect` is called once per accepted site and round, in arrival order. It extracts what the
 *   assembler needs (a typed item `C`) and must not keep references to state outside its return
 *   value. Return a string to reject the contribution: it becomes the reason in logs (safe text
 *   only: say what was wrong, never the data).
 * - `assemble` is called once at the end of the round with every collected item, keyed by site
 *   in arrival order, and returns the next global payload (what ScatterAndGather sends in the
 *   next round and persists). It is not called when nothing was collected: the global model then
 *   stays unchanged. Throw a `VflareError('AGGREGATION_FAILED', …)` when the collection cannot
 *   be assembled (e.g. inconsistent dimensions): the job fails with that message.
 * - Both should be pure functions of their inputs and of the assembler's configuration, so that
 *   runs are reproducible; keep heavy math in pure, separately tested functions.
 *
 * Example (federated k-means, sketched): `expectedKind: 'weights'`; `collect` reads the site's
 * `centroids` and `counts` tensors and checks their shapes; `assemble` computes the
 * count-weighted mean of matching centroids and returns `{kind: 'weights', weights: {centroids,
 * counts}, meta: {}}`.
 */
export interface Assembler<K extends PayloadKind = PayloadKind, C = PayloadKinds[K]> {
  /** The payload kind clients must send; anything else is rejected before `collect`. */
  readonly expectedKind: K;
  /** Extracts one site's item, or returns a reason to reject it. */
  collect(payload: PayloadKinds[K], site: string, round: number): C | string;
  /** Builds the next global payload from the round's items (site → item, arrival order). */
  assemble(items: ReadonlyMap<string, C>, round: number): Payload;
}

/** Drives an `Assembler` under ScatterAndGather. */
export class CollectAndAssembleAggregator<K extends PayloadKind, C> extends RoundCollector<C> {
  readonly #assembler: Assembler<K, C>;

  constructor(assembler: Assembler<K, C>) {
    super();
    this.#assembler = assembler;
  }

  protected take(payload: Payload, site: string): { contribution: C } | string {
    if (payload.kind !== this.#assembler.expectedKind) {
      return `wrong payload kind "${payload.kind}" (expected "${this.#assembler.expectedKind}")`;
    }
    const item = this.#assembler.collect(payload as PayloadKinds[K], site, this.round);
    if (typeof item === 'string') return item;
    return { contribution: item };
  }

  aggregate(): AggregateOutcome {
    const contributors = [...this.contributions.keys()];
    const rejected = new Map(this.rejected);
    if (contributors.length === 0) return { payload: null, contributors, rejected };
    const payload = this.#assembler.assemble(new Map(this.contributions), this.round);
    return { payload, contributors, rejected };
  }
}
