import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TensorMap } from '../../../src/runtime/core/index.js';
import { CrossSiteModelEval } from '../../../src/runtime/workflows/cross-site-eval.js';
import { type FakeClient, FakeController } from '../fakes/controller.js';

/** Site whose local model is [own]; validating model [m] yields score = m × factor. */
const site =
  (own: number, factor: number): FakeClient =>
  (task) => {
    if (task.headers.taskName === 'submit_model') {
      return {
        payload: {
          kind: 'weights',
          weights: { w: { shape: [1], data: Float64Array.of(own) } },
          meta: {},
        },
      };
    }
    const w = (task.payload as { weights: TensorMap }).weights['w']!.data[0]!;
    return { payload: { kind: 'metrics', metrics: { score: w * factor }, meta: {} } };
  };

describe('CrossSiteModelEval', () => {
  it('validates each site model and the server model at each site, writes the matrix', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cse-'));
    const api = new FakeController({
      clients: { 'site-1': site(1, 10), 'site-2': site(2, 100) },
      workspace: dir,
    });
    api.jobState.set('globalModel', { w: { shape: [1], data: Float64Array.of(5) } });
    const wf = new CrossSiteModelEval();
    await wf.run(api);
    const expected = {
      server: { 'site-1': { score: 50 }, 'site-2': { score: 500 } },
      'site-1': { 'site-1': { score: 10 }, 'site-2': { score: 100 } },
      'site-2': { 'site-1': { score: 20 }, 'site-2': { score: 200 } },
    };
    expect(wf.matrix?.results).toEqual(expected);
    expect(api.jobState.get('crossSiteMatrix')?.models).toEqual(['server', 'site-1', 'site-2']);
    const file = JSON.parse(readFileSync(join(dir, 'cross_site_val.json'), 'utf8'));
    expect(file.results).toEqual(expected);
    expect(api.metrics['cse.site-2.site-1.score']).toBe(20);
  });

  it('records a failed validation as an empty cell instead of failing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cse-'));
    const failing: FakeClient = (task) =>
      task.headers.taskName === 'validate'
        ? { rc: 'execution-exception', payload: null }
        : site(3, 1)(task, new AbortController().signal);
    const api = new FakeController({ clients: { a: site(1, 1), b: failing }, workspace: dir });
    const wf = new CrossSiteModelEval();
    await wf.run(api);
    expect(wf.matrix?.results['a']).toEqual({ a: { score: 1 }, b: null });
    expect(wf.matrix?.models).toEqual(['a', 'b']);
  });
});
