import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ControllerApi, TaskOutcome } from '../../../src/runtime/core/index.js';
import { runSimulation, type SimulationOptions } from '../../../src/runtime/sim/index.js';
import { clientApp, executor, metrics, serverApp, sleep, tmpWorkspace } from './helpers.js';

/** Runs a simulation under fake timers, advancing virtual time until it ends. */
async function simulate(
  delays: Record<string, number>,
  workflow: (api: ControllerApi) => Promise<void>,
  extra: Partial<SimulationOptions> = {},
) {
  const run = runSimulation({
    job: 'exit-rules',
    sites: Object.keys(delays),
    workspace: tmpWorkspace(),
    deadSiteGraceMs: 600_000,
    server: serverApp(workflow),
    clients: ({ site }) =>
      clientApp([
        executor(['train'], async () => {
          await sleep(delays[site]!);
          return metrics({ done: 1 });
        }),
      ]),
    ...extra,
  });
  let finished = false;
  void run.finally(() => {
    finished = true;
  });
  while (!finished) await vi.advanceTimersByTimeAsync(50);
  return run;
}

describe('broadcast exit rules (NVFlare 2.3)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('ends at once when every target answered, without the grace wait', async () => {
    let elapsed = -1;
    let outcome: TaskOutcome | undefined;
    await simulate({ 'site-1': 300, 'site-2': 900 }, async (api) => {
      const t0 = Date.now();
      outcome = await api.broadcastAndWait(
        { name: 'train', data: null },
        { minResponses: 1, waitTimeAfterMinReceivedMs: 10_000 },
      );
      elapsed = Date.now() - t0;
    });
    expect(outcome?.completion).toBe('ok');
    expect([...outcome!.results.keys()]).toEqual(['site-1', 'site-2']);
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(1_000);
  });

  it('waits the grace time after minResponses when a target is still out', async () => {
    let elapsed = -1;
    let outcome: TaskOutcome | undefined;
    await simulate({ 'site-1': 300, 'site-2': 60_000 }, async (api) => {
      const t0 = Date.now();
      outcome = await api.broadcastAndWait(
        { name: 'train', data: null },
        { minResponses: 1, waitTimeAfterMinReceivedMs: 10_000 },
      );
      elapsed = Date.now() - t0;
    });
    expect(outcome?.completion).toBe('ok');
    expect([...outcome!.results.keys()]).toEqual(['site-1']);
    expect(elapsed).toBeGreaterThanOrEqual(10_300);
    expect(elapsed).toBeLessThan(10_500);
  });

  it('waits for every target when minResponses is 0', async () => {
    let elapsed = -1;
    await simulate({ 'site-1': 100, 'site-2': 20_000 }, async (api) => {
      const t0 = Date.now();
      const outcome = await api.broadcastAndWait(
        { name: 'train', data: null },
        { minResponses: 0 },
      );
      expect(outcome.results.size).toBe(2);
      elapsed = Date.now() - t0;
    });
    expect(elapsed).toBeGreaterThanOrEqual(20_000);
    expect(elapsed).toBeLessThan(20_200);
  });

  it('ends with timeout when the task timeout elapses first', async () => {
    let outcome: TaskOutcome | undefined;
    let elapsed = -1;
    await simulate({ 'site-1': 100, 'site-2': 60_000 }, async (api) => {
      const t0 = Date.now();
      outcome = await api.broadcastAndWait(
        { name: 'train', data: null, timeoutMs: 5_000 },
        { minResponses: 2 },
      );
      elapsed = Date.now() - t0;
    });
    expect(outcome?.completion).toBe('timeout');
    expect([...outcome!.results.keys()]).toEqual(['site-1']);
    expect(elapsed).toBeGreaterThanOrEqual(5_000);
    expect(elapsed).toBeLessThan(5_100);
  });

  it('keeps a broadcastForever task standing after all answered, until cancelled', async () => {
    const answers: string[] = [];
    let outcome: TaskOutcome | undefined;
    let settledEarly = false;
    await simulate({ 'site-1': 10, 'site-2': 10 }, async (api) => {
      const handle = api.broadcastForever({
        name: 'train',
        data: null,
        onResult: (r) => answers.push(r.site),
      });
      void handle.done.then(() => {
        settledEarly = true;
      });
      await sleep(3_000);
      const beforeCancel = settledEarly;
      api.cancelTask(handle);
      outcome = await handle.done;
      expect(beforeCancel).toBe(false);
    });
    expect(outcome?.completion).toBe('cancelled');
    // Each site answered several times: the task went back to them on every (paced) ask.
    expect(answers.filter((s) => s === 'site-1').length).toBeGreaterThanOrEqual(3);
    expect(answers.filter((s) => s === 'site-2').length).toBeGreaterThanOrEqual(3);
  });
});
