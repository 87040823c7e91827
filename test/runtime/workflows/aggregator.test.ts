import { describe, expect, it } from 'vitest';
import type { Payload, ReturnCode, TaskResult } from '../../../src/runtime/core/index.js';
import { WeightedFedAvgAggregator } from '../../../src/runtime/workflows/aggregator.js';
import {
  type Assembler,
  CollectAndAssembleAggregator,
} from '../../../src/runtime/workflows/assemble.js';

function result(
  site: string,
  payload: Payload | null,
  round = 0,
  rc: ReturnCode = 'ok',
): TaskResult {
  return { headers: { jobId: 'j', taskName: 'train', taskId: 't', round }, site, rc, payload };
}

function diff(values: number[], steps?: number, extra: Record<string, number[]> = {}): Payload {
  const weights = Object.fromEntries(
    Object.entries({ w: values, ...extra }).map(([k, v]) => [
      k,
      { shape: [v.length], data: Float32Array.from(v) },
    ]),
  );
  return {
    kind: 'weight-diff',
    weights,
    meta: steps === undefined ? {} : { numStepsCurrentRound: steps },
  };
}

describe('WeightedFedAvgAggregator', () => {
  it('weighs each site by its aggregation weight times numStepsCurrentRound', () => {
    const agg = new WeightedFedAvgAggregator({ aggregationWeights: { a: 2 } });
    agg.startRound(0);
    expect(agg.accept(result('a', diff([1], 1))).accepted).toBe(true); // weight 2
    expect(agg.accept(result('b', diff([4], 2))).accepted).toBe(true); // weight 2
    const out = agg.aggregate();
    expect(out.payload?.kind).toBe('weight-diff');
    expect(
      (out.payload as { weights: Record<string, { data: Float32Array }> }).weights['w']!.data[0],
    ).toBe(2.5);
    expect(out.contributors).toEqual(['a', 'b']);
  });

  it('rejects a wrong kind, a non-ok code, a stale round and a second contribution', () => {
    const agg = new WeightedFedAvgAggregator();
    agg.startRound(3);
    const metrics: Payload = { kind: 'metrics', metrics: { a: 1 }, meta: {} };
    expect(agg.accept(result('a', metrics, 3))).toEqual({
      accepted: false,
      reason: 'wrong payload kind "metrics" (expected "weight-diff")',
    });
    expect(agg.accept(result('b', null, 3, 'execution-exception'))).toEqual({
      accepted: false,
      reason: 'result code execution-exception',
    });
    expect(agg.accept(result('c', diff([1]), 2))).toEqual({
      accepted: false,
      reason: 'stale contribution for round 2 (current round 3)',
    });
    expect(agg.accept(result('d', diff([1]), 3)).accepted).toBe(true);
    expect(agg.accept(result('d', diff([5]), 3))).toEqual({
      accepted: false,
      reason: 'second contribution in the same round',
    });
    const out = agg.aggregate();
    expect(out.contributors).toEqual(['d']);
    expect([...out.rejected.keys()]).toEqual(['a', 'b', 'c', 'd']);
  });

  it('fails with a clear aggregation error when every site reports zero steps', () => {
    const agg = new WeightedFedAvgAggregator();
    agg.startRound(0);
    agg.accept(result('a', diff([1], 0)));
    agg.accept(result('b', diff([2], 0)));
    expect(() => agg.aggregate()).toThrow(/round 0: total aggregation weight is 0/);
  });

  it('leaves out excluded variables, by regex or by list', () => {
    for (const excludeVars of ['^bias', ['bias']] as const) {
      const agg = new WeightedFedAvgAggregator({ excludeVars });
      agg.startRound(0);
      agg.accept(result('a', diff([1], 1, { bias: [9] })));
      const out = agg.aggregate().payload as { weights: Record<string, unknown> };
      expect(Object.keys(out.weights)).toEqual(['w']);
    }
  });

  it('returns no payload when every contribution was rejected', () => {
    const agg = new WeightedFedAvgAggregator({ expectedKind: 'weights' });
    agg.startRound(0);
    agg.accept(result('a', diff([1])));
    const out = agg.aggregate();
    expect(out.payload).toBeNull();
    expect(out.rejected.get('a')).toMatch(/wrong payload kind/);
  });

  it('refuses to mix processed algorithms', () => {
    const agg = new WeightedFedAvgAggregator({ expectedKind: 'weights' });
    agg.startRound(0);
    const p = (alg: string): Payload => ({
      kind: 'weights',
      weights: { w: { shape: [1], data: Float32Array.of(1) } },
      meta: { processedAlgorithm: alg },
    });
    expect(agg.accept(result('a', p('dp'))).accepted).toBe(true);
    expect(agg.accept(result('b', p('he')))).toMatchObject({ accepted: false });
  });

  it('averages metrics payloads', () => {
    const agg = new WeightedFedAvgAggregator({ expectedKind: 'metrics' });
    agg.startRound(0);
    agg.accept(
      result('a', { kind: 'metrics', metrics: { acc: 1 }, meta: { numStepsCurrentRound: 1 } }),
    );
    agg.accept(
      result('b', { kind: 'metrics', metrics: { acc: 0 }, meta: { numStepsCurrentRound: 3 } }),
    );
    expect(agg.aggregate().payload).toMatchObject({ kind: 'metrics', metrics: { acc: 0.25 } });
  });
});

describe('CollectAndAssembleAggregator', () => {
  // A toy assembler: concatenates every site's `points` rows in arrival order.
  const concat: Assembler<'weights', Float64Array> = {
    expectedKind: 'weights',
    collect(payload) {
      const t = payload.weights['points'];
      if (t === undefined) return 'no "points" variable';
      return Float64Array.from(t.data);
    },
    assemble(items) {
      const all = [...items.values()].flatMap((a) => [...a]);
      return {
        kind: 'weights',
        weights: { points: { shape: [all.length], data: Float64Array.from(all) } },
        meta: {},
      };
    },
  };

  it('hands every accepted item to the assembler in arrival order', () => {
    const agg = new CollectAndAssembleAggregator(concat);
    agg.startRound(1);
    const pts = (v: number[]): Payload => ({
      kind: 'weights',
      weights: { points: { shape: [v.length], data: Float64Array.from(v) } },
      meta: {},
    });
    expect(agg.accept(result('b', pts([3, 4]), 1)).accepted).toBe(true);
    expect(agg.accept(result('a', pts([1]), 1)).accepted).toBe(true);
    expect(agg.accept(result('c', { kind: 'weights', weights: {}, meta: {} }, 1))).toEqual({
      accepted: false,
      reason: 'no "points" variable',
    });
    const out = agg.aggregate();
    expect([
      ...(out.payload as { weights: Record<string, { data: Float64Array }> }).weights['points']!
        .data,
    ]).toEqual([3, 4, 1]);
    expect(out.rejected.get('c')).toBe('no "points" variable');
  });

  it('does not call the assembler when nothing was collected', () => {
    const agg = new CollectAndAssembleAggregator({
      ...concat,
      assemble: () => {
        throw new Error('called');
      },
    });
    agg.startRound(0);
    expect(agg.aggregate().payload).toBeNull();
  });
});
