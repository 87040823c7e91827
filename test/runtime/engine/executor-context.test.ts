import { describe, expect, it } from 'vitest';
import type { ExecutorContext, Payload } from '../../../src/runtime/core/index.js';
import { runSimulation } from '../../../src/runtime/sim/index.js';
import { clientApp, serverApp, sleep, tmpWorkspace } from './helpers.js';

// The client runner builds each task's context field by field and makes the task's
// AbortController only when the executor first reads `ctx.signal`. These tests pin down that
// neither is visible to an executor.

describe('executor context', () => {
  it('hands the executor every context field, also through a spread copy', async () => {
    let seen: ExecutorContext | undefined;
    const summary = await runSimulation({
      job: 'ctx-fields',
      sites: ['site-1'],
      workspace: tmpWorkspace(),
      seed: 7,
      server: serverApp(async (api) => {
        await api.broadcastAndWait({ name: 'train', data: null, round: 3 });
      }),
      clients: () =>
        clientApp([
          {
            tasks: ['train'],
            execute: async (_task, ctx) => {
              seen = { ...ctx };
              return null;
            },
          },
        ]),
    });
    expect(summary.status).toBe('completed');
    expect(Object.keys(seen ?? {}).sort()).toEqual(
      [
        'dataRoot',
        'jobId',
        'jobState',
        'logger',
        'peers',
        'reportMetrics',
        'round',
        'seed',
        'signal',
        'site',
        'siteContext',
        'taskName',
        'workspace',
      ].sort(),
    );
    expect(seen?.site).toBe('site-1');
    expect(seen?.taskName).toBe('train');
    expect(seen?.round).toBe(3);
    expect(seen?.seed).toBe(7);
    expect(seen?.signal).toBeInstanceOf(AbortSignal);
    expect(seen?.signal.aborted).toBe(false);
  });

  it('gives an aborted signal to an executor that first reads it after the abort', async () => {
    let openGate!: () => void;
    const gate = new Promise<void>((resolve) => {
      openGate = resolve;
    });
    let abortedWhenRead: boolean | undefined;
    let firedLater = false;
    const summary = await runSimulation({
      job: 'ctx-late-signal',
      sites: ['site-1'],
      workspace: tmpWorkspace(),
      server: serverApp(async (api) => {
        const handle = api.broadcast({ name: 'train', data: null });
        await sleep(20);
        api.abortTask(handle);
        const outcome = await handle.done;
        expect(outcome.completion).toBe('aborted');
        // The abort frame reaches the site in microtasks; a timer turn later it has arrived.
        await sleep(20);
        openGate();
        await sleep(20);
      }),
      clients: () =>
        clientApp([
          {
            tasks: ['train'],
            execute: async (_task, ctx) => {
              await gate;
              abortedWhenRead = ctx.signal.aborted;
              ctx.signal.addEventListener('abort', () => {
                firedLater = true;
              });
              return null as Payload | null;
            },
          },
        ]),
    });
    expect(summary.status).toBe('completed');
    expect(abortedWhenRead).toBe(true);
    expect(firedLater).toBe(false);
  });
});
