import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** Writes a job folder from `{relative path: JSON value or text}` and returns its path. */
export function jobFolder(files: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'job-'));
  for (const [path, content] of Object.entries(files)) {
    const full = join(dir, path);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, typeof content === 'string' ? content : JSON.stringify(content));
  }
  return dir;
}

export const serverCfg = {
  components: [{ id: 'agg', type: 'WeightedFedAvgAggregator', args: { expectedKind: 'weights' } }],
  workflows: [{ type: 'ScatterAndGather', args: { aggregator: 'agg', numRounds: 2 } }],
};

export const clientCfg = {
  executors: [
    {
      tasks: ['stats_summary'],
      executor: { id: 'stats', type: 'stats.StatsExecutor', args: { data: 'data/{site}.csv' } },
    },
  ],
};

export function meta(extra: Record<string, unknown> = {}) {
  return { name: 'j', deployMap: { app: ['server', 'site-1', 'site-2'] }, minClients: 1, ...extra };
}
