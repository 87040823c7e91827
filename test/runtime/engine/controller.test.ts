import { describe, expect, it } from 'vitest';
import {
  type ControllerApi,
  isKind,
  type Payload,
  type TaskOutcome,
  VflareError,
} from '../../../src/runtime/core/index.js';
import { runSimulation } from '../../../src/runtime/sim/index.js';
import { clientApp, executor, metrics, serverApp, sleep, tmpWorkspace } from './helpers.js';

declare module '../../../src/runtime/core/context.js' {
  interface JobStateEntries {
    'test.visits': number;
  }
}

function valueIn(payload: Payload | null): number {
  return isKind(payload, 'metrics') ? payload.metrics['v']! : Number.NaN;
}

async function sim(
  sites: string[],
  workflow: (api: ControllerApi) => Promise<void>,
  work: (site: string, input: Payload | null) => Promise<Payload | null> | Payload | null = () =>
    metrics({ v: 1 }),
) {
  return runSimulation({
    job: 'controller',
    sites,
    workspace: tmpWorkspace(),
    server: serverApp(workflow),
    clients: ({ site }) => clientApp([executor(['train'], (task) => work(site, task.payload))]),
  });
}

describe('send, relay and per-target payloads', () => {
  it('send sequential with no assignment timeout only ever asks the first target', async () => {
    let outcome: TaskOutcome | undefined;
    const ran: string[] = [];
    await sim(
      ['site-1', 'site-2', 'site-3'],
      async (api) => {
        outcome = await api.sendAndWait(
          { name: 'train', data: null },
          { targets: ['site-3', 'site-1'], order: 'sequential' },
        );
      },
      (site) => {
        ran.push(site);
        return metrics({ v: 1 });
      },
    );
    expect(outcome?.completion).toBe('ok');
    expect([...outcome!.results.keys()]).toEqual(['site-3']);
    expect(ran).toEqual(['site-3']);
  });

  it('send sequential moves to the next target after the assignment timeout', async () => {
    let outcome: TaskOutcome | undefined;
    let elapsed = -1;
    const summary = await runSimulation({
      job: 'seq',
      sites: ['site-1', 'site-2'],
      workspace: tmpWorkspace(),
      onStart: (control) => control.killSite('site-1'),
      server: serverApp(async (api) => {
        const t0 = Date.now();
        outcome = await api.sendAndWait(
          { name: 'train', data: null },
          { targets: ['site-1', 'site-2'], order: 'sequential', taskAssignmentTimeoutMs: 150 },
        );
        elapsed = Date.now() - t0;
      }),
      clients: () => clientApp([executor(['train'], () => metrics({ v: 2 }))]),
      byeTimeoutMs: 200,
      joinTimeoutMs: 100,
    });
    expect(summary.status).toBe('completed');
    expect(outcome?.completion).toBe('ok');
    expect([...outcome!.results.keys()]).toEqual(['site-2']);
    expect(elapsed).toBeGreaterThanOrEqual(140);
  });

  it('send any is run by exactly one target', async () => {
    let outcome: TaskOutcome | undefined;
    const ran: string[] = [];
    await sim(
      ['site-1', 'site-2', 'site-3'],
      async (api) => {
        outcome = await api.sendAndWait(
          { name: 'train', data: null },
          { targets: ['site-1', 'site-2', 'site-3'], order: 'any' },
        );
      },
      (site) => {
        ran.push(site);
        return metrics({ v: 1 });
      },
    );
    expect(outcome?.completion).toBe('ok');
    expect(outcome!.results.size).toBe(1);
    expect(ran).toHaveLength(1);
    expect(outcome!.results.has(ran[0]!)).toBe(true);
  });

  it('relay hands the task from target to target, each starting from the previous result', async () => {
    const order: string[] = [];
    let outcome: TaskOutcome | undefined;
    let carried: Payload = metrics({ v: 0 });
    await sim(
      ['site-1', 'site-2', 'site-3'],
      async (api) => {
        outcome = await api.relayAndWait(
          {
            name: 'train',
            data: () => carried,
            onResult: (r) => {
              if (r.payload) carried = r.payload;
            },
          },
          { targets: ['site-2', 'site-3', 'site-1'], order: 'sequential', dynamicTargets: false },
        );
      },
      (site, input) => {
        order.push(site);
        return metrics({ v: valueIn(input) * 10 + Number(site.slice(-1)) });
      },
    );
    expect(outcome?.completion).toBe('ok');
    expect(order).toEqual(['site-2', 'site-3', 'site-1']);
    expect(valueIn(carried)).toBe(231);
  });

  it('relay moves past a target that does not answer within taskResultTimeoutMs', async () => {
    let outcome: TaskOutcome | undefined;
    const ran: string[] = [];
    await sim(
      ['site-1', 'site-2', 'site-3'],
      async (api) => {
        outcome = await api.relayAndWait(
          { name: 'train', data: null },
          {
            targets: ['site-1', 'site-2', 'site-3'],
            order: 'sequential',
            taskResultTimeoutMs: 150,
            dynamicTargets: false,
          },
        );
      },
      async (site) => {
        ran.push(site);
        if (site === 'site-2') await sleep(5_000);
        return metrics({ v: 1 });
      },
    );
    expect(outcome?.completion).toBe('ok');
    expect(ran).toEqual(['site-1', 'site-2', 'site-3']);
    expect([...outcome!.results.keys()]).toEqual(['site-1', 'site-3']);
  });

  it('relay with dynamic targets takes in job clients that ask while it runs', async () => {
    let outcome: TaskOutcome | undefined;
    await sim(['site-1', 'site-2'], async (api) => {
      outcome = await api.relayAndWait(
        { name: 'train', data: null },
        { targets: ['site-1'], order: 'sequential' },
      );
    });
    expect(outcome?.completion).toBe('ok');
    expect([...outcome!.results.keys()].sort()).toEqual(['site-1', 'site-2']);
  });

  it('gives each target its own payload in one broadcast', async () => {
    let outcome: TaskOutcome | undefined;
    await sim(
      ['site-1', 'site-2'],
      async (api) => {
        outcome = await api.broadcastAndWait(
          { name: 'train', data: (site) => metrics({ v: site === 'site-1' ? 5 : 7 }) },
          { minResponses: 0 },
        );
      },
      (_site, input) => metrics({ v: valueIn(input) * 2 }),
    );
    expect(valueIn(outcome!.results.get('site-1')!.payload)).toBe(10);
    expect(valueIn(outcome!.results.get('site-2')!.payload)).toBe(14);
  });

  it('rejects a broadcast whose minResponses exceeds its explicit targets', async () => {
    let error: unknown;
    await sim(['site-1'], async (api) => {
      try {
        api.broadcast({ name: 'train', data: null }, { targets: ['site-1'], minResponses: 2 });
      } catch (err) {
        error = err;
      }
    });
    expect(error).toBeInstanceOf(VflareError);
    expect((error as VflareError).code).toBe('INVALID_ARGUMENT');
  });

  it('rejects a target that is not a client of the job', async () => {
    let error: unknown;
    await sim(['site-1'], async (api) => {
      try {
        api.broadcast({ name: 'train', data: null }, { targets: ['site-9'] });
      } catch (err) {
        error = err;
      }
    });
    expect((error as VflareError).message).toMatch(/"site-9" is not a client/);
  });
});

describe('callbacks, cancel, abort and job state', () => {
  it('calls onResult for every result as it arrives', async () => {
    const seen: string[] = [];
    await sim(['site-1', 'site-2'], async (api) => {
      await api.broadcastAndWait(
        { name: 'train', data: null, onResult: (r) => seen.push(`${r.site}:${r.rc}`) },
        { minResponses: 0 },
      );
    });
    expect(seen.sort()).toEqual(['site-1:ok', 'site-2:ok']);
  });

  it('ends the task with error when an onResult callback throws', async () => {
    let outcome: TaskOutcome | undefined;
    await sim(['site-1'], async (api) => {
      outcome = await api.broadcastAndWait({
        name: 'train',
        data: null,
        onResult: () => {
          throw new Error('boom');
        },
      });
    });
    expect(outcome?.completion).toBe('error');
    expect(outcome?.reason).toMatch(/onResult callback/);
  });

  it('abortTask ends the task as aborted and fires the executor signal', async () => {
    let outcome: TaskOutcome | undefined;
    let sawAbort = false;
    await sim(
      ['site-1'],
      async (api) => {
        const handle = api.broadcast({ name: 'train', data: null });
        await sleep(100);
        api.abortTask(handle);
        outcome = await handle.done;
        await sleep(50);
      },
      () => new Promise<Payload>(() => {}),
    );
    expect(outcome?.completion).toBe('aborted');
    const summary = await runSimulation({
      job: 'abort-signal',
      sites: ['site-1'],
      workspace: tmpWorkspace(),
      server: serverApp(async (api) => {
        const handle = api.broadcast({ name: 'train', data: null });
        await sleep(50);
        api.abortTask(handle);
        await sleep(100);
      }),
      clients: () =>
        clientApp([
          {
            tasks: ['train'],
            execute: (_task, ctx) =>
              new Promise<Payload>((_resolve, reject) => {
                ctx.signal.addEventListener('abort', () => {
                  sawAbort = true;
                  reject(new Error('aborted'));
                });
              }),
          },
        ]),
    });
    expect(summary.status).toBe('completed');
    expect(sawAbort).toBe(true);
  });

  it('keeps the job state of a site across the workflows of one job', async () => {
    const visits: number[] = [];
    const round = {
      name: 'round',
      run: async (api: ControllerApi) => {
        await api.broadcastAndWait({ name: 'train', data: null });
      },
    };
    await runSimulation({
      job: 'state',
      sites: ['site-1'],
      workspace: tmpWorkspace(),
      server: { workflows: [round, round], filters: { taskData: [], taskResult: [] } },
      clients: () =>
        clientApp([
          executor(['train'], (_task, ctx) => {
            const n = (ctx.jobState.get('test.visits') ?? 0) + 1;
            ctx.jobState.set('test.visits', n);
            visits.push(n);
            return null;
          }),
        ]),
    });
    expect(visits).toEqual([1, 2]);
  });

  it('reports execution-exception with a safe reason when a workflow throws', async () => {
    const summary = await sim(['site-1'], async () => {
      throw new VflareError('MIN_CLIENTS_NOT_MET', 'only 0 of 2 clients answered');
    });
    expect(summary.status).toBe('execution-exception');
    expect(summary.error).toBe(
      'workflow "test-workflow" failed: MIN_CLIENTS_NOT_MET: only 0 of 2 clients answered',
    );
  });

  it('ends with status aborted when the job signal aborts', async () => {
    const controller = new AbortController();
    let executorAborted = false;
    const summary = await runSimulation({
      job: 'aborted',
      sites: ['site-1'],
      workspace: tmpWorkspace(),
      signal: controller.signal,
      server: serverApp(async (api) => {
        setTimeout(() => controller.abort(), 50);
        const outcome = await api.broadcastAndWait({ name: 'train', data: null });
        expect(outcome.completion).toBe('aborted');
        api.broadcast({ name: 'train', data: null });
      }),
      clients: () =>
        clientApp([
          executor(
            ['train'],
            (_t, ctx) =>
              new Promise((resolve) =>
                ctx.signal.addEventListener('abort', () => {
                  executorAborted = true;
                  resolve(null);
                }),
              ),
          ),
        ]),
    });
    expect(summary.status).toBe('aborted');
    expect(executorAborted).toBe(true);
  });

  it('calls initialize and finalize once per site', async () => {
    const calls: string[] = [];
    await runSimulation({
      job: 'hooks',
      sites: ['site-1', 'site-2'],
      workspace: tmpWorkspace(),
      server: serverApp(async (api) => {
        await api.broadcastAndWait({ name: 'train', data: null }, { minResponses: 0 });
      }),
      clients: ({ site }) =>
        clientApp([
          {
            tasks: ['train'],
            execute: async () => {
              calls.push(`${site}:execute`);
              return null;
            },
            initialize: async (ctx) => {
              calls.push(`${ctx.site}:initialize`);
            },
            finalize: async (ctx) => {
              calls.push(`${ctx.site}:finalize`);
            },
          },
        ]),
    });
    for (const site of ['site-1', 'site-2']) {
      expect(calls.filter((c) => c.startsWith(site))).toEqual([
        `${site}:initialize`,
        `${site}:execute`,
        `${site}:finalize`,
      ]);
    }
  });
});
