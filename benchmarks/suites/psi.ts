/**
 * PSI benchmarks (suite `psi`). Every figure that has a peer measures it in the same run, on the
 * same sets:
 *
 * - two-party reveal, Bloom, fpr 1e-9, n×n with half shared: vflare fast, vflare compatible
 *   (OpenMined bytes) and @openmined/psi.js (WASM, one thread); ratio = psi.js time / ours
 *   (above 1 = faster than psi.js);
 * - fast mode's native bound: the run's scalar multiplications and hash-to-group evaluations
 *   (counted by the pool) at node:crypto's ECDH rate on all cores and the measured hash cost,
 *   measured in this run; efficiency = bound time / our time;
 * - bytes per server item of each container (setup message size / |S|);
 * - the N-site workflow in the simulator (3, 5, 10 sites of n items), with psi.js doing the
 *   two-site workflow's two runs (forward + backward) on n×n as the peer of the 2-site run;
 * - OpenMined issue 143's sizes (client 333,334, server 397, fpr 1e-9) in fast mode with Bloom;
 * - 1M×1M fast mode, with the peak resident memory.
 *
 * `--quick` keeps every size at or below 2,000 items.
 */
import { createECDH } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import psiModule from '@openmined/psi.js';
import type { PSILibrary } from '@openmined/psi.js/implementation/psi.js';
import { fastHashMultiply, fastMultiply, nativeKey } from '../../src/psi/kernels.js';
import { PsiPool } from '../../src/psi/pool.js';
import { PsiClient, PsiServer } from '../../src/psi/protocol.js';
import { runPsi } from '../../src/psi/run.js';
import type { ContainerKind } from '../../src/psi/sizing.js';
import {
  decodeRequest,
  decodeResponse,
  decodeSetup,
  encodeRequest,
  encodeResponse,
  encodeSetup,
  type PsiMode,
} from '../../src/psi/wire.js';
import type { Figure, Suite } from '../types.js';

function loadPsiJs(): Promise<PSILibrary> {
  type Factory = () => Promise<PSILibrary>;
  const m = psiModule as unknown as Factory | { default: Factory };
  return (typeof m === 'function' ? m : m.default)();
}

/** Client and server sets of n items each, half shared. */
function sets(n: number): { client: string[]; server: string[] } {
  const client = Array.from({ length: n }, (_, i) => `user-${i}@example.org`);
  const server = Array.from({ length: n }, (_, i) => `user-${i + n / 2}@example.org`);
  return { client, server };
}

async function vflareTwoParty(
  client: readonly string[],
  server: readonly string[],
  mode: PsiMode,
  pool: PsiPool,
  container: ContainerKind = 'bloom',
  fpr = 1e-9,
): Promise<{ seconds: number; hits: number; setupBytes: number }> {
  const t = performance.now();
  const s = PsiServer.create({ mode, pool });
  const c = PsiClient.create({ mode, pool });
  const setupBytes = encodeSetup(
    await s.createSetup(server, { fpr, numClientInputs: client.length, container }),
  );
  const req = encodeRequest(await c.createRequest(client));
  const res = encodeResponse(await s.processRequest(decodeRequest(req)));
  const hits = await c.intersection(decodeSetup(setupBytes), decodeResponse(res));
  return {
    seconds: (performance.now() - t) / 1000,
    hits: hits.length,
    setupBytes: setupBytes.length,
  };
}

function psiJsTwoParty(
  psi: PSILibrary,
  client: readonly string[],
  server: readonly string[],
  fpr = 1e-9,
): { seconds: number; hits: number } {
  const t = performance.now();
  const s = psi.server!.createWithNewKey(true);
  const c = psi.client!.createWithNewKey(true);
  const setup = s.createSetupMessage(fpr, client.length, server, psi.dataStructure.BloomFilter);
  const req = c.createRequest(client);
  const res = s.processRequest(req);
  const hits = c.getIntersection(setup, res).length;
  s.delete();
  c.delete();
  return { seconds: (performance.now() - t) / 1000, hits };
}

/** node:crypto ECDH x(k·P) per second on all cores, through the pool (large batches). */
async function ecdhRateAllCores(pool: PsiPool, n: number): Promise<number> {
  const e = createECDH('prime256v1');
  const xs: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    e.generateKeys();
    xs.push(new Uint8Array(e.getPublicKey().subarray(1, 33)));
  }
  const t = performance.now();
  await pool.run('fast-multiply', 12345n, xs, 32);
  return n / ((performance.now() - t) / 1000);
}

/**
 * Extra seconds per item the fused fast hash costs over a bare multiplication (one core).
 * Fused and bare blocks alternate so that load from other processes hits both alike.
 */
function fastHashUnitCost(n: number): number {
  const key = nativeKey(987654321n);
  const scratch = Buffer.alloc(33);
  const encoder = new TextEncoder();
  let fused = 0;
  let bare = 0;
  const block = 25;
  for (let at = 0; at < n; at += block) {
    const items = Array.from({ length: block }, (_, i) => encoder.encode(`item-${at + i}`));
    let t = performance.now();
    const xs = items.map((m) => new Uint8Array(fastHashMultiply(key, m, scratch)));
    fused += performance.now() - t;
    t = performance.now();
    for (let i = 0; i < xs.length; i++) fastMultiply(key, xs[i]!, i, scratch);
    bare += performance.now() - t;
  }
  return Math.max(0, (fused - bare) / 1000 / n);
}

function resetCounts(pool: PsiPool): void {
  for (const k of Object.keys(pool.counts) as (keyof PsiPool['counts'])[]) pool.counts[k] = 0;
}

const suite: Suite = {
  name: 'psi',
  description:
    'private set intersection: vflare fast/compatible vs psi.js, N-site workflow, bounds',
  async run({ quick, log }): Promise<Figure[]> {
    const figures: Figure[] = [];
    const add = (f: Figure) => {
      figures.push(f);
      log(
        `${f.name}: ${f.value} ${f.unit}${f.ratio === undefined ? '' : ` (ratio ${f.ratio.toFixed(2)})`}`,
      );
    };
    const cores = availableParallelism();
    const pool = new PsiPool(cores);
    const psi = await loadPsiJs();
    const skip = new Set((process.env['PSI_BENCH_SKIP'] ?? '').split(',').filter(Boolean));

    // Warm the workers (thread start and module load are not part of any figure).
    await vflareTwoParty(sets(200).client, sets(200).server, 'fast', pool);

    const rate = await ecdhRateAllCores(pool, quick ? 2000 : 20000);
    const hashCost = fastHashUnitCost(quick ? 500 : 3000);
    add({
      name: 'node:crypto ECDH x(kP), all cores',
      value: Math.round(rate),
      unit: 'ops/s',
      note: `${cores} workers`,
    });
    add({
      name: 'fast hash-to-group extra cost, one core',
      value: hashCost * 1e6,
      unit: 'µs/item',
    });
    // The bound of a run: its counted multiplications and hashes at the ECDH rate and hash cost
    // measured just before and just after it (their mean), so that load from other processes
    // during the run weighs on the bound as on the run.
    const calibrate = async () => ({
      rate: await ecdhRateAllCores(pool, quick ? 500 : 2000),
      hash: fastHashUnitCost(quick ? 100 : 400),
    });
    const bounded = async <T>(run: () => Promise<T>): Promise<{ value: T; bound: number }> => {
      const before = await calibrate();
      resetCounts(pool);
      const value = await run();
      const hashes = pool.counts['fast-hash-encrypt'];
      const mults = hashes + pool.counts['fast-multiply'];
      const after = await calibrate();
      const r = (before.rate + after.rate) / 2;
      const h = (before.hash + after.hash) / 2;
      return { value, bound: mults / r + (hashes * h) / cores };
    };

    // Two-party runs.
    const twoParty = async (n: number) => {
      const { client, server } = sets(n);
      const label = `${n / 1000}k×${n / 1000}k`;
      const { value: fast, bound: b } = await bounded(() =>
        vflareTwoParty(client, server, 'fast', pool),
      );
      const js =
        skip.has('psijs') || skip.has(`psijs-${n / 1000}k`)
          ? null
          : psiJsTwoParty(psi, client, server);
      const compat =
        skip.has('compat') || skip.has(`compat-${n / 1000}k`)
          ? null
          : await vflareTwoParty(client, server, 'openmined', pool);
      const peer =
        js === null
          ? {}
          : { peer: 'psi.js', peerValue: js.seconds, ratio: js.seconds / fast.seconds };
      add({
        name: `2-party ${label} fast`,
        value: fast.seconds,
        unit: 's',
        ...peer,
        note: `ratio = psi.js/ours; hits ${fast.hits}`,
      });
      add({
        name: `2-party ${label} fast, native-bound efficiency`,
        value: b / fast.seconds,
        unit: 'bound/ours',
        note: `bound ${b.toFixed(2)} s`,
      });
      if (compat !== null) {
        const p2 =
          js === null
            ? {}
            : { peer: 'psi.js', peerValue: js.seconds, ratio: js.seconds / compat.seconds };
        add({
          name: `2-party ${label} openmined-compatible`,
          value: compat.seconds,
          unit: 's',
          ...p2,
          note: `ratio = psi.js/ours; hits ${compat.hits}`,
        });
      }
      if (js !== null)
        add({
          name: `2-party ${label} psi.js`,
          value: js.seconds,
          unit: 's',
          note: `hits ${js.hits}`,
        });
    };
    await twoParty(quick ? 1000 : 10_000);

    // Bytes per server item of each container, at n items, fpr 1e-9.
    if (!skip.has('bytes')) {
      const n = quick ? 1000 : 10_000;
      const { client, server } = sets(n);
      for (const container of ['bloom', 'gcs', 'raw'] as const) {
        for (const mode of ['fast', 'openmined'] as const) {
          if (mode === 'openmined' && (skip.has('compat') || skip.has('bytes-compat'))) continue;
          const r = await vflareTwoParty(client, server, mode, pool, container);
          add({
            name: `${container} bytes per item, ${mode}, ${n}`,
            value: r.setupBytes / n,
            unit: 'B/item',
          });
        }
      }
    }

    // N-site workflow in the simulator.
    {
      const n = quick ? 1000 : 10_000;
      const ws = await mkdtemp(join(tmpdir(), 'vflare-psi-bench-'));
      try {
        const siteCounts = (process.env['PSI_BENCH_SITES'] ?? '3,5,10')
          .split(',')
          .filter(Boolean)
          .map(Number);
        for (const t of quick ? [2, 3] : siteCounts) {
          // Site j has ids [j·n/(2t), j·n/(2t) + n): everyone shares the middle.
          const sites: Record<string, string[]> = {};
          for (let j = 0; j < t; j++) {
            const off = Math.floor((j * n) / (2 * t));
            sites[`site-${j + 1}`] = Array.from({ length: n }, (_, i) => `id-${off + i}`);
          }
          const { value: r, bound: b } = await bounded(() =>
            runPsi({ sites, workspace: join(ws, `t${t}`), pool, fpr: 1e-11 }),
          );
          const inter = Object.values(r.sites)[0]!.intersection;
          let peer = {};
          if (t === 2 && !skip.has('psijs')) {
            const { client, server } = { client: sites['site-1']!, server: sites['site-2']! };
            const js1 = psiJsTwoParty(psi, server, client, 1e-11);
            const js2 = psiJsTwoParty(
              psi,
              client,
              server.filter((x) => client.includes(x)),
              1e-11,
            );
            const jsT = js1.seconds + js2.seconds;
            peer = { peer: 'psi.js two runs', peerValue: jsT, ratio: jsT / r.seconds };
          }
          add({
            name: `${t} sites of ${n / 1000}k, fast, workflow`,
            value: r.seconds,
            unit: 's',
            ...peer,
            note: `intersection ${inter}; simulator included`,
          });
          add({
            name: `${t} sites of ${n / 1000}k, native-bound efficiency`,
            value: b / r.seconds,
            unit: 'bound/ours',
            note: `bound ${b.toFixed(2)} s`,
          });
        }
      } finally {
        await rm(ws, { recursive: true, force: true });
      }
    }

    if (!quick && !skip.has('100k')) await twoParty(100_000);

    if (!quick && !skip.has('issue143')) {
      const client = Array.from({ length: 333_334 }, (_, i) => `Element ${i}`);
      const server = Array.from({ length: 397 }, (_, i) => `Element ${2 * i}`);
      const r = await vflareTwoParty(client, server, 'fast', pool);
      add({
        name: 'OpenMined issue 143 sizes, fast, Bloom: hits',
        value: r.hits,
        unit: 'items',
        note: `expected 397; ${r.seconds.toFixed(1)} s`,
      });
    }

    if (!quick && !skip.has('1m')) {
      const n = 1_000_000;
      let peak = process.memoryUsage().rss;
      const timer = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss);
      }, 200);
      try {
        const { client, server } = sets(n);
        const { value: r, bound: b } = await bounded(() =>
          vflareTwoParty(client, server, 'fast', pool),
        );
        add({ name: '2-party 1M×1M fast', value: r.seconds, unit: 's', note: `hits ${r.hits}` });
        add({
          name: '2-party 1M×1M fast, native-bound efficiency',
          value: b / r.seconds,
          unit: 'bound/ours',
        });
      } finally {
        clearInterval(timer);
      }
      add({ name: '2-party 1M×1M fast, peak RSS', value: Math.round(peak / 2 ** 20), unit: 'MiB' });
    }
    await pool.close();
    return figures;
  },
};

export default suite;
