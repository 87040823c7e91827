/**
 * Runtime suite: what the engine costs beyond moving the bytes.
 *
 * 1. Per-round orchestration overhead: a broadcast of a 1 MB weight payload to 10 and to 100
 *    simulated sites, each answering with 1 MB, over the in-memory driver (real encoding and
 *    decoding). The peer is the least any engine must do: every site gets its own copy of the
 *    payload and every answer comes back as a copy the server keeps until the round ends. It
 *    runs in the same workflow, alternating with the engine's rounds, so both see the same heap
 *    and the same machine load. The figure is the engine's median round time minus the peer's
 *    (goal at 100 sites: ≤ 5 ms), with ratio = engine / peer. CPU time is the figure to trust
 *    on a shared machine; wall time is reported beside it.
 * 2. Codec throughput: encode + decode of a 100 MB weight set against a plain typed-array copy
 *    of the same tensors; ratio = codec time / copy time (1 means "as cheap as one copy").
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Payload, TensorMap } from '../../src/runtime/core/index.js';
import { runSimulation } from '../../src/runtime/sim/index.js';
import { decodeMessage, encodeMessage } from '../../src/runtime/transport/index.js';
import type { Figure, Suite, SuiteOptions } from '../types.js';

const MB = 1 << 20;

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function weightSet(totalBytes: number, tensors: number): TensorMap {
  const out: Record<string, { shape: number[]; data: Float32Array }> = {};
  const per = Math.floor(totalBytes / 4 / tensors);
  for (let t = 0; t < tensors; t++) {
    const data = new Float32Array(per);
    for (let i = 0; i < per; i++) data[i] = (i % 1000) * 0.001 + t;
    out[`layer.${t}`] = { shape: [per], data };
  }
  return out;
}

/**
 * A garbage collection, run at the end of every measured engine round and copy round
 * (inside its timing). Engine and peer share one heap; without this, garbage one of them made
 * is often collected during the other's time. With it, each pays for collecting exactly what
 * it allocated. (`--expose-gc` set at run time; the function is taken from a fresh context.)
 */
const collect: () => void = (() => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as (options?: { type: 'minor' | 'major' }) => void;
  // A young-generation collection: the round's short-lived arrays and frames die there (their
  // memory is released with them), at a fraction of a full collection's cost.
  return () => gc({ type: 'minor' });
})();

/** JIT warm-up rounds before measuring (the first rounds compile the engine's hot paths). */
const WARMUP = 10;

interface Timing {
  /** Median wall time, ms. */
  readonly wall: number;
  /** Median CPU time of this process (all threads, incl. GC), ms: robust to a busy machine. */
  readonly cpu: number;
}

function cpuMs(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1000;
}

interface RoundTimings {
  readonly engine: Timing;
  /** The plain-copy peer, measured in the same process between the engine's rounds. */
  readonly copy: Timing;
}

/**
 * The plain-copy peer for one round: what any engine must do at least. The server's payload
 * reaches every site as that site's own copy, and every site's answer (here: the payload it
 * got, as the engine's echo executor returns) comes back as a copy the server keeps for
 * aggregation. Everything stays alive until the round ends, as the engine's frames do.
 */
function copyRound(weights: TensorMap, sites: number): number {
  const kept: Float32Array[] = [];
  for (let s = 0; s < sites; s++) {
    const atSite: Float32Array[] = [];
    for (const t of Object.values(weights)) atSite.push((t.data as Float32Array).slice());
    for (const a of atSite) kept.push(a, a.slice());
  }
  return kept.length;
}

/**
 * Median engine round time of `rounds` broadcasts (after warm-up rounds) at `sites` sites, and
 * the median of the plain-copy peer run between them. The peer runs inside the same workflow
 * (same heap, same moment of machine load) and alternates first/second with the engine's round,
 * so garbage-collection state and load noise fall on both alike.
 */
async function roundTime(sites: number, rounds: number, bytes = MB): Promise<RoundTimings> {
  const weights = weightSet(bytes, 4);
  const payload: Payload = { kind: 'weights', weights, meta: {} };
  const engine = { wall: [] as number[], cpu: [] as number[] };
  const copy = { wall: [] as number[], cpu: [] as number[] };
  let sink = 0;
  const workspace = await mkdtemp(join(tmpdir(), 'vflare-bench-'));
  try {
    const summary = await runSimulation({
      job: 'bench-rounds',
      sites: Array.from({ length: sites }, (_, i) => `site-${i + 1}`),
      workspace,
      server: {
        filters: { taskData: [], taskResult: [] },
        workflows: [
          {
            name: 'rounds',
            run: async (api) => {
              const engineRound = async (r: number) => {
                const t0 = performance.now();
                const c0 = process.cpuUsage();
                // The round's results are dropped before `collect`, as the copies are.
                const answered = (
                  await api.broadcastAndWait(
                    { name: 'train', data: payload, round: r },
                    { minResponses: 0 },
                  )
                ).results.size;
                if (answered !== sites) throw new Error('a site did not answer');
                collect();
                const t = performance.now() - t0;
                const c = cpuMs(c0);
                if (r >= WARMUP) {
                  engine.wall.push(t);
                  engine.cpu.push(c);
                }
              };
              const peerRound = (r: number) => {
                const t0 = performance.now();
                const c0 = process.cpuUsage();
                sink += copyRound(weights, sites);
                collect();
                if (r >= WARMUP) {
                  copy.wall.push(performance.now() - t0);
                  copy.cpu.push(cpuMs(c0));
                }
              };
              for (let r = 0; r < rounds + WARMUP; r++) {
                if (r % 2 === 0) {
                  await engineRound(r);
                  peerRound(r);
                } else {
                  peerRound(r);
                  await engineRound(r);
                }
              }
            },
          },
        ],
      },
      clients: () => ({
        filters: { taskData: [], taskResult: [] },
        executors: [{ tasks: ['train'], execute: async (task) => task.payload }],
      }),
    });
    if (summary.status !== 'completed') throw new Error(`run ended ${summary.status}`);
  } finally {
    await rm(workspace, { recursive: true, force: true });
  }
  if (sink === -1) throw new Error('unreachable');
  return {
    engine: { wall: median(engine.wall), cpu: median(engine.cpu) },
    copy: { wall: median(copy.wall), cpu: median(copy.cpu) },
  };
}

/** Median time of a peer request carrying `bytes` from site-1 to site-2 and back (mirrored). */
async function peerRoundTrip(bytes: number, requests: number): Promise<Timing> {
  const payload: Payload = { kind: 'weights', weights: weightSet(bytes, 1), meta: {} };
  const times: number[] = [];
  const cpu: number[] = [];
  const workspace = await mkdtemp(join(tmpdir(), 'vflare-bench-'));
  try {
    await runSimulation({
      job: 'bench-peer',
      sites: ['site-1', 'site-2'],
      workspace,
      server: {
        filters: { taskData: [], taskResult: [] },
        workflows: [
          {
            name: 'peer',
            run: async (api) => {
              await api.sendAndWait(
                { name: 'talk', data: null },
                { targets: ['site-1'], order: 'sequential' },
              );
            },
          },
        ],
      },
      clients: () => ({
        filters: { taskData: [], taskResult: [] },
        executors: [
          {
            tasks: ['talk'],
            initialize: async (ctx) => ctx.peers.register('mirror', (req) => req.payload),
            execute: async (_task, ctx) => {
              for (let i = 0; i < requests + WARMUP; i++) {
                const t0 = performance.now();
                const c0 = process.cpuUsage();
                const replies = await ctx.peers.request('site-2', 'mirror', payload, {
                  timeoutMs: 60_000,
                });
                if (replies.get('site-2')?.rc !== 'ok') throw new Error('peer request failed');
                if (i >= WARMUP) {
                  times.push(performance.now() - t0);
                  cpu.push(cpuMs(c0));
                }
              }
              return null;
            },
          },
        ],
      }),
    });
  } finally {
    await rm(workspace, { recursive: true, force: true });
  }
  return { wall: median(times), cpu: median(cpu) };
}

/** Median wall time to copy `bytes` `times` times into fresh arrays (kept until done). */
function copyBytes(bytes: number, times: number): number {
  const src = new Float32Array(bytes / 4);
  const out: number[] = [];
  for (let r = 0; r < 7; r++) {
    const t0 = performance.now();
    const kept: Float32Array[] = [];
    for (let i = 0; i < times; i++) kept.push(src.slice());
    out.push(performance.now() - t0);
    if (kept.length !== times) throw new Error('unreachable');
  }
  return median(out.slice(2));
}

function codecFigures(totalBytes: number, repeats: number): Figure[] {
  const weights = weightSet(totalBytes, 25);
  const codec: number[] = [];
  const copy: number[] = [];
  for (let i = 0; i < repeats + 1; i++) {
    const t0 = performance.now();
    const frame = encodeMessage({
      type: 'result',
      result: {
        headers: { jobId: 'b', taskName: 'train', taskId: '1' },
        site: 'site-1',
        rc: 'ok',
        payload: { kind: 'weights', weights, meta: {} },
      },
    });
    const back = decodeMessage(frame);
    const t1 = performance.now();
    if (back.type !== 'result') throw new Error('round trip failed');
    let sink = 0;
    for (const t of Object.values(weights)) sink += (t.data as Float32Array).slice()[0]!;
    const t2 = performance.now();
    if (sink === -1) throw new Error('unreachable');
    if (i > 0) {
      codec.push(t1 - t0);
      copy.push(t2 - t1);
    }
  }
  const mb = totalBytes / MB;
  const c = median(codec);
  const p = median(copy);
  return [
    {
      name: `codec encode+decode, ${mb} MB weight set`,
      value: c,
      unit: 'ms',
      peer: 'plain typed-array copy',
      peerValue: p,
      ratio: c / p,
      note: `ratio = codec time / copy time; ${(mb / (c / 1000)).toFixed(0)} MB/s`,
    },
  ];
}

const suite: Suite = {
  name: 'runtime',
  description: 'engine round overhead with 1 MB payloads; codec throughput vs plain copy',
  async run(options: SuiteOptions): Promise<Figure[]> {
    const figures: Figure[] = [];
    const plan = options.quick
      ? [
          { sites: 10, rounds: 5 },
          { sites: 100, rounds: 5 },
        ]
      : [
          { sites: 10, rounds: 40 },
          { sites: 100, rounds: 20 },
        ];
    for (const { sites, rounds } of plan) {
      options.log(`runtime: ${rounds} rounds at ${sites} sites, 1 MB each way`);
      const { engine, copy } = await roundTime(sites, rounds);
      const load = `load average ${loadavg()[0]!.toFixed(1)}`;
      figures.push({
        name: `overhead per round beyond the copies, ${sites} sites × 1 MB (CPU)`,
        value: engine.cpu - copy.cpu,
        unit: 'ms',
        peer: 'plain copies of the round’s payloads (CPU)',
        peerValue: copy.cpu,
        ratio: engine.cpu / copy.cpu,
        note:
          `value = engine round − copy round (median process CPU ms, incl. GC); engine ` +
          `${engine.cpu.toFixed(1)} ms; ratio = engine / copy; goal at 100 sites ≤ 5 ms; ${load}`,
      });
      figures.push({
        name: `overhead per round beyond the copies, ${sites} sites × 1 MB (wall)`,
        value: engine.wall - copy.wall,
        unit: 'ms',
        peer: 'plain copies of the round’s payloads (wall)',
        peerValue: copy.wall,
        ratio: engine.wall / copy.wall,
        note:
          `value = engine round − copy round (median wall ms); engine ` +
          `${engine.wall.toFixed(1)} ms; ratio = engine / copy; wall time is inflated by load`,
      });
    }
    options.log('runtime: 100 sites, 1 KB payload (orchestration alone)');
    const small = await roundTime(100, options.quick ? 5 : 40, 1024);
    figures.push({
      name: 'orchestration per round, 100 sites × 1 KB (CPU)',
      value: small.engine.cpu - small.copy.cpu,
      unit: 'ms',
      peer: 'plain copies of the round’s payloads (CPU)',
      peerValue: small.copy.cpu,
      ratio: small.engine.cpu / small.copy.cpu,
      note:
        `value = engine round − copy round (median CPU ms); wall ` +
        `${small.engine.wall.toFixed(1)} ms; payload copies are negligible here`,
    });
    const peerBytes = 10 * MB;
    options.log('runtime: peer request 10 MB site-1 → site-2 → site-1');
    const peer = await peerRoundTrip(peerBytes, options.quick ? 3 : 20);
    // What the hop needs at least: the request and the reply each copied once.
    const peerCopy = copyBytes(peerBytes, 2);
    figures.push({
      name: 'peer request + reply, 10 MB each way (relayed by the server)',
      value: peer.wall,
      unit: 'ms',
      peer: 'plain copy of 2 × 10 MB',
      peerValue: peerCopy,
      ratio: peer.wall / peerCopy,
      note: `median wall time; CPU ${peer.cpu.toFixed(1)} ms; split learning's activation path`,
    });
    const size = options.quick ? 10 * MB : 100 * MB;
    options.log(`runtime: codec round trip of ${size / MB} MB`);
    figures.push(...codecFigures(size, options.quick ? 3 : 5));
    return figures;
  },
};

export default suite;
