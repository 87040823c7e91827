import { describe, expect, it } from 'vitest';
import {
  type ClientApp,
  type Filter,
  type FilterContext,
  isKind,
  type Payload,
  type SitePolicy,
  type TaskOutcome,
  type TaskResult,
  VflareError,
} from '../../../src/runtime/core/index.js';
import { runSimulation } from '../../../src/runtime/sim/index.js';
import { clientApp, executor, filter, metrics, serverApp, tmpWorkspace } from './helpers.js';

declare module '../../../src/runtime/core/context.js' {
  interface SiteContextEntries {
    'test.learningRate': number;
  }
}

const boom = (name: string): Filter =>
  filter(name, () => {
    throw new VflareError('CONTENT_BLOCKED', 'blocked by policy');
  });
const scale = (name: string, factor: number): Filter =>
  filter(name, (p) =>
    isKind(p, 'metrics') ? { ...p, metrics: { v: p.metrics['v']! * factor } } : p,
  );

interface Setup {
  server?: { taskData?: Filter[]; taskResult?: Filter[] };
  client?: { taskData?: Filter[]; taskResult?: Filter[] };
  policies?: Record<string, SitePolicy>;
  app?: () => ClientApp;
}

/** One broadcast of metrics {v: 1} to site-1, whose executor answers {v: input.v + 1}. */
async function oneRound(setup: Setup): Promise<{ result: TaskResult; ran: boolean }> {
  let outcome: TaskOutcome | undefined;
  let ran = false;
  const bind = (fs: Filter[] | undefined) => (fs ?? []).map((f) => ({ filter: f }));
  await runSimulation({
    job: 'filters',
    sites: ['site-1'],
    workspace: tmpWorkspace(),
    ...(setup.policies ? { sitePolicies: setup.policies } : {}),
    server: serverApp(
      async (api) => {
        outcome = await api.broadcastAndWait({ name: 'train', data: metrics({ v: 1 }) });
      },
      { taskData: bind(setup.server?.taskData), taskResult: bind(setup.server?.taskResult) },
    ),
    clients:
      setup.app ??
      (() =>
        clientApp(
          [
            executor(['train'], (task) => {
              ran = true;
              const v = isKind(task.payload, 'metrics') ? task.payload.metrics['v']! : -1;
              return { kind: 'metrics', metrics: { v: v + 1 }, meta: task.payload?.meta ?? {} };
            }),
          ],
          { taskData: bind(setup.client?.taskData), taskResult: bind(setup.client?.taskResult) },
        )),
  });
  return { result: outcome!.results.get('site-1')!, ran };
}

function v(p: Payload | null): number {
  return isKind(p, 'metrics') ? p.metrics['v']! : Number.NaN;
}

describe('filter failure points', () => {
  it('server data-out failure answers task-data-filter-error for that site, executor not run', async () => {
    const { result, ran } = await oneRound({ server: { taskData: [boom('dp')] } });
    expect(result.rc).toBe('task-data-filter-error');
    expect(result.reason).toMatch(/server data-out filter "dp" failed: CONTENT_BLOCKED/);
    expect(ran).toBe(false);
  });

  it('client data-in failure answers task-data-filter-error, executor not run', async () => {
    const { result, ran } = await oneRound({ client: { taskData: [boom('check')] } });
    expect(result.rc).toBe('task-data-filter-error');
    expect(result.reason).toMatch(/client data-in filter "check"/);
    expect(ran).toBe(false);
  });

  it('client result-out failure answers task-result-filter-error', async () => {
    const { result, ran } = await oneRound({ client: { taskResult: [boom('privacy')] } });
    expect(ran).toBe(true);
    expect(result.rc).toBe('task-result-filter-error');
    expect(result.payload).toBeNull();
  });

  it('server result-in failure replaces the result, which still reaches the workflow', async () => {
    const { result } = await oneRound({ server: { taskResult: [boom('screen')] } });
    expect(result.rc).toBe('task-result-filter-error');
    expect(result.reason).toMatch(/server result-in filter "screen"/);
    expect(result.payload).toBeNull();
  });

  it('a filter returning something that is not a payload is a failure at its point', async () => {
    const bad = filter('bad', () => ({ nope: true }) as unknown as Payload);
    const { result } = await oneRound({ client: { taskResult: [bad] } });
    expect(result.rc).toBe('task-result-filter-error');
    expect(result.reason).toMatch(/"bad" returned .*not a payload/);
  });
});

describe('filter chains', () => {
  it('applies all four points in order and records them in meta.filterHistory', async () => {
    const { result } = await oneRound({
      server: { taskData: [scale('s-out', 10)], taskResult: [scale('s-in', 3)] },
      client: { taskData: [scale('c-in', 2)], taskResult: [scale('c-out', 5)] },
    });
    expect(result.rc).toBe('ok');
    // ((1 × 10 × 2) + 1) × 5 × 3
    expect(v(result.payload)).toBe(315);
    expect(result.payload?.meta.filterHistory).toEqual(['s-out', 'c-in', 'c-out', 's-in']);
  });

  it('runs site policy filters before the job filters, and a job cannot drop them', async () => {
    const policies: Record<string, SitePolicy> = {
      'site-1': { filters: { taskData: [], taskResult: [{ filter: scale('policy', 100) }] } },
    };
    const withJob = await oneRound({ policies, client: { taskResult: [scale('job', 2)] } });
    expect(withJob.result.payload?.meta.filterHistory).toEqual(['policy', 'job']);
    expect(v(withJob.result.payload)).toBe(400);
    // A job with no filters at all still gets the site's.
    const bare = await oneRound({ policies });
    expect(bare.result.payload?.meta.filterHistory).toEqual(['policy']);
    expect(v(bare.result.payload)).toBe(200);
    // And a policy filter that blocks wins over a job that filters nothing.
    const blocking = await oneRound({
      policies: { 'site-1': { filters: { taskData: [], taskResult: [{ filter: boom('no') }] } } },
    });
    expect(blocking.result.rc).toBe('task-result-filter-error');
  });

  it('applies a binding only to the tasks it names', async () => {
    const { result } = await oneRound({
      app: () => ({
        executors: [executor(['train'], () => metrics({ v: 7 }))],
        filters: {
          taskData: [],
          taskResult: [{ tasks: ['validate'], filter: boom('only-validate') }],
        },
      }),
    });
    expect(result.rc).toBe('ok');
  });

  it('gives filters the task, round, carried global model and the site context', async () => {
    const seen: FilterContext[] = [];
    const spy = filter('spy', (p, ctx) => {
      seen.push(ctx);
      return p;
    });
    await oneRound({
      app: () =>
        clientApp(
          [
            {
              tasks: ['train'],
              initialize: async (ctx) => ctx.siteContext.set('test.learningRate', 0.1),
              execute: async () => metrics({ v: 2 }),
            },
          ],
          { taskResult: [{ filter: spy }] },
        ),
    });
    const ctx = seen[0]!;
    expect(ctx.point).toBe('client-result-out');
    expect(ctx.site).toBe('site-1');
    expect(ctx.peer).toBe('server');
    expect(ctx.taskName).toBe('train');
    expect(v(ctx.globalModel)).toBe(1);
    expect(ctx.siteContext.get('test.learningRate')).toBe(0.1);
  });
});

describe('executor return codes', () => {
  it('answers task-unknown for a task no executor is registered for', async () => {
    const { result } = await oneRound({
      app: () => clientApp([executor(['other'], () => null)]),
    });
    expect(result.rc).toBe('task-unknown');
  });

  it('answers execution-exception with a safe reason when the executor throws', async () => {
    const secret = 'row 17: 42.5';
    const plain = await oneRound({
      app: () =>
        clientApp([
          executor(['train'], () => {
            throw new Error(secret);
          }),
        ]),
    });
    expect(plain.result.rc).toBe('execution-exception');
    expect(plain.result.reason).toBe('Error');
    const typed = await oneRound({
      app: () =>
        clientApp([
          executor(['train'], () => {
            throw new VflareError('INVALID_DATA', 'column "age" missing');
          }),
        ]),
    });
    expect(typed.result.reason).toBe('INVALID_DATA: column "age" missing');
  });

  it('answers execution-result-error when the executor returns something that is not a payload', async () => {
    for (const bad of [
      { weights: {} },
      42,
      { kind: 'weights', weights: { w: [1, 2] }, meta: {} },
    ]) {
      const { result } = await oneRound({
        app: () => clientApp([executor(['train'], () => bad as unknown as Payload)]),
      });
      expect(result.rc).toBe('execution-result-error');
      expect(result.payload).toBeNull();
    }
  });

  it('answers execution-exception for every task of an executor whose initialize failed', async () => {
    const { result } = await oneRound({
      app: () =>
        clientApp([
          {
            tasks: ['train'],
            initialize: async () => {
              throw new VflareError('NOT_FOUND', 'data file missing');
            },
            execute: async () => metrics({ v: 1 }),
          },
        ]),
    });
    expect(result.rc).toBe('execution-exception');
    expect(result.reason).toMatch(/initialize failed: NOT_FOUND/);
  });
});
