import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultRegistry } from '../../src/components.js';
import { simulateJob } from '../../src/runtime/jobs/index.js';
import { readNumericCsv } from '../../src/stats/data.js';
import type { StatisticsResult } from '../../src/stats/workflow.js';

const close = (a: number, b: number) =>
  expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(b)));

describe('examples/hello-stats', () => {
  it("aggregates to the pooled statistics of the three sites' data to 1e-9", async () => {
    const workspace = mkdtempSync(join(tmpdir(), 'hello-stats-'));
    const { summary } = await simulateJob({
      jobDir: 'examples/hello-stats',
      registry: defaultRegistry(),
      workspace,
      seed: 1,
    });
    expect(summary.status).toBe('completed');
    const onDisk = JSON.parse(readFileSync(join(workspace, 'summary.json'), 'utf8'));
    expect(onDisk.server.metrics).toEqual(summary.server.metrics);
    const stats = JSON.parse(
      readFileSync(join(workspace, 'server', 'statistics.json'), 'utf8'),
    ) as StatisticsResult;

    const tables = await Promise.all(
      [1, 2, 3].map((i) => readNumericCsv(`examples/hello-stats/data/site-${i}.csv`)),
    );
    const columns = tables[0]!.columns.filter((c) => c !== 'target');
    expect(columns).toHaveLength(30);
    for (const name of columns) {
      const xs = tables.flatMap((t) => [...t.values[t.columns.indexOf(name)]!]);
      const n = xs.length;
      const mean = xs.reduce((a, b) => a + b, 0) / n;
      const std = Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1));
      expect(summary.server.metrics[`${name}.count`]).toBe(569);
      close(summary.server.metrics[`${name}.mean`]!, mean);
      close(summary.server.metrics[`${name}.std`]!, std);
      // Histogram over the pooled data's own equal-width edges.
      const min = Math.min(...xs);
      const max = Math.max(...xs);
      const edges = stats.features[name]!.histogram.edges;
      expect(edges).toHaveLength(11);
      close(edges[0]!, min);
      close(edges[10]!, max);
      const counts = new Array(10).fill(0);
      for (const x of xs) {
        let b = 0;
        while (b < 9 && x >= edges[b + 1]!) b++;
        counts[b]++;
      }
      expect(stats.features[name]!.histogram.counts).toEqual(counts);
    }
    expect(summary.sites['site-3']?.metrics['rows']).toBe(189);
  });
});
