import { describe, expect, it } from 'vitest';
import { defaultRegistry } from '../../../src/components.js';
import { JobValidationError } from '../../../src/runtime/core/index.js';
import { loadJob } from '../../../src/runtime/jobs/index.js';
import { clientCfg, jobFolder, meta, serverCfg } from './helpers.js';

const registry = defaultRegistry();

async function problemsOf(files: Record<string, unknown>): Promise<readonly string[]> {
  try {
    await loadJob(jobFolder(files), registry);
  } catch (err) {
    expect(err).toBeInstanceOf(JobValidationError);
    return (err as JobValidationError).problems;
  }
  throw new Error('the job was accepted');
}

const apps = { 'app/config/server.json': serverCfg, 'app/config/client.json': clientCfg };

describe('loadJob', () => {
  it('loads a valid job with defaults filled in', async () => {
    const { job } = await loadJob(jobFolder({ 'meta.json': meta(), ...apps }), registry);
    expect(job.meta).toEqual({
      name: 'j',
      deployMap: { app: ['server', 'site-1', 'site-2'] },
      minClients: 1,
      mandatoryClients: [],
      resourceSpec: {},
    });
    expect(job.apps['app']?.client?.sites).toEqual({});
    expect(job.apps['app']?.server?.filters).toEqual({ taskData: [], taskResult: [] });
  });

  it('rejects a deploy map without the server', async () => {
    expect(
      await problemsOf({ 'meta.json': meta({ deployMap: { app: ['site-1'] } }), ...apps }),
    ).toEqual(['meta.json deployMap: no app is deployed to the server (add "server" to one app)']);
  });

  it('rejects @ALL mixed with site names', async () => {
    expect(
      await problemsOf({ 'meta.json': meta({ deployMap: { app: ['@ALL', 'site-1'] } }), ...apps }),
    ).toEqual([
      'meta.json deployMap.app: "@ALL" must be alone, it already means the server and every client',
    ]);
  });

  it('rejects one site in two apps', async () => {
    const problems = await problemsOf({
      'meta.json': meta({ deployMap: { app: ['server', 'site-1'], other: ['site-1'] } }),
      ...apps,
      'other/config/client.json': clientCfg,
    });
    expect(problems).toEqual([
      'meta.json deployMap: site "site-1" is in two apps ("app" and "other")',
    ]);
  });

  it('rejects minClients above the number of deployed clients', async () => {
    expect(await problemsOf({ 'meta.json': meta({ minClients: 3 }), ...apps })).toEqual([
      'meta.json minClients (3) is above the number of deployed clients (2)',
    ]);
  });

  it('rejects a client app without a client config', async () => {
    expect(await problemsOf({ 'meta.json': meta(), 'app/config/server.json': serverCfg })).toEqual([
      'app "app" is deployed to clients but has no config/client.json',
    ]);
  });

  it('reports every problem at once', async () => {
    const problems = await problemsOf({
      'meta.json': meta({
        deployMap: { app: ['site-1'], b: ['site-1', '@ALL'] },
        minClients: 5,
        mandatoryClients: ['site-7'],
        extra: true,
      }),
    });
    expect(problems).toEqual([
      'meta.json: Unrecognized key: "extra"',
      'meta.json deployMap.b: "@ALL" must be alone, it already means the server and every client',
      'meta.json deployMap: site "site-1" is in two apps ("app" and "b")',
      'meta.json deployMap: an app deployed to "@ALL" must be the only app',
      'app "app" is deployed to clients but has no config/client.json',
      'app "b" is deployed to the server but has no config/server.json',
      'app "b" is deployed to clients but has no config/client.json',
    ]);
    const many = await problemsOf({
      'meta.json': meta({
        deployMap: { app: ['site-1'], b: ['site-1'] },
        minClients: 5,
        mandatoryClients: ['site-7'],
      }),
      'app/config/client.json': { executors: [{ executor: { type: 'nope', args: {} } }] },
      'b/config/client.json': { executors: [] },
    });
    expect(many).toEqual([
      'app "b" client.json executors: Too small: expected array to have >=1 items',
      'meta.json deployMap: site "site-1" is in two apps ("app" and "b")',
      'meta.json deployMap: no app is deployed to the server (add "server" to one app)',
      'meta.json minClients (5) is above the number of deployed clients (1)',
      'meta.json mandatoryClients: "site-7" is not deployed',
      'app "app" client.json executors[0].executor: unknown component type "nope"',
    ]);
  });

  it('reports a missing, empty or malformed meta.json clearly', async () => {
    expect(await problemsOf({ 'app/config/server.json': serverCfg })).toEqual([
      'meta.json: missing (every job folder needs one)',
    ]);
    expect(await problemsOf({ 'meta.json': '' })).toEqual(['meta.json: the file is empty']);
    expect((await problemsOf({ 'meta.json': '{"name": ' }))[0]).toMatch(
      /^meta.json: not valid JSON/,
    );
    expect(await problemsOf({ 'meta.json': { deployMap: {} } })).toEqual([
      'meta.json name: Invalid input: expected string, received undefined',
    ]);
  });

  it('checks component args against their schemas, with placeholders allowed', async () => {
    const problems = await problemsOf({
      'meta.json': meta(),
      'app/config/server.json': {
        components: serverCfg.components,
        workflows: [
          { type: 'ScatterAndGather', args: { aggregator: 'agg', numRounds: -1, typo: 1 } },
        ],
      },
      'app/config/client.json': {
        ...clientCfg,
        sites: { 'site-1': { stats: { minCount: 5 } }, 'site-9': {}, 'site-2': { ghost: {} } },
      },
    });
    expect(problems).toEqual([
      'app "app" server.json workflows[0] (ScatterAndGather) args numRounds: ' +
        'Too small: expected number to be >=0',
      'app "app" server.json workflows[0] (ScatterAndGather) args: Unrecognized key: "typo"',
      'app "app" client.json sites.site-9: site is not deployed to app "app"',
      'app "app" client.json sites.site-2.ghost: no component has id "ghost"',
    ]);
  });

  it('refuses package types that name files or URLs when the job is loaded', async () => {
    const problems = await problemsOf({
      'meta.json': meta(),
      'app/config/server.json': serverCfg,
      'app/config/client.json': {
        executors: [
          { tasks: ['a'], executor: { type: './evil.js#x', args: {} } },
          { tasks: ['b'], executor: { type: 'file:/tmp/e.js#x', args: {} } },
        ],
      },
    });
    expect(problems).toHaveLength(2);
    for (const p of problems) expect(p).toMatch(/file paths and URLs are refused/);
  });

  it('refuses a job folder that does not exist', async () => {
    await expect(loadJob('/nonexistent/job', registry)).rejects.toThrow(/does not exist/);
  });
});
