import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isKind } from '../../../src/runtime/core/index.js';
import { runSimulation } from '../../../src/runtime/sim/index.js';
import { clientApp, executor, serverApp, tmpWorkspace, weights } from '../engine/helpers.js';

describe('runSimulation', () => {
  it('runs a broadcast round over two sites and writes summary.json', async () => {
    const workspace = tmpWorkspace();
    const summary = await runSimulation({
      job: 'sum',
      sites: ['site-1', 'site-2'],
      workspace,
      server: serverApp(async (api) => {
        const outcome = await api.broadcastAndWait(
          { name: 'train', data: weights([1, 2, 3]), round: 0, numRounds: 1 },
          { minResponses: 2 },
        );
        let total = 0;
        for (const r of outcome.results.values()) {
          if (isKind(r.payload, 'weights')) total += r.payload.weights['w']!.data[0]!;
        }
        api.reportMetrics({ total, completionOk: outcome.completion === 'ok' ? 1 : 0 });
        api.reportRounds(1);
      }),
      clients: ({ site }) =>
        clientApp([
          executor(['train'], (task, ctx) => {
            if (!isKind(task.payload, 'weights')) throw new Error('no weights');
            const w = task.payload.weights['w']!.data;
            const bump = site === 'site-1' ? 10 : 100;
            ctx.reportMetrics({ seen: w.length, third: 1 / 3 });
            return weights(Array.from(w, (v) => v + bump));
          }),
        ]),
    });
    expect(summary.status).toBe('completed');
    expect(summary.server.metrics).toEqual({ total: 11 + 101, completionOk: 1 });
    expect(summary.rounds).toBe(1);
    expect(summary.sites['site-1']!.metrics).toEqual({ seen: 3, third: 1 / 3 });
    const written = JSON.parse(readFileSync(join(workspace, 'summary.json'), 'utf8'));
    expect(written).toEqual(summary);
    expect(written.sites['site-2'].metrics.third).toBe(1 / 3);
  });

  it('isolates sites: a site changing its received tensors in place affects no other', async () => {
    const seen: Record<string, number[]> = {};
    await runSimulation({
      job: 'isolation',
      sites: ['site-1', 'site-2', 'site-3'],
      workspace: tmpWorkspace(),
      server: serverApp(async (api) => {
        await api.broadcastAndWait({ name: 'train', data: weights([1, 2]) }, { minResponses: 0 });
      }),
      clients: ({ site }) =>
        clientApp([
          executor(['train'], async (task) => {
            if (!isKind(task.payload, 'weights')) throw new Error('no weights');
            const data = task.payload.weights['w']!.data;
            seen[site] = Array.from(data);
            data.fill(site === 'site-1' ? 99 : -1);
            return null;
          }),
        ]),
    });
    expect(seen).toEqual({ 'site-1': [1, 2], 'site-2': [1, 2], 'site-3': [1, 2] });
  });

  it('gives every site its own copy of a broadcast frame encoded once for all sites', async () => {
    // site-2 is busy with "hold" until site-1 has changed its copy of the shared "train" task
    // in place, so site-2 takes the very same encoded frame only after that change; it must
    // still see the server's values, and the server's model must be untouched.
    let site1Changed!: () => void;
    const changed = new Promise<void>((resolve) => {
      site1Changed = resolve;
    });
    const seen: Record<string, number[]> = {};
    const model = weights([1, 2, 3]);
    let afterRound: number[] = [];
    let echoed: Record<string, number[]> = {};
    const summary = await runSimulation({
      job: 'shared-frame',
      sites: ['site-1', 'site-2'],
      workspace: tmpWorkspace(),
      server: serverApp(async (api) => {
        const hold = api.sendAndWait(
          { name: 'hold', data: null },
          { targets: ['site-2'], order: 'any' },
        );
        const round = await api.broadcastAndWait(
          { name: 'train', data: model, round: 0 },
          { minResponses: 0 },
        );
        await hold;
        if (!isKind(model, 'weights')) throw new Error('no weights');
        afterRound = Array.from(model.weights['w']!.data);
        echoed = Object.fromEntries(
          [...round.results].map(([site, r]) => [
            site,
            isKind(r.payload, 'weights') ? Array.from(r.payload.weights['w']!.data) : [],
          ]),
        );
      }),
      clients: ({ site }) =>
        clientApp([
          executor(['hold'], async () => {
            await changed;
            return null;
          }),
          executor(['train'], async (task) => {
            if (!isKind(task.payload, 'weights')) throw new Error('no weights');
            const data = task.payload.weights['w']!.data;
            seen[site] = Array.from(data);
            data.fill(site === 'site-1' ? 99 : -1);
            if (site === 'site-1') site1Changed();
            return task.payload;
          }),
        ]),
    });
    expect(summary.status).toBe('completed');
    expect(seen).toEqual({ 'site-1': [1, 2, 3], 'site-2': [1, 2, 3] });
    expect(echoed).toEqual({ 'site-1': [99, 99, 99], 'site-2': [-1, -1, -1] });
    expect(afterRound).toEqual([1, 2, 3]);
  });

  it('returns failed-to-run with a safe error when an app cannot be created', async () => {
    const summary = await runSimulation({
      job: 'broken',
      sites: ['site-1'],
      workspace: tmpWorkspace(),
      server: serverApp(async () => {}),
      clients: () => {
        throw new Error('secret path /data/patients.csv');
      },
    });
    expect(summary.status).toBe('failed-to-run');
    expect(summary.error).toBe("the job's apps could not be created: Error");
  });

  it('rejects bad options with a clear error', async () => {
    const base = {
      job: 'x',
      workspace: tmpWorkspace(),
      server: serverApp(async () => {}),
      clients: () => clientApp([]),
    };
    await expect(runSimulation({ ...base, sites: [] })).rejects.toThrow(/at least one site/);
    await expect(runSimulation({ ...base, sites: ['server'] })).rejects.toThrow(/"server"/);
    await expect(runSimulation({ ...base, sites: ['a', 'a'] })).rejects.toThrow(/distinct/);
  });
});
