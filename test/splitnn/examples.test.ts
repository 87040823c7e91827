import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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
    // The saved halves live outside the job copy: refused unless the operator trusts the folder.
    const refused = await simulateJob({
      jobDir: copy,
      registry: registry(),
      workspace: join(out, 'untrusted'),
    });
    expect(refused.summary.error).toMatch(/bottom-half\.json" leaves the data root of site site-1/);
    const predicted = await simulateJob({
      jobDir: copy,
      registry: registry(),
      workspace: out,
      trustedDataDirs: [workspace],
    });
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

    // New records, a few at a time: scaled with the training statistics, so each record gets
    // the same prediction as in the full run above.
    const dir = mkdtempSync(join(tmpdir(), 'vflare-flagship-new-'));
    const pick = rows.slice(1, 13).map((r) => r.split(',')[0] as string);
    const subset = (site: string, keep: (id: string) => boolean) => {
      const [head, ...body] = readFileSync(
        `examples/vertical-breast-cancer/data/${site}.csv`,
        'utf8',
      )
        .trim()
        .split('\n');
      const path = join(dir, `${site}.csv`);
      writeFileSync(
        path,
        `${[head, ...body.filter((l) => keep(l.split(',')[0] as string))].join('\n')}\n`,
      );
      return path;
    };
    const newSites = new Map([
      ['site-1', subset('site-1', (id) => pick.includes(id))],
      ['site-2', subset('site-2', (id) => pick.slice(0, 10).includes(id))],
      ['site-3', subset('site-3', (id) => pick.includes(id))],
    ]);
    const out2 = mkdtempSync(join(tmpdir(), 'vflare-flagship-predict2-'));
    cpSync('examples/vertical-breast-cancer', join(out2, 'job'), { recursive: true });
    toPredictJob(join(out2, 'job'), workspace, newSites);
    const again = await simulateJob({
      jobDir: join(out2, 'job'),
      registry: registry(),
      workspace: out2,
      trustedDataDirs: [workspace, ...newSites.values()],
    });
    expect(again.summary.error).toBeUndefined();
    const few = readFileSync(join(out2, 'site-3', 'splitnn', 'predictions.csv'), 'utf8')
      .trim()
      .split('\n');
    expect(few).toHaveLength(11);
    const full = new Map(rows.slice(1).map((r) => [r.split(',')[0], r]));
    for (const r of few.slice(1)) expect(r).toBe(full.get(r.split(',')[0]));
  });
});
