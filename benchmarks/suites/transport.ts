/**
 * Transport benchmarks (suite `transport`), on loopback in one process:
 *
 * 1. `weights round trip`: one 100 MB frame (a weight set's bytes) from the server to each of 3
 *    sites and one back from each, over vflare's gRPC driver with mutual TLS (chunking, size
 *    check, reassembly). Peer: a raw grpc-js bidirectional stream over gRPC's own mutual TLS,
 *    carrying the same bytes in 1 MiB messages without any framing of ours, measured in the same
 *    run. Ratio = raw time / vflare time (throughput relative to raw; goal ≥ 0.8).
 * 2. `idle heartbeat CPU`: 50 connected sites idle for 10 s (heartbeat every 5 s, the default):
 *    CPU time of the whole process (server and sites) per second of wall time.
 *
 * `--quick` uses 10 MB frames and a 3 s idle window.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { FederationClient } from '../../src/deploy/grpc/client.js';
import { linkSettings } from '../../src/deploy/grpc/link.js';
import { FederationServer } from '../../src/deploy/grpc/server.js';
import { loadKit, provision } from '../../src/deploy/provision/index.js';
import { silentLogger } from '../../src/runtime/core/index.js';
import type { Figure, Suite } from '../types.js';

const MiB = 1024 * 1024;

async function until(cond: () => boolean, ms = 60_000): Promise<void> {
  const start = performance.now();
  while (!cond()) {
    if (performance.now() - start > ms) throw new Error('benchmark condition not met in time');
    await new Promise((r) => setTimeout(r, 2));
  }
}

export async function vflareRoundTrip(
  dir: string,
  sites: string[],
  bytes: number,
  chunkBytes = MiB,
): Promise<number> {
  const kit = await loadKit(join(dir, 'server'), 'server');
  const link = linkSettings({ maxMessageBytes: bytes + MiB, chunkBytes });
  const server = new FederationServer({ kit, log: silentLogger, link, host: '127.0.0.1', port: 0 });
  const port = await server.listen();
  const clients: FederationClient[] = [];
  try {
    let atServer = 0;
    const atSites = new Map<string, number>();
    const ep = server.jobEndpoint('bench');
    await ep.start({ onFrame: () => atServer++ });
    const endpoints = [];
    for (const site of sites) {
      const c = new FederationClient({
        kit: await loadKit(join(dir, site), 'site'),
        link,
        log: silentLogger,
        host: 'localhost',
        port,
        onControl: () => {},
      });
      clients.push(c);
      await c.start();
      const cep = c.jobEndpoint('bench');
      await cep.connect({ onFrame: () => atSites.set(site, (atSites.get(site) ?? 0) + 1) });
      endpoints.push(cep);
    }
    // Let the job streams reach the server before timing.
    for (const cep of endpoints) await cep.send(new Uint8Array(1));
    await until(() => atServer === sites.length && ep.connectedSites().length === sites.length);
    const payload = new Uint8Array(bytes).fill(7);
    const t0 = performance.now();
    await Promise.all(sites.map((s) => ep.send(s, payload)));
    await until(() => sites.every((s) => (atSites.get(s) ?? 0) >= 1));
    await Promise.all(endpoints.map((cep) => cep.send(payload)));
    await until(() => atServer === 2 * sites.length);
    return performance.now() - t0;
  } finally {
    for (const c of clients) await c.close();
    await server.close();
  }
}

const id = (b: Buffer): Buffer => b;
const rawService = {
  pipe: {
    path: '/bench.Raw/Pipe',
    requestStream: true,
    responseStream: true,
    requestSerialize: id,
    requestDeserialize: id,
    responseSerialize: id,
    responseDeserialize: id,
  },
} satisfies grpc.ServiceDefinition;

/** The same traffic on plain grpc-js streams with gRPC's own mutual TLS, no framing of ours. */
export async function rawRoundTrip(dir: string, sites: string[], bytes: number): Promise<number> {
  const kit = await loadKit(join(dir, 'server'), 'server');
  const opts = {
    'grpc.max_receive_message_length': 2 * MiB,
    'grpc.max_send_message_length': 2 * MiB,
  };
  const payload = Buffer.alloc(bytes, 7);
  const chunks: Buffer[] = [];
  for (let o = 0; o < bytes; o += MiB) chunks.push(payload.subarray(o, Math.min(bytes, o + MiB)));
  const server = new grpc.Server(opts);
  let fromSites = 0;
  const calls: grpc.ServerDuplexStream<Buffer, Buffer>[] = [];
  server.addService(rawService, {
    pipe: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      calls.push(call);
      let got = 0;
      call.on('data', (b: Buffer) => {
        got += b.length;
        if (got === 1) return; // the hello byte
        if (got - 1 >= bytes) fromSites++;
      });
    },
  });
  const creds = grpc.ServerCredentials.createSsl(
    Buffer.from(kit.rootCaPem),
    [{ private_key: Buffer.from(kit.keyPem), cert_chain: Buffer.from(kit.certPem) }],
    true,
  );
  const port = await new Promise<number>((ok, fail) =>
    server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? fail(err) : ok(p))),
  );
  const Ctor = grpc.makeGenericClientConstructor(rawService, 'Raw');
  const clients: grpc.Client[] = [];
  const streams: grpc.ClientDuplexStream<Buffer, Buffer>[] = [];
  const received = new Map<number, number>();
  try {
    for (const [i, site] of sites.entries()) {
      const skit = await loadKit(join(dir, site), 'site');
      const c = new Ctor(
        `localhost:${port}`,
        grpc.credentials.createSsl(
          Buffer.from(skit.rootCaPem),
          Buffer.from(skit.keyPem),
          Buffer.from(skit.certPem),
        ),
        opts,
      );
      clients.push(c);
      const s = (c as unknown as Record<string, () => grpc.ClientDuplexStream<Buffer, Buffer>>)[
        'pipe'
      ]!.call(c);
      s.on('data', (b: Buffer) => received.set(i, (received.get(i) ?? 0) + b.length));
      s.on('error', () => {});
      s.write(Buffer.alloc(1));
      streams.push(s);
    }
    await until(() => calls.length === sites.length);
    const writeAll = async (w: grpc.ServerDuplexStream<Buffer, Buffer> | (typeof streams)[0]) => {
      for (const ch of chunks) {
        if (!w.write(ch)) await new Promise((r) => w.once('drain', r));
      }
    };
    const t0 = performance.now();
    await Promise.all(calls.map((c) => writeAll(c)));
    await until(() => sites.every((_, i) => (received.get(i) ?? 0) >= bytes));
    await Promise.all(streams.map((s) => writeAll(s)));
    await until(() => fromSites === sites.length);
    return performance.now() - t0;
  } finally {
    for (const s of streams) s.cancel();
    for (const c of clients) c.close();
    server.forceShutdown();
  }
}

async function idleCpu(dir: string, n: number, windowMs: number): Promise<number> {
  const kit = await loadKit(join(dir, 'server'), 'server');
  const link = linkSettings({});
  const server = new FederationServer({
    kit,
    log: silentLogger,
    link,
    host: '127.0.0.1',
    port: 0,
    heartbeatMs: 5_000,
  });
  const port = await server.listen();
  const clients: FederationClient[] = [];
  try {
    for (let i = 1; i <= n; i++) {
      const c = new FederationClient({
        kit: await loadKit(join(dir, `idle-${i}`), 'site'),
        link,
        log: silentLogger,
        host: 'localhost',
        port,
        onControl: () => {},
      });
      clients.push(c);
      await c.start();
    }
    await until(() => server.onlineSites().length === n);
    await new Promise((r) => setTimeout(r, 1_000));
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, windowMs));
    const cpu = process.cpuUsage(cpu0);
    const wall = performance.now() - t0;
    return (cpu.user + cpu.system) / 1000 / (wall / 1000);
  } finally {
    for (const c of clients) await c.close();
    await server.close();
  }
}

const suite: Suite = {
  name: 'transport',
  description: 'gRPC + mutual TLS driver: 3-site weight round trip vs raw grpc-js; idle heartbeats',
  async run({ quick, log }): Promise<Figure[]> {
    const dir = await mkdtemp(join(tmpdir(), 'vflare-bench-transport-'));
    try {
      const sites = ['site-1', 'site-2', 'site-3'];
      const idle = Array.from({ length: 50 }, (_, i) => ({ name: `idle-${i + 1}` }));
      await provision({
        project: 'bench',
        server: { host: 'localhost', port: 0 },
        serverAltNames: ['127.0.0.1'],
        sites: [...sites.map((name) => ({ name })), ...idle],
        admins: [{ name: 'admin', role: 'project-admin' }],
        out: dir,
      });
      const bytes = (quick ? 10 : 100) * 1_000_000;
      const mb = bytes / 1_000_000;
      // Warm-up at a small size, then alternate and keep each side's best of two.
      await vflareRoundTrip(dir, sites, 1_000_000);
      await rawRoundTrip(dir, sites, 1_000_000);
      let ours = Number.POSITIVE_INFINITY;
      let raw = Number.POSITIVE_INFINITY;
      for (let i = 0; i < 2; i++) {
        ours = Math.min(ours, await vflareRoundTrip(dir, sites, bytes));
        log(`vflare round trip ${mb} MB × 3 sites: ${ours.toFixed(0)} ms`);
        raw = Math.min(raw, await rawRoundTrip(dir, sites, bytes));
        log(`raw grpc-js round trip: ${raw.toFixed(0)} ms`);
      }
      const windowMs = quick ? 3_000 : 10_000;
      const cpuMsPerS = await idleCpu(dir, 50, windowMs);
      log(`50 idle sites: ${cpuMsPerS.toFixed(2)} CPU ms per s`);
      const moved = (6 * bytes) / 1_000_000;
      return [
        {
          name: `weights round trip, ${mb} MB server→3 sites→server (gRPC+mTLS)`,
          value: ours,
          unit: 'ms',
          peer: 'raw grpc-js stream, same bytes, gRPC mTLS',
          peerValue: raw,
          ratio: raw / ours,
          note: `ratio = raw time / vflare time (relative throughput; goal ≥ 0.8); vflare ${(
            moved / (ours / 1000)
          ).toFixed(0)} MB/s`,
        },
        {
          name: '50 idle connected sites, heartbeat every 5 s',
          value: cpuMsPerS,
          unit: 'CPU ms/s',
          note: `server and sites in one process; ${windowMs / 1000} s window`,
        },
      ];
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
};

export default suite;
