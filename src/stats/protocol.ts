/**
 * The two tasks of federated statistics and their payloads (`statistics` kind):
 *
 * 1. `stats_summary` (no data) → per feature a 5-vector [count, mean, M2, min, max];
 * 2. `stats_histogram` (per feature the global bin edges) → per feature the bin counts.
 */
import type { StatisticsPayload, TensorMap } from '../runtime/core/messages.js';
import type { FeatureSummary } from './math.js';

export const SUMMARY_TASK = 'stats_summary';
export const HISTOGRAM_TASK = 'stats_histogram';

export function summaryPayload(summaries: ReadonlyMap<string, FeatureSummary>): StatisticsPayload {
  const stats: Record<string, { shape: number[]; data: Float64Array }> = {};
  for (const [name, s] of summaries) {
    stats[name] = { shape: [5], data: Float64Array.of(s.count, s.mean, s.m2, s.min, s.max) };
  }
  return { kind: 'statistics', stats, meta: {} };
}

/** Reads a summary payload back; returns a reason string when it is malformed. */
export function readSummaries(stats: TensorMap): Map<string, FeatureSummary> | string {
  const out = new Map<string, FeatureSummary>();
  for (const [name, t] of Object.entries(stats)) {
    if (t.data.length !== 5) return `feature "${name}": expected 5 values, got ${t.data.length}`;
    const [count, mean, m2, min, max] = Array.from(t.data);
    if (!Number.isInteger(count) || (count as number) < 0) return `feature "${name}": bad count`;
    if ((count as number) > 0 && ![mean, m2, min, max].every((v) => Number.isFinite(v))) {
      return `feature "${name}": non-finite statistics`;
    }
    out.set(name, {
      count: count as number,
      mean: mean as number,
      m2: m2 as number,
      min: min as number,
      max: max as number,
    });
  }
  return out;
}
