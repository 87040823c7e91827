/**
 * Federated random forest (bagging): in round 0 each client grows a sub-forest on its rows and
 * the server merges every sub-forest into one global forest. An optional round 1 only lets the
 * clients validate the merged forest (the server keeps it unchanged), as the two-step SVM does;
 * later rounds are refused. Clients send split features, thresholds and leaf class
 * distributions only (see `forest.ts`).
 */

import { z } from 'zod';
import { type TensorMap, VflareError } from '../../runtime/core/index.js';
import type { Assembler } from '../../runtime/workflows/assemble.js';
import type { SiteData } from '../data/spec.js';
import { bySite, need, nonFiniteReason, type TrainOutput } from '../learner/learner.js';
import { classifierMetrics } from '../learner/metrics.js';
import { TabularLearner } from '../learner/tabular.js';
import {
  type Forest,
  forestPredict,
  forestProba,
  growForest,
  mergeForests,
  treeCount,
} from './forest.js';

export const FOREST_ALGORITHM = 'tml.forest';

export const forestParamsSchema = z.strictObject({
  nClasses: z.number().int().min(2),
  nTrees: z.number().int().min(1).default(20),
  subsample: z.number().gt(0).lte(1).default(0.8),
  maxDepth: z.number().int().min(1).max(30).default(8),
  featureFraction: z.number().gt(0).lte(1).optional(),
  minSamplesLeaf: z.number().int().min(1).default(1),
  bins: z.number().int().min(2).max(255).default(64),
});
export type ForestParams = z.output<typeof forestParamsSchema>;

export function forestToTensors(f: Forest): TensorMap {
  const n = f.feature.length;
  return {
    shapeInfo: { shape: [2], data: Int32Array.of(f.nClasses, f.cols) },
    offsets: { shape: [f.offsets.length], data: f.offsets.slice() },
    feature: { shape: [n], data: f.feature.slice() },
    threshold: { shape: [n], data: f.threshold.slice() },
    left: { shape: [n], data: f.left.slice() },
    right: { shape: [n], data: f.right.slice() },
    value: { shape: [n, f.nClasses], data: f.value.slice() },
  };
}

export function tensorsToForest(map: TensorMap, who = 'forest'): Forest {
  const info = need(map, 'shapeInfo', who).data;
  const f: Forest = {
    nClasses: info[0] as number,
    cols: info[1] as number,
    offsets: Int32Array.from(need(map, 'offsets', who).data),
    feature: Int32Array.from(need(map, 'feature', who).data),
    threshold: Float64Array.from(need(map, 'threshold', who).data),
    left: Int32Array.from(need(map, 'left', who).data),
    right: Int32Array.from(need(map, 'right', who).data),
    value: Float64Array.from(need(map, 'value', who).data),
  };
  checkForest(f, who);
  return f;
}

/** Structural checks so a malformed forest cannot loop or read out of bounds. */
export function checkForest(f: Forest, who: string): void {
  const n = f.feature.length;
  const bad = (what: string): never => {
    throw new VflareError('PROTOCOL_ERROR', `${who}: malformed forest (${what})`);
  };
  if (!(f.nClasses >= 2) || !(f.cols >= 1)) bad('class or feature count');
  if (f.threshold.length !== n || f.left.length !== n || f.right.length !== n) bad('array lengths');
  if (f.value.length !== n * f.nClasses) bad('leaf values');
  if (f.offsets[0] !== 0 || f.offsets[f.offsets.length - 1] !== n || f.offsets.length < 2)
    bad('offsets');
  for (let t = 0; t + 1 < f.offsets.length; t++) {
    const base = f.offsets[t] as number;
    const end = f.offsets[t + 1] as number;
    if (end <= base) bad('empty tree');
    for (let i = base; i < end; i++) {
      const feat = f.feature[i] as number;
      if (feat < 0) continue;
      if (feat >= f.cols) bad('feature index');
      // Children must come after their parent inside the same tree: no cycles, no escape.
      for (const c of [f.left[i] as number, f.right[i] as number]) {
        if (c + base <= i || c + base >= end) bad('child index');
      }
    }
  }
}

function refuseRound(round: number, numRounds: number | undefined): void {
  if (round >= 2 || (numRounds !== undefined && numRounds > 2)) {
    throw new VflareError(
      'PROTOCOL_ERROR',
      `federated random forest grows its trees once (round 0; round 1 only validates); round ` +
        `${round} of ${numRounds ?? '?'} refused: set numRounds to 1 or 2`,
      { context: { round } },
    );
  }
}

export class ForestLearner extends TabularLearner<ForestParams> {
  readonly algorithm = FOREST_ALGORITHM;
  #local: Forest | undefined;

  protected override checkData(data: SiteData, site: string): void {
    // Checked here so a misconfigured class count stops the site before round 0, not mid-job.
    checkClassLabels(data.train.y, this.params.nClasses, `site ${site} training`);
    if (data.valid !== undefined) {
      checkClassLabels(data.valid.y, this.params.nClasses, `site ${site} validation`);
    }
  }

  train(round: number, _global: TensorMap, numRounds: number | undefined): TrainOutput {
    refuseRound(round, numRounds);
    const { train } = this.data;
    if (this.#local !== undefined)
      return { weights: forestToTensors(this.#local), numSteps: train.rows };
    const p = this.params;
    const forest = growForest(
      train,
      {
        nTrees: p.nTrees,
        nClasses: p.nClasses,
        subsample: p.subsample,
        maxDepth: p.maxDepth,
        minSamplesLeaf: p.minSamplesLeaf,
        bins: p.bins,
        ...(p.featureFraction === undefined ? {} : { featureFraction: p.featureFraction }),
      },
      this.seed,
    );
    this.#local = forest;
    return { weights: forestToTensors(forest), numSteps: train.rows };
  }

  validate(_round: number, global: TensorMap): Record<string, number> {
    const { valid } = this.data;
    if (valid === undefined) return {};
    return forestMetrics(tensorsToForest(global), valid.x, valid.y);
  }
}

export function forestMetrics(f: Forest, x: ArrayLike<number>, y: Float64Array) {
  const proba = forestProba(f, x);
  const scores = f.nClasses === 2 ? proba.filter((_, i) => i % 2 === 1) : undefined;
  return { ...classifierMetrics(y, forestPredict(f, x), scores), trees: treeCount(f) };
}

/** Server side: merges the round's sub-forests, ordered by site name (not arrival). */
export class ForestAssembler implements Assembler<'weights', Forest> {
  readonly expectedKind = 'weights' as const;
  #global: TensorMap | undefined;

  collect(payload: { weights: TensorMap }, site: string): Forest | string {
    const bad = nonFiniteReason(payload.weights, site);
    if (bad !== undefined) return bad;
    try {
      return tensorsToForest(payload.weights, `forest of ${site}`);
    } catch (err) {
      return err instanceof VflareError ? err.message : 'malformed forest';
    }
  }

  assemble(items: ReadonlyMap<string, Forest>, round: number) {
    refuseRound(round, undefined);
    if (round === 0 || this.#global === undefined) {
      this.#global = forestToTensors(mergeForests(bySite(items)));
    }
    return {
      kind: 'weights' as const,
      weights: this.#global,
      meta: { processedAlgorithm: FOREST_ALGORITHM },
    };
  }
}

/** Forest labels are class indices 0 … nClasses − 1; names the first row that is not one. */
export function checkClassLabels(y: ArrayLike<number>, nClasses: number, what: string): void {
  for (let r = 0; r < y.length; r++) {
    const c = y[r] as number;
    if (!Number.isInteger(c) || c < 0 || c >= nClasses) {
      throw new VflareError(
        'INVALID_DATA',
        `forest: ${what} row ${r + 1} has a label outside the classes 0 … ${nClasses - 1}; ` +
          'set nClasses to the number of classes (labels must be 0, 1, …) or pick two ' +
          'classes with data.classes',
      );
    }
  }
}
