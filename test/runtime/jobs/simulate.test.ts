import { cpSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defaultRegistry } from '../../../src/components.js';
import { defineComponent, type Executor } from '../../../src/runtime/core/index.js';
import { defaultWorkspace, simulateJob } from '../../../src/runtime/jobs/index.js';
import { jobFolder } from './helpers.js';

/** mulberry32: a small seeded PRNG, enough to make a site's "training" depend on the seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A learner whose update is random noise drawn from the job seed and the site. */
const noisyLearner = defineComponent({
  type: 'test.NoisyLearner',
  args: z.strictObject({}),
  create: (_args, env): Executor => {
    const random = prng(env.seed * 1000 + Number(env.site.replace(/\D/g, '')));
    return {
      tasks: ['train'],
      async execute(task) {
        const w = (task.payload as { weights?: Record<string, { data: Float32Array }> } | null)
          ?.weights?.['w']?.data;
        const data = Float32Array.from({ length: 1000 }, (_, i) => (w?.[i] ?? 0) + random());
        // Uneven step counts make the weighted average depend on every site's share.
        const steps = 1 + Math.floor(random() * 5);
        return {
          kind: 'weights',
          weights: { w: { shape: [1000], data } },
          meta: { numStepsCurrentRound: steps },
        };
      },
    };
  },
});

describe('simulateJob', () => {
  it('applies a site config: its data root, a privacy filter the job cannot remove', async () => {
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
          create: () => ({
            name: 'block-all',
            process() { throw new Error('blocked by site policy'); },
          }),
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

  it('refuses a site-config folder that is missing or configures no party of the run', async () => {
    const run = (siteConfigDir: string) =>
      simulateJob({
        jobDir: 'examples/hello-stats',
        registry: defaultRegistry(),
        siteConfigDir,
        workspace: mkdtempSync(join(tmpdir(), 'sim-cfg-')),
      }).catch((e: Error) => e);
    const none = jobFolder({ 'readme.txt': 'no configs here' });
    expect(((await run(join(none, 'missing'))) as Error).message).toMatch(
      /--site-config: .*missing is not a readable folder/,
    );
    const typo = jobFolder({ 'sites/site1.json': { dataRoot: '.' } });
    expect(((await run(join(typo, 'sites'))) as Error).message).toMatch(
      /holds no config for any party of this run \(server, site-1, site-2, site-3\).*site1\.json/,
    );
  });

  it('refuses a workspace that already holds a run, and an empty workspace path', async () => {
    const workspace = mkdtempSync(join(tmpdir(), 'sim-twice-'));
    const job = { jobDir: 'examples/hello-stats', registry: defaultRegistry(), workspace };
    expect((await simulateJob(job)).summary.status).toBe('completed');
    const before = readFileSync(join(workspace, 'summary.json'), 'utf8');
    await expect(simulateJob(job)).rejects.toThrow(/already holds a run \(summary\.json\)/);
    expect(readFileSync(join(workspace, 'summary.json'), 'utf8')).toBe(before);
    await expect(simulateJob({ ...job, workspace: '' })).rejects.toThrow(/empty path/);
  });

  it('is deterministic: same seed, same model bytes; another seed, another model', async () => {
    const dir = jobFolder({
      'meta.json': { name: 'det', deployMap: { app: ['@ALL'] }, minClients: 3 },
      'app/config/server.json': {
        components: [
          { id: 'agg', type: 'WeightedFedAvgAggregator', args: { expectedKind: 'weights' } },
          { id: 'store', type: 'FileModelPersistor', args: {} },
        ],
        workflows: [
          {
            type: 'ScatterAndGather',
            args: {
              aggregator: 'agg',
              persistor: 'store',
              minClients: 3,
              numRounds: 3,
              allowEmptyGlobalWeights: true,
            },
          },
        ],
      },
      'app/config/client.json': {
        executors: [{ executor: { type: 'test.NoisyLearner', args: {} } }],
      },
    });
    const model = async (seed: number) => {
      const registry = defaultRegistry();
      registry.register(noisyLearner as never);
      const workspace = mkdtempSync(join(tmpdir(), 'sim-seed-'));
      const { summary } = await simulateJob({ jobDir: dir, registry, workspace, seed });
      expect(summary.status).toBe('completed');
      return readFileSync(join(workspace, 'server', 'global_model.vfm'));
    };
    const a = await model(5);
    expect((await model(5)).equals(a)).toBe(true);
    expect((await model(6)).equals(a)).toBe(false);
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
