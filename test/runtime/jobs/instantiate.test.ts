import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultRegistry } from '../../../src/components.js';
import { type ComponentEnv, silentLogger } from '../../../src/runtime/core/index.js';
import {
  ComponentRegistry,
  instantiateClientApp,
  instantiateServerApp,
  JobBuilder,
  loadJob,
  type PartyEnv,
  planDeployment,
  readSiteConfig,
  sitePolicy,
  use,
  writeJob,
} from '../../../src/runtime/jobs/index.js';
import {
  ScatterAndGather,
  scatterAndGather,
  weightedFedAvg,
} from '../../../src/runtime/workflows/index.js';
import { federatedStatistics, statsExecutor } from '../../../src/stats/components.js';
import { clientCfg, jobFolder, meta, serverCfg } from './helpers.js';

const registry = defaultRegistry();

function party(site: string, dir: string, reg = registry): PartyEnv {
  return {
    site,
    jobDir: dir,
    workspace: join(dir, 'ws', site),
    dataRoot: dir,
    seed: 0,
    logger: silentLogger,
    registry: reg,
  };
}

describe('builder', () => {
  it('produces the same job as the hello-stats folder', async () => {
    const built = new JobBuilder('hello-stats')
      .minClients(3)
      .app('app', ['server', 'site-1', 'site-2', 'site-3'], {
        server: { workflows: [use(federatedStatistics, { bins: 10 }, 'stats')] },
        client: {
          executors: [
            {
              tasks: ['stats_summary', 'stats_histogram'],
              executor: use(
                statsExecutor,
                { data: 'data/{site}.csv', exclude: ['target'], minCount: 10 },
                'stats',
              ),
            },
          ],
        },
      })
      .build(registry);
    const { job } = await loadJob('examples/hello-stats', registry);
    expect(built).toEqual(job);
  });

  it('round-trips through writeJob and loadJob', async () => {
    const built = new JobBuilder('fedavg')
      .minClients(2)
      .resources('site-1', { gpu: 1 })
      .app('app', ['server', 'site-1', 'site-2'], {
        server: {
          components: [use(weightedFedAvg, { expectedKind: 'weights', excludeVars: '^bn' }, 'agg')],
          workflows: [use(scatterAndGather, { aggregator: 'agg', numRounds: 3 })],
        },
        client: clientCfg,
      })
      .build(registry);
    const dir = mkdtempSync(join(tmpdir(), 'built-'));
    await writeJob(built, dir);
    expect((await loadJob(dir, registry)).job).toEqual(built);
  });

  it('validates like the folder loader', () => {
    expect(() =>
      new JobBuilder('bad')
        .minClients(4)
        .app('app', ['site-1'], { client: clientCfg })
        .build(registry),
    ).toThrow(/no app is deployed to the server[\s\S]*minClients \(4\) is above/);
  });

  it('checks the args of lazily loaded types: buildAsync loads them, build refuses', async () => {
    const lazy = () =>
      new ComponentRegistry([scatterAndGather, weightedFedAvg] as never[], {
        lazy: [
          {
            prefix: 'stats',
            load: async () => (await import('../../../src/stats/components.js')).components,
          },
        ],
      });
    const builder = (minCount: unknown) =>
      new JobBuilder('j').app('app', ['server', 'site-1'], {
        server: serverCfg,
        client: {
          executors: [
            { executor: { type: 'stats.StatsExecutor', args: { data: 'd.csv', minCount } } },
          ],
        },
      });
    expect(() => builder(5).build(lazy())).toThrow(
      /"stats\.StatsExecutor" belongs to a module that is not loaded yet; use JobBuilder/,
    );
    const job = await builder(5).buildAsync(lazy());
    expect(job.apps['app']?.client?.executors[0]?.executor.args).toMatchObject({ minCount: 5 });
    await expect(builder('five').buildAsync(lazy())).rejects.toThrow(
      /\(stats\.StatsExecutor\) args minCount/,
    );
  });
});

describe('instantiation', () => {
  it('creates the server workflows with their referenced components', async () => {
    const dir = jobFolder({
      'meta.json': meta(),
      'app/config/server.json': serverCfg,
      'app/config/client.json': clientCfg,
    });
    const { job } = await loadJob(dir, registry);
    const app = await instantiateServerApp(job, 'app', party('server', dir));
    expect(app.workflows).toHaveLength(1);
    expect(app.workflows[0]).toBeInstanceOf(ScatterAndGather);
  });

  it('applies per-site overrides and {site}, resolving data against the data root', async () => {
    const dir = jobFolder({
      'meta.json': meta(),
      'app/config/server.json': serverCfg,
      'app/config/client.json': {
        ...clientCfg,
        sites: { 'site-2': { stats: { data: 'other/{site}-{job}.csv' } } },
      },
    });
    const seen: string[] = [];
    const reg = new ComponentRegistry([
      {
        ...statsExecutor,
        create: (args: { data: string }, env: ComponentEnv) => {
          seen.push(resolve(env.dataRoot, args.data));
          return statsExecutor.create(args as never, env);
        },
      } as never,
    ]);
    const { job } = await loadJob(dir);
    for (const site of ['site-1', 'site-2']) {
      const app = await instantiateClientApp(job, 'app', party(site, dir, reg));
      expect(app.executors[0]?.tasks).toEqual(['stats_summary']);
    }
    expect(seen).toEqual([join(dir, 'data/site-1.csv'), join(dir, 'other/site-2-j.csv')]);
  });

  it("keeps data paths inside the site's data root and outputs inside the workspace", async () => {
    for (const data of ['../secrets.csv', '/etc/passwd', 'data/../../x.csv']) {
      const dir = jobFolder({
        'meta.json': meta(),
        'app/config/server.json': serverCfg,
        'app/config/client.json': {
          executors: [{ executor: { type: 'stats.StatsExecutor', args: { data } } }],
        },
      });
      const { job } = await loadJob(dir, registry);
      await expect(instantiateClientApp(job, 'app', party('site-1', dir))).rejects.toThrow(
        `data path "${data}" leaves the data root of site site-1`,
      );
    }
    const dir = jobFolder({
      'meta.json': meta(),
      'app/config/server.json': {
        workflows: [{ type: 'stats.FederatedStatistics', args: { fileName: '../../x.json' } }],
      },
      'app/config/client.json': clientCfg,
    });
    await expect(loadJob(dir, registry)).rejects.toThrow(
      /fileName: expected a path inside the workspace/,
    );
  });

  it('refuses app names that are not plain folder names', async () => {
    const dir = jobFolder({ 'meta.json': meta({ deployMap: { '../up': ['server', 'site-1'] } }) });
    await expect(loadJob(dir, registry)).rejects.toThrow(/deployMap.*an app name uses letters/);
  });

  it('refuses an executor entry for a task the executor does not answer', async () => {
    const dir = jobFolder({
      'meta.json': meta(),
      'app/config/server.json': serverCfg,
      'app/config/client.json': {
        executors: [
          { tasks: ['train'], executor: { type: 'stats.StatsExecutor', args: { data: 'x.csv' } } },
        ],
      },
    });
    const { job } = await loadJob(dir, registry);
    await expect(instantiateClientApp(job, 'app', party('site-1', dir))).rejects.toThrow(
      /does not answer task\(s\) train; it answers stats_summary, stats_histogram/,
    );
  });

  it('reports a reference to a component of the wrong kind', async () => {
    const dir = jobFolder({
      'meta.json': meta(),
      'app/config/server.json': {
        components: [{ id: 'p', type: 'FileModelPersistor', args: {} }],
        workflows: [{ type: 'ScatterAndGather', args: { aggregator: 'p' } }],
      },
      'app/config/client.json': clientCfg,
    });
    const { job } = await loadJob(dir, registry);
    await expect(instantiateServerApp(job, 'app', party('server', dir))).rejects.toThrow(
      'component "p" is not an aggregator (it needs startRound, accept, aggregate)',
    );
  });
});

describe('component registry', () => {
  it('imports package#export types from a package installed at the site', async () => {
    const dir = jobFolder({
      'node_modules/site-filters/package.json': {
        name: 'site-filters',
        type: 'module',
        main: 'index.js',
      },
      'node_modules/site-filters/index.js': `
        export const clip = {
          type: 'clip',
          args: { safeParse: (v) => ({ success: true, data: v }) },
          create: (args) => ({ name: 'clip', process: (p) => p, limit: args.limit }),
        };`,
    });
    const reg = new ComponentRegistry([], { resolveFrom: dir });
    const def = await reg.resolve('site-filters#clip');
    expect(def.type).toBe('clip');
    await expect(reg.resolve('site-filters#nope')).rejects.toThrow(/has no export "nope"/);
    await expect(reg.resolve('not-installed-pkg#x')).rejects.toThrow(
      /is not installed at this site/,
    );
    await expect(reg.resolve('./evil.js#x')).rejects.toThrow(/file paths and URLs are refused/);
    await expect(reg.resolve('Scatterandgather')).rejects.toThrow(/unknown component type/);
    expect(() => reg.register(def)).not.toThrow();
    expect(() => reg.register(def)).toThrow(/registered twice/);
  });
});

describe('deployment and site configs', () => {
  it('plans @ALL with the given sites or site-1…N, and checks --sites', async () => {
    const { job } = await loadJob(
      jobFolder({
        'meta.json': meta({ deployMap: { app: ['@ALL'] }, minClients: 3 }),
        'app/config/server.json': serverCfg,
        'app/config/client.json': clientCfg,
      }),
      registry,
    );
    expect([...planDeployment(job).clients.keys()]).toEqual(['site-1', 'site-2', 'site-3']);
    expect([...planDeployment(job, ['a', 'b', 'c']).clients.keys()]).toEqual(['a', 'b', 'c']);
    expect(() => planDeployment(job, ['a'])).toThrow(/needs minClients = 3, only 1 site/);
    const { job: named } = await loadJob(
      jobFolder({
        'meta.json': meta(),
        'app/config/server.json': serverCfg,
        'app/config/client.json': clientCfg,
      }),
      registry,
    );
    expect([...planDeployment(named, ['site-2']).clients]).toEqual([['site-2', 'app']]);
    expect(() => planDeployment(named, ['site-3'])).toThrow(/site-3 are not deployed/);
    const { job: mandatory } = await loadJob(
      jobFolder({
        'meta.json': meta({ mandatoryClients: ['site-2'] }),
        'app/config/server.json': serverCfg,
        'app/config/client.json': clientCfg,
      }),
      registry,
    );
    expect([...planDeployment(mandatory, ['site-2']).clients.keys()]).toEqual(['site-2']);
    expect(() => planDeployment(mandatory, ['site-1'])).toThrow(
      /mandatory client\(s\) site-2 not selected/,
    );
  });

  it('reads a site config: data root relative to the file, privacy filters created', async () => {
    const dir = jobFolder({
      'sites/site-1.json': {
        dataRoot: '../data1',
        privacy: {
          taskResult: [
            { tasks: ['train'], filters: [{ type: 'site-filters#clip', args: { limit: 2 } }] },
          ],
        },
      },
      'sites/node_modules/site-filters/package.json': {
        name: 'site-filters',
        type: 'module',
        main: 'i.js',
      },
      'sites/node_modules/site-filters/i.js':
        'export const clip = { type: "clip", ' +
        'args: { safeParse: (v) => ({ success: true, data: v }) }, ' +
        'create: () => ({ name: "clip", process: (p) => p }) };',
      'sites/bad.json': { dataRoot: 3 },
    });
    const cfg = await readSiteConfig(join(dir, 'sites'), 'site-1');
    expect(cfg.dataRoot).toBe(join(dir, 'data1'));
    const reg = new ComponentRegistry([], { resolveFrom: join(dir, 'sites') });
    const policy = await sitePolicy(cfg, party('site-1', dir, reg));
    expect(policy.filters.taskResult).toHaveLength(1);
    expect(policy.filters.taskResult[0]?.tasks).toEqual(['train']);
    expect((await readSiteConfig(join(dir, 'sites'), 'site-9')).privacy).toEqual({
      taskData: [],
      taskResult: [],
    });
    await expect(readSiteConfig(join(dir, 'sites'), 'bad')).rejects.toThrow(
      /dataRoot: Invalid input/,
    );
  });
});

describe('lazy component modules', () => {
  it('loads a module on first use of one of its types, once', async () => {
    let loads = 0;
    const reg = new ComponentRegistry([], {
      lazy: [
        {
          prefix: 'stats',
          load: async () => {
            loads++;
            return (await import('../../../src/stats/components.js')).components;
          },
        },
      ],
    });
    expect(reg.isPending('stats.StatsExecutor')).toBe(true);
    expect(reg.get('stats.StatsExecutor')).toBeUndefined();
    await Promise.all([
      reg.resolve('stats.StatsExecutor'),
      reg.ensure(['stats.FederatedStatistics']),
    ]);
    expect(reg.get('stats.FederatedStatistics')?.type).toBe('stats.FederatedStatistics');
    expect(reg.isPending('stats.StatsExecutor')).toBe(false);
    expect(loads).toBe(1);
    const dir = jobFolder({
      'meta.json': meta(),
      'app/config/server.json': serverCfg,
      'app/config/client.json': clientCfg,
    });
    const lazyOnly = new ComponentRegistry([scatterAndGather, weightedFedAvg] as never[], {
      lazy: [
        {
          prefix: 'stats',
          load: async () => (await import('../../../src/stats/components.js')).components,
        },
      ],
    });
    const { job } = await loadJob(dir, lazyOnly);
    expect(lazyOnly.isPending('stats.StatsExecutor')).toBe(false);
    expect(job.apps['app']?.client?.executors[0]?.executor.type).toBe('stats.StatsExecutor');
  });
});
