import { describe, expect, it } from 'vitest';
import {
  ALL,
  isKind,
  type PeerReply,
  SERVER,
  VflareError,
} from '../../../src/runtime/core/index.js';
import { runSimulation } from '../../../src/runtime/sim/index.js';
import { clientApp, metrics, serverApp, sleep, tmpWorkspace } from './helpers.js';

type Replies = ReadonlyMap<string, PeerReply>;

/**
 * Three sites; every party registers `echo` (answers v + 1), site-3 also `slow` (never answers)
 * and `fail` (throws). site-1 runs `probe`, which calls `script` with its messenger.
 */
async function withPeers(
  script: (peers: import('../../../src/runtime/core/index.js').PeerMessenger) => Promise<void>,
) {
  let failure: unknown;
  const summary = await runSimulation({
    job: 'peers',
    sites: ['site-1', 'site-2', 'site-3'],
    workspace: tmpWorkspace(),
    server: serverApp(async (api) => {
      api.peers.register('echo', (req) =>
        metrics({ v: (isKind(req.payload, 'metrics') ? req.payload.metrics['v']! : 0) + 1000 }),
      );
      await api.sendAndWait(
        { name: 'probe', data: null },
        { targets: ['site-1'], order: 'sequential' },
      );
    }),
    clients: ({ site }) =>
      clientApp([
        {
          tasks: ['probe'],
          initialize: async (ctx) => {
            ctx.peers.register('echo', (req) =>
              metrics({ v: (isKind(req.payload, 'metrics') ? req.payload.metrics['v']! : 0) + 1 }),
            );
            ctx.peers.register('mirror', (req) => req.payload);
            ctx.peers.register('scribble', (req) => {
              if (!isKind(req.payload, 'weights')) return null;
              const data = req.payload.weights['w']!.data;
              const first = data[0]!;
              data.fill(site === 'site-2' ? 222 : 333);
              return metrics({ v: first });
            });
            if (site === 'site-3') {
              ctx.peers.register('slow', (req) => new Promise(() => void req));
              ctx.peers.register('fail', () => {
                throw new VflareError('INVALID_DATA', 'bad activation shape');
              });
              ctx.peers.register('seen', (req) => {
                seenBySite3.push(req.from);
                return null;
              });
            }
          },
          execute: async (_task, ctx) => {
            try {
              await script(ctx.peers);
            } catch (err) {
              failure = err;
            }
            return null;
          },
        },
      ]),
  });
  expect(summary.status).toBe('completed');
  if (failure !== undefined) throw failure;
}
const seenBySite3: string[] = [];

const v = (r: PeerReply | undefined) =>
  isKind(r?.payload, 'metrics') ? r!.payload.metrics['v'] : undefined;

describe('peer messaging', () => {
  it('sends a request to one site and gets its reply', async () => {
    let replies: Replies | undefined;
    await withPeers(async (peers) => {
      replies = await peers.request('site-2', 'echo', metrics({ v: 1 }), { timeoutMs: 2_000 });
    });
    expect([...replies!.keys()]).toEqual(['site-2']);
    expect(replies!.get('site-2')!.rc).toBe('ok');
    expect(v(replies!.get('site-2'))).toBe(2);
  });

  it('reaches the server and every other site with @ALL, one reply per party', async () => {
    let replies: Replies | undefined;
    await withPeers(async (peers) => {
      replies = await peers.request(ALL, 'echo', metrics({ v: 5 }), { timeoutMs: 2_000 });
    });
    expect([...replies!.keys()]).toEqual([SERVER, 'site-2', 'site-3']);
    expect(v(replies!.get(SERVER))).toBe(1005);
    expect(v(replies!.get('site-3'))).toBe(6);
  });

  it('answers topic-unknown, handler-exception and timeout per target', async () => {
    let unknown: Replies | undefined;
    let failed: Replies | undefined;
    let slow: Replies | undefined;
    let elapsed = -1;
    await withPeers(async (peers) => {
      unknown = await peers.request(['site-2', 'site-3'], 'nothing', null, { timeoutMs: 2_000 });
      failed = await peers.request('site-3', 'fail', null, { timeoutMs: 2_000 });
      const t0 = Date.now();
      slow = await peers
        .request(['site-2', 'site-3'], 'echo', null, { timeoutMs: 150 })
        .then(async () => peers.request(['site-3'], 'slow', null, { timeoutMs: 150 }));
      elapsed = Date.now() - t0;
    });
    expect(unknown!.get('site-2')!.rc).toBe('topic-unknown');
    expect(unknown!.get('site-3')!.rc).toBe('topic-unknown');
    expect(failed!.get('site-3')!.rc).toBe('handler-exception');
    expect(failed!.get('site-3')!.reason).toBe('INVALID_DATA: bad activation shape');
    expect(slow!.get('site-3')!.rc).toBe('timeout');
    expect(elapsed).toBeGreaterThanOrEqual(140);
  });

  it('delivers fire-and-forget messages without waiting for replies', async () => {
    seenBySite3.length = 0;
    await withPeers(async (peers) => {
      peers.fireAndForget('site-3', 'seen', null);
      await sleep(50);
    });
    expect(seenBySite3).toEqual(['site-1']);
  });

  it('refuses targets that are not parties of the job', async () => {
    let error: unknown;
    await withPeers(async (peers) => {
      error = await peers.request('site-9', 'echo', null, { timeoutMs: 100 }).catch((e) => e);
    });
    expect((error as VflareError).code).toBe('INVALID_ARGUMENT');
    expect((error as VflareError).message).toMatch(/"site-9" is not a party/);
  });

  it('carries megabyte tensors bit-exactly between sites', async () => {
    const data = new Float32Array(1 << 18);
    for (let i = 0; i < data.length; i++) data[i] = Math.fround(Math.sin(i) * 1e3);
    let back: PeerReply | undefined;
    await withPeers(async (peers) => {
      const replies = await peers.request(
        'site-2',
        'mirror',
        { kind: 'weights', weights: { act: { shape: [512, 512], data } }, meta: {} },
        { timeoutMs: 5_000 },
      );
      back = replies.get('site-2');
    });
    expect(back?.rc).toBe('ok');
    const got = isKind(back?.payload, 'weights') ? back!.payload.weights['act']! : undefined;
    expect(got?.shape).toEqual([512, 512]);
    expect(got?.data).toBeInstanceOf(Float32Array);
    const bytes = Buffer.from(got!.data.buffer, got!.data.byteOffset, got!.data.byteLength);
    expect(Buffer.compare(bytes, Buffer.from(data.buffer))).toBe(0);
  });

  it('gives each target of a multi-target request its own bytes', async () => {
    let replies: Replies | undefined;
    await withPeers(async (peers) => {
      const payload = {
        kind: 'weights' as const,
        weights: { w: { shape: [4], data: Float32Array.from([7, 7, 7, 7]) } },
        meta: {},
      };
      replies = await peers.request(['site-2', 'site-3'], 'scribble', payload, {
        timeoutMs: 2_000,
      });
    });
    expect(v(replies!.get('site-2'))).toBe(7);
    expect(v(replies!.get('site-3'))).toBe(7);
  });
});
