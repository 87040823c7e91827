import { describe, expect, it } from 'vitest';
import type { Filter } from '../../../src/runtime/core/index.js';
import { runSimulation } from '../../../src/runtime/sim/index.js';
import { clientApp, executor, serverApp, tmpWorkspace, weights } from '../engine/helpers.js';

describe('site liveness during long local work', () => {
  it('keeps a site alive while its result filter runs far longer than the dead-site grace', async () => {
    // The leakage filter scores an update for minutes; heartbeats must go on meanwhile.
    const slow: Filter = {
      name: 'slow',
      process: async (p) => {
        await new Promise((r) => setTimeout(r, 2_000));
        return p;
      },
    };
    let completion = '';
    let dead: readonly string[] = [];
    const summary = await runSimulation({
      job: 'slow-filter',
      sites: ['site-1'],
      workspace: tmpWorkspace(),
      heartbeatIntervalMs: 100,
      deadSiteGraceMs: 600,
      server: serverApp(async (api) => {
        const outcome = await api.broadcastAndWait(
          { name: 'train', data: weights([1]) },
          { minResponses: 1 },
        );
        completion = outcome.completion;
        dead = outcome.deadSites ?? [];
      }),
      clients: () =>
        clientApp([executor(['train'], () => weights([2]))], {
          taskResult: [{ filter: slow }],
        }),
    });
    expect(summary.status).toBe('completed');
    expect(completion).toBe('ok');
    expect(dead).toEqual([]);
  });
});
