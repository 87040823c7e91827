import { cpSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { toPredictJob } from '../../src/cli/commands/splitnn.js';
import { defaultRegistry } from '../../src/components.js';
import { simulateJob } from '../../src/runtime/jobs/simulate.js';

const registry = () => defaultRegistry();

describe('the vertical breast cancer flagship', () => {
  it('aligns with PSI, trains three parties to ≥ 0.93 accuracy, then predicts from the saved halves', async () => {
    const workspace = mkdtempSync(join(tmpdir(), 'vflare-flagship-'));
    const trained = await simulateJob({
      jobDir: 'examples/vertical-breast-cancer',
      registry: registry(),
      workspace,
    });
    expect(trained.summary.error).toBeUndefined();
    const m = trained.summary.server.metrics;
    expect(m['intersection']).toBe(416);
    expect(m['validation_rows']).toBe(83);
    expect(m['accuracy']).toBeGreaterThanOrEqual(0.93);
    expect(m['auc']).toBeGreaterThanOrEqual(0.95);

    // Vertical inference as `vflare splitnn-predict` runs it, on the same job and records.
    const out = mkdtempSync(join(tmpdir(), 'vflare-flagship-predict-'));
    const copy = join(out, 'job');
    cpSync('examples/vertical-breast-cancer', copy, { recursive: true });
    expect(toPredictJob(copy, workspace, new Map())).toBe('site-3');
    const predicted = await simulateJob({ jobDir: copy, registry: registry(), workspace: out });
    expect(predicted.summary.error).toBeUndefined();
    expect(predicted.summary.sites['site-3']?.metrics['predicted']).toBe(416);
    const rows = readFileSync(join(out, 'site-3', 'splitnn', 'predictions.csv'), 'utf8')
      .trim()
      .split('\n');
    expect(rows).toHaveLength(417);
    const truth = new Map(
      readFileSync('examples/vertical-breast-cancer/data/site-3.csv', 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(',') as [string, string]),
    );
    const right = rows.slice(1).filter((r) => {
      const [id, cls] = r.split(',');
      return truth.get(id as string) === cls;
    });
    expect(right.length / 416).toBeGreaterThan(0.93);
  });
});
