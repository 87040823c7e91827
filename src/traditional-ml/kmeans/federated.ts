/**
 * Federated mini-batch k-means on the runtime: the learner (client) and the assembler (server).
 * See `kmeans.ts` for the recipe.
 *
 * PRIVACY: round 0 ships k-means++ seeds, which are raw rows of each client.
 */

import { z } from 'zod';
import { type TensorMap, VflareError } from '../../runtime/core/index.js';
import type { Assembler } from '../../runtime/workflows/assemble.js';
import type { SiteData } from '../data/spec.js';
import { bySite, need, nonFiniteReason, type TrainOutput } from '../learner/learner.js';
import { TabularLearner } from '../learner/tabular.js';
import { homogeneity } from '../metrics/index.js';
import { createRng } from '../random/index.js';
import {
  assignClusters,
  checkClusterCount,
  clusterSeeds,
  inertia,
  kmeansPlusPlus,
  localStep,
  mergeCentres,
} from './kmeans.js';

export const KMEANS_ALGORITHM = 'tml.kmeans';

export const kmeansParamsSchema = z.strictObject({
  nClusters: z.number().int().min(1),
});
export type KmeansParams = z.output<typeof kmeansParamsSchema>;

export class KmeansLearner extends TabularLearner<KmeansParams> {
  readonly algorithm = KMEANS_ALGORITHM;

  get #k(): number {
    return this.params.nClusters;
  }

  protected override checkData(data: SiteData): void {
    checkClusterCount(data.train.rows, this.#k);
  }

  train(_round: number, global: TensorMap): TrainOutput {
    const { train } = this.data;
    const centres = global['centres'];
    if (centres === undefined) {
      const seeds = kmeansPlusPlus(train, this.#k, createRng(this.seed));
      return {
        weights: { centres: { shape: [this.#k, train.cols], data: seeds } },
        numSteps: train.rows,
      };
    }
    const step = localStep(train, readCentres(global, this.#k, train.cols));
    return {
      weights: {
        centres: { shape: [this.#k, train.cols], data: step.centres },
        counts: { shape: [this.#k], data: step.counts },
      },
      numSteps: train.rows,
    };
  }

  validate(_round: number, global: TensorMap): Record<string, number> {
    const { valid } = this.data;
    if (valid === undefined) return {};
    const c = readCentres(global, this.#k, valid.cols);
    return {
      homogeneity: homogeneity(valid.y, assignClusters(valid.x, valid.cols, c)),
      inertia: inertia(valid.x, valid.cols, c),
    };
  }
}

function readCentres(map: TensorMap, k: number, cols: number): Float64Array {
  const t = need(map, 'centres', 'k-means');
  if (t.data.length !== k * cols) {
    throw new VflareError(
      'PROTOCOL_ERROR',
      `k-means: global centres have shape [${t.shape}], expected [${k}, ${cols}]`,
    );
  }
  return Float64Array.from(t.data);
}

export interface KmeansContribution {
  readonly cols: number;
  readonly centres: Float64Array;
  readonly counts: Float64Array | undefined;
}

/** Server side: initial clustering of the seeds, then count-weighted updates. */
export class KmeansAssembler implements Assembler<'weights', KmeansContribution> {
  readonly expectedKind = 'weights' as const;
  readonly #k: number;
  readonly #seed: number;
  #centres: Float64Array | undefined;
  #counts: Float64Array | undefined;

  constructor(params: KmeansParams, seed: number) {
    this.#k = params.nClusters;
    this.#seed = seed;
  }

  /** Accumulated counts per centre (state that survives rounds). */
  get counts(): Float64Array | undefined {
    return this.#counts?.slice();
  }

  collect(payload: { weights: TensorMap }, site = 'a site'): KmeansContribution | string {
    const bad = nonFiniteReason(payload.weights, site);
    if (bad !== undefined) return bad;
    const c = payload.weights['centres'];
    const n = payload.weights['counts'];
    if (c === undefined) return 'no centres';
    if (
      c.shape.length !== 2 ||
      c.shape[0] === 0 ||
      c.data.length !== (c.shape[0] as number) * (c.shape[1] as number)
    ) {
      return `centres of shape [${c.shape}]`;
    }
    if (n !== undefined && (n.data.length !== this.#k || c.shape[0] !== this.#k)) {
      return `${n.data.length} counts for ${c.shape[0]} centres, expected ${this.#k}`;
    }
    if (this.#centres !== undefined && c.data.length !== this.#centres.length) {
      return `centres of shape [${c.shape}] do not match the global centres`;
    }
    return {
      cols: c.shape[1] as number,
      centres: Float64Array.from(c.data),
      counts: n === undefined ? undefined : Float64Array.from(n.data),
    };
  }

  assemble(items: ReadonlyMap<string, KmeansContribution>, round: number) {
    const list = bySite(items);
    const init = list.every((c) => c.counts === undefined);
    if (!init && list.some((c) => c.counts === undefined)) {
      throw new VflareError(
        'AGGREGATION_FAILED',
        `k-means round ${round}: some clients sent seeds, others steps`,
      );
    }
    if (!init && (this.#centres === undefined || this.#counts === undefined)) {
      throw new VflareError(
        'AGGREGATION_FAILED',
        `k-means round ${round}: clients sent steps but there are no global centres yet`,
      );
    }
    if (init || this.#centres === undefined || this.#counts === undefined) {
      const width = list[0]?.cols ?? 0;
      if (list.some((c) => c.cols !== width)) {
        throw new VflareError(
          'AGGREGATION_FAILED',
          `k-means: clients sent seeds of different widths`,
        );
      }
      // Each learner seeds its own nClusters; a different count here is a config mismatch that
      // would otherwise surface as a misleading "too few rows" error (or a silent change of k).
      const k = this.#k;
      if (list.some((c) => c.centres.length !== k * width)) {
        throw new VflareError(
          'AGGREGATION_FAILED',
          `k-means: sites sent ${list.map((c) => c.centres.length / width).join(', ')} seeds ` +
            `for ${k} clusters; give tml.KmeansLearner and tml.KmeansAggregator the same nClusters`,
        );
      }
      const pooled = new Float64Array(list.reduce((a, c) => a + c.centres.length, 0));
      let o = 0;
      for (const c of list) {
        pooled.set(c.centres, o);
        o += c.centres.length;
      }
      this.#centres = clusterSeeds(pooled, width, this.#k, this.#seed);
      this.#counts = new Float64Array(this.#k);
    } else {
      const merged = mergeCentres(
        this.#centres,
        this.#counts,
        list.map((c) => ({ centres: c.centres, counts: c.counts as Float64Array })),
      );
      this.#centres = merged.centres;
      this.#counts = merged.counts;
    }
    const cols = this.#centres.length / this.#k;
    return {
      kind: 'weights' as const,
      weights: { centres: { shape: [this.#k, cols], data: this.#centres.slice() } },
      meta: { processedAlgorithm: KMEANS_ALGORITHM },
    };
  }
}
