import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultRegistry } from '../../../src/components.js';
import { defaultWorkspace, simulateJob } from '../../../src/runtime/jobs/index.js';
import { jobFolder } from './helpers.js';

describe('simulateJob', () => {
  it('applies a site config: its data root and a privacy filter the job cannot remove', async () => {
    // site-2 keeps its data elsewhere, and its own policy blocks every result it would send.
    const dir = jobFolder({
      'sites/site-2.json': {
        dataRoot: '../elsewhere',
        privacy: { taskResult: [{ filters: [{ type: 'site-policy#blockAll', args: {} }] }] },
      },
      'sites/node_modules/site-policy/package.json': {
        name: 'site-policy',
        type: 'module',
        main: 'i.js',
      },
      'sites/node_modules/site-policy/i.js': `
        export const blockAll = {
          type: 'blockAll',
          args: { safeParse: (v) => ({ success: true, data: v }) },
          create: () => ({ name: 'block-all', process() { throw new Error('blocked by site policy'); } }),
        };`,
    });
    cpSync('examples/hello-stats/data/site-2.csv', join(dir, 'elsewhere/data/site-2.csv'), {
      recursive: true,
    });
    const registry = defaultRegistry({ resolveFrom: join(dir, 'sites') });
    const { summary, workspace } = await simulateJob({
      jobDir: 'examples/hello-stats',
      registry,
      siteConfigDir: join(dir, 'sites'),
      workspace: mkdtempSync(join(tmpdir(), 'sim-policy-')),
    });
    expect(workspace.startsWith(tmpdir())).toBe(true);
    expect(summary.status).toBe('execution-exception');
    expect(summary.error).toMatch(/site site-2 unusable: it answered task-result-filter-error/);

    // Without the policy file, the same data root override works and the job completes.
    const plain = jobFolder({ 'sites/site-2.json': { dataRoot: '../elsewhere' } });
    cpSync('examples/hello-stats/data/site-2.csv', join(plain, 'elsewhere/data/site-2.csv'), {
      recursive: true,
    });
    const ok = await simulateJob({
      jobDir: 'examples/hello-stats',
      registry: defaultRegistry(),
      siteConfigDir: join(plain, 'sites'),
      workspace: mkdtempSync(join(tmpdir(), 'sim-root-')),
    });
    expect(ok.summary.status).toBe('completed');
    expect(ok.summary.sites['site-2']?.metrics['rows']).toBe(190);
  });

  it('names the default workspace after the job and the time', () => {
    const ws = defaultWorkspace('hello', new Date('2026-12-03T14:05:09Z'));
    expect(ws).toBe(resolve('workspaces', 'hello-20261203-140509'));
  });

  it('reports progress per round of the server workflows', async () => {
    const seen: [number, number, string][] = [];
    await simulateJob({
      jobDir: 'examples/hello-stats',
      registry: defaultRegistry(),
      workspace: mkdtempSync(join(tmpdir(), 'sim-progress-')),
      onProgress: (done, total, wf) => seen.push([done, total, wf]),
    });
    expect(seen).toEqual([
      [0, 1, 'FederatedStatistics'],
      [1, 1, 'FederatedStatistics'],
    ]);
  });
});
