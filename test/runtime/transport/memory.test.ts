import { describe, expect, it } from 'vitest';
import { InMemoryNetwork } from '../../../src/runtime/transport/index.js';

/** A network with a started server and connected sites that record the frames they receive. */
async function wired(sites: string[]) {
  const network = new InMemoryNetwork();
  const server = network.server();
  await server.start({ onFrame: () => {} });
  const received = new Map<string, Uint8Array[]>();
  for (const site of sites) {
    received.set(site, []);
    await network.client(site).connect({ onFrame: (f) => received.get(site)!.push(f) });
  }
  const settle = () => new Promise<void>((resolve) => setTimeout(resolve, 0));
  return { server, received, settle };
}

describe('InMemoryNetwork', () => {
  it('hands every recipient of a shared frame its own copy, never the frame itself', async () => {
    const { server, received, settle } = await wired(['a', 'b']);
    const frame = Uint8Array.from([1, 2, 3, 4]);
    await server.send('a', frame, { shared: true });
    await settle();
    // The first recipient changes its bytes before the sender hands the frame on.
    received.get('a')![0]!.fill(9);
    await server.send('b', frame, { shared: true });
    await settle();
    const [a] = received.get('a')!;
    const [b] = received.get('b')!;
    expect(a).not.toBe(frame);
    expect(b).not.toBe(frame);
    expect(a!.buffer).not.toBe(b!.buffer);
    expect(Array.from(frame)).toEqual([1, 2, 3, 4]);
    expect(Array.from(b!)).toEqual([1, 2, 3, 4]);
  });

  it('hands a frame sent without `shared` over as is, transferred or not', async () => {
    const { server, received, settle } = await wired(['a', 'b']);
    const moved = Uint8Array.from([5]);
    await server.send('a', moved, { transfer: true });
    const given = Uint8Array.from([7, 8]);
    await server.send('b', given);
    await settle();
    expect(received.get('a')![0]).toBe(moved);
    expect(received.get('b')![0]).toBe(given);
  });

  it('gives each target of a peer request to several sites its own copy', async () => {
    const { runSimulation } = await import('../../../src/runtime/sim/index.js');
    const { mkdtemp, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const workspace = await mkdtemp(join(tmpdir(), 'vflare-mem-'));
    const seen = new Map<string, Float32Array>();
    try {
      const summary = await runSimulation({
        job: 'fan-out',
        sites: ['site-1', 'site-2', 'site-3'],
        workspace,
        server: {
          filters: { taskData: [], taskResult: [] },
          workflows: [
            {
              name: 'talk',
              run: async (api) => {
                await api.sendAndWait(
                  { name: 'talk', data: null },
                  { targets: ['site-1'], order: 'sequential' },
                );
              },
            },
          ],
        },
        clients: ({ site }) => ({
          filters: { taskData: [], taskResult: [] },
          executors: [
            {
              tasks: ['talk'],
              initialize: async (ctx) =>
                ctx.peers.register('poke', (req) => {
                  const t = req.payload?.kind === 'weights' ? req.payload.weights['w'] : undefined;
                  const data = t?.data as Float32Array;
                  seen.set(site, data);
                  data[0] = site === 'site-2' ? 2 : 3; // in place, at each target
                  return null;
                }),
              execute: async (_task, ctx) => {
                const w = { w: { shape: [2], data: Float32Array.from([1, 1]) } };
                const payload = { kind: 'weights' as const, weights: w, meta: {} };
                await ctx.peers.request(['site-2', 'site-3'], 'poke', payload, {
                  timeoutMs: 30_000,
                });
                return null;
              },
            },
          ],
        }),
      });
      expect(summary.status).toBe('completed');
    } finally {
      await rm(workspace, { recursive: true, force: true });
    }
    expect(seen.get('site-2')!.buffer).not.toBe(seen.get('site-3')!.buffer);
    expect(Array.from(seen.get('site-2')!)).toEqual([2, 1]);
    expect(Array.from(seen.get('site-3')!)).toEqual([3, 1]);
  });
});
