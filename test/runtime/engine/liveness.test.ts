import { describe, expect, it } from 'vitest';
import type { ControllerApi, TaskOutcome } from '../../../src/runtime/core/index.js';
import { runSimulation, type SimulationOptions } from '../../../src/runtime/sim/index.js';
import { clientApp, executor, metrics, serverApp, sleep, tmpWorkspace } from './helpers.js';

// Grace well above any event-loop stall on a busy CI machine, so no live site is declared dead.
const FAST = { heartbeatIntervalMs: 50, deadSiteGraceMs: 800, byeTimeoutMs: 300 } as const;

async function run(
  sites: string[],
  workflow: (api: ControllerApi) => Promise<void>,
  extra: Partial<SimulationOptions> = {},
  delays: Record<string, number> = {},
) {
  return runSimulation({
    job: 'liveness',
    sites,
    workspace: tmpWorkspace(),
    ...FAST,
    server: serverApp(workflow),
    clients: ({ site }) =>
      clientApp([
        executor(['train'], async () => {
          await sleep(delays[site] ?? 5);
          return metrics({ v: 1 });
        }),
      ]),
    ...extra,
  });
}

describe('dead sites and hanging executors', () => {
  it('does not hang a broadcast when a site dies but minResponses is met', async () => {
    let outcome: TaskOutcome | undefined;
    let elapsed = -1;
    const summary = await run(
      ['site-1', 'site-2', 'site-3'],
      async (api) => {
        const t0 = Date.now();
        outcome = await api.broadcastAndWait(
          { name: 'train', data: null },
          { minResponses: 2, waitTimeAfterMinReceivedMs: 60_000 },
        );
        elapsed = Date.now() - t0;
      },
      { faults: { 'site-3': { kind: 'die', task: 'train' } } },
    );
    expect(summary.status).toBe('completed');
    expect(outcome?.completion).toBe('ok');
    expect([...outcome!.results.keys()].sort()).toEqual(['site-1', 'site-2']);
    expect(outcome?.deadSites).toEqual(['site-3']);
    // Ended once site-3 was declared dead, not after the 60 s grace.
    expect(elapsed).toBeGreaterThanOrEqual(FAST.deadSiteGraceMs - 50);
    expect(elapsed).toBeLessThan(5_000);
  });

  it('ends with client-dead naming the site when minResponses can no longer be met', async () => {
    let outcome: TaskOutcome | undefined;
    await run(
      ['site-1', 'site-2'],
      async (api) => {
        outcome = await api.broadcastAndWait({ name: 'train', data: null }, { minResponses: 2 });
      },
      { faults: { 'site-2': { kind: 'die' } } },
    );
    expect(outcome?.completion).toBe('client-dead');
    expect(outcome?.deadSites).toEqual(['site-2']);
    expect([...outcome!.results.keys()]).toEqual(['site-1']);
  });

  it('fails fast when the alive sites left cannot reach minResponses, before they answer', async () => {
    let outcome: TaskOutcome | undefined;
    let elapsed = -1;
    await run(
      ['site-1', 'site-2', 'site-3'],
      async (api) => {
        const t0 = Date.now();
        outcome = await api.broadcastAndWait({ name: 'train', data: null }, { minResponses: 3 });
        elapsed = Date.now() - t0;
      },
      { faults: { 'site-3': { kind: 'die' } } },
      { 'site-2': 3_000 },
    );
    expect(outcome?.completion).toBe('client-dead');
    expect(outcome?.deadSites).toEqual(['site-3']);
    expect(elapsed).toBeLessThan(2_000);
  });

  it('cuts off a hanging executor at the task timeout; the site takes the next task', async () => {
    const outcomes: TaskOutcome[] = [];
    const summary = await run(
      ['site-1', 'site-2'],
      async (api) => {
        for (const round of [0, 1]) {
          outcomes.push(
            await api.broadcastAndWait(
              { name: 'train', data: null, round, timeoutMs: 1_000 },
              { minResponses: 2 },
            ),
          );
        }
      },
      { faults: { 'site-2': { kind: 'hang', round: 0 } } },
    );
    expect(summary.status).toBe('completed');
    expect(outcomes[0]!.completion).toBe('timeout');
    expect([...outcomes[0]!.results.keys()]).toEqual(['site-1']);
    expect(outcomes[0]!.deadSites).toEqual([]);
    expect(outcomes[1]!.completion).toBe('ok');
    expect(outcomes[1]!.results.size).toBe(2);
  });

  it('drops a silent site from aliveClients after the grace period', async () => {
    let before: readonly string[] = [];
    let after: readonly string[] = [];
    await run(
      ['site-1', 'site-2'],
      async (api) => {
        before = api.aliveClients();
        await sleep(FAST.deadSiteGraceMs + 500);
        after = api.aliveClients();
      },
      {
        onStart: (control) => setTimeout(() => control.killSite('site-2'), 20),
      },
    );
    expect(before).toEqual(['site-1', 'site-2']);
    expect(after).toEqual(['site-1']);
  });
});
