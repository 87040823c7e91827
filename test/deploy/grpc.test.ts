import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  callUnary,
  FederationClient,
  type FederationClientOptions,
  makeGrpcClient,
} from '../../src/deploy/grpc/client.js';
import { linkSettings } from '../../src/deploy/grpc/link.js';
import { encode, TOKEN_HEADER } from '../../src/deploy/grpc/protocol.js';
import { FederationServer } from '../../src/deploy/grpc/server.js';
import {
  loadKit,
  type ProvisionResult,
  provision,
  type StartupKit,
} from '../../src/deploy/provision/index.js';
import { collectingLogger, type LogRecord } from '../../src/runtime/core/index.js';

let dir: string;
let kits: ProvisionResult;
let foreign: ProvisionResult;
let serverKit: StartupKit;
let server: FederationServer;
let port: number;
const serverLogs: LogRecord[] = [];
const link = linkSettings({
  maxMessageBytes: 4 * 1024 * 1024,
  chunkBytes: 64 * 1024,
  progressTimeoutMs: 2000,
});
const clients: FederationClient[] = [];

/** Stops the clients earlier tests left running for `site` (one process per site at a time). */
async function closeSite(site: string): Promise<void> {
  for (const c of clients.filter((x) => x.site === site)) await c.close();
}

/**
 * A control stream opened by hand, below FederationClient, for hostile-input tests: with the
 * token a fresh registration returns (`'register'`) or with the given one.
 */
async function rawControl(site: string, token: string) {
  const kit = await loadKit(kits.siteKits[site]!, 'site');
  const raw = makeGrpcClient({ kit, link, host: 'localhost', port });
  if (token === 'register') {
    const reply = await callUnary(
      raw,
      'register',
      encode({ site, project: 'demo', resources: {} }),
      5000,
    );
    const { unpack } = await import('msgpackr');
    token = (unpack(reply) as { token: string }).token;
  }
  const md = new grpc.Metadata();
  md.set(TOKEN_HEADER, token);
  type Open = (m: grpc.Metadata) => grpc.ClientDuplexStream<Buffer, Buffer>;
  const call = (raw as unknown as Record<string, Open>)['control']!.call(raw, md);
  call.on('error', () => {});
  call.on('data', () => {});
  return { raw, call };
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > ms) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function client(
  kit: StartupKit,
  logs: LogRecord[] = [],
  extra: Partial<FederationClientOptions> = {},
) {
  const c = new FederationClient({
    kit,
    link,
    log: collectingLogger(logs),
    host: 'localhost',
    port,
    onControl: () => {},
    minBackoffMs: 50,
    maxBackoffMs: 200,
    ...extra,
  });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vflare-grpc-'));
  const common = {
    project: 'demo',
    server: { host: 'localhost', port: 0 },
    serverAltNames: ['127.0.0.1'],
    sites: [{ name: 'site-1' }, { name: 'site-2' }, { name: 'site-3' }],
    admins: [{ name: 'admin', role: 'project-admin' as const }],
  };
  kits = await provision({ ...common, out: join(dir, 'fed') });
  foreign = await provision({ ...common, out: join(dir, 'other') });
  serverKit = await loadKit(kits.serverKit, 'server');
  server = new FederationServer({
    kit: serverKit,
    log: collectingLogger(serverLogs),
    link,
    host: '127.0.0.1',
    port: 0,
    heartbeatMs: 200,
  });
  port = await server.listen();
});

afterAll(async () => {
  for (const c of clients) await c.close();
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('gRPC transport over mutual TLS', () => {
  it('registers a site, brings it online and carries large job frames both ways', async () => {
    const site = client(await loadKit(kits.siteKits['site-1']!, 'site'));
    await site.start();
    await until(() => server.onlineSites().includes('site-1'));

    const received: Array<[string, Uint8Array]> = [];
    const ep = server.jobEndpoint('job-1');
    await ep.start({ onFrame: (s, f) => received.push([s, f]) });
    const atSite: Uint8Array[] = [];
    const cep = site.jobEndpoint('job-1');
    await cep.connect({ onFrame: (f) => atSite.push(f) });
    const big = new Uint8Array(3 * 1024 * 1024 + 17).map((_, i) => (i * 31) & 0xff);
    await cep.send(big);
    await cep.send(new Uint8Array([1, 2, 3]));
    await until(() => received.length === 2);
    expect(received[0]![0]).toBe('site-1');
    expect(Buffer.compare(received[0]![1], big)).toBe(0);
    expect([...received[1]![1]]).toEqual([1, 2, 3]);
    await until(() => ep.connectedSites().includes('site-1'));
    await ep.send('site-1', big);
    await until(() => atSite.length === 1);
    expect(Buffer.compare(atSite[0]!, big)).toBe(0);
    // Chunk bytes that begin like an acknowledgement (byte 2) are still taken as bytes.
    const twos = new Uint8Array(300_000).fill(2);
    await ep.send('site-1', twos);
    await cep.send(twos);
    await until(() => atSite.length === 2 && received.length === 3);
    expect(Buffer.compare(atSite[1]!, twos)).toBe(0);
    expect(Buffer.compare(received[2]![1], twos)).toBe(0);
  });

  it('fails an over-size message at the sender with "message too big", without hanging', async () => {
    const site = client(await loadKit(kits.siteKits['site-2']!, 'site'));
    await site.start();
    const ep = server.jobEndpoint('job-2');
    await ep.start({ onFrame: () => {} });
    const cep = site.jobEndpoint('job-2');
    await cep.connect({ onFrame: () => {} });
    await expect(cep.send(new Uint8Array(link.maxMessageBytes + 1))).rejects.toMatchObject({
      code: 'MESSAGE_TOO_BIG',
      message: expect.stringMatching(/message too big: 4194305 bytes exceeds the limit/),
    });
    await until(() => ep.connectedSites().includes('site-2'));
    await expect(ep.send('site-2', new Uint8Array(link.maxMessageBytes + 1))).rejects.toThrow(
      /message too big/,
    );
    await cep.send(new Uint8Array(10)); // the link still works
  });

  it('refuses a certificate whose CN differs from the claimed site, and logs it on both sides', async () => {
    const imposter = join(dir, 'imposter');
    await cp(kits.siteKits['site-3']!, imposter, { recursive: true });
    const cfgPath = join(imposter, 'startup/kit.json');
    const cfg = JSON.parse(await readFile(cfgPath, 'utf8'));
    await writeFile(cfgPath, JSON.stringify({ ...cfg, name: 'site-1' }));
    const logs: LogRecord[] = [];
    const c = client(await loadKit(imposter, 'site'), logs);
    // A definitive refusal from the server: no retry, one error line, start() rejects.
    await expect(c.start()).rejects.toMatchObject({
      code: 'INVALID_CONFIG',
      message: expect.stringMatching(/refused the registration: .*does not match the claimed/),
    });
    const reasons = serverLogs.map((l) => (l.obj as { reason?: string } | undefined)?.reason);
    expect(reasons).toContain('certificate CN "site-3" does not match the claimed site "site-1"');
    expect(logs.filter((l) => l.msg.includes('retrying'))).toHaveLength(0);
    expect(logs.filter((l) => l.level === 'error').map((l) => l.msg)).toEqual([
      'the server refuses this site; giving up',
    ]);
    expect(c.connected).toBe(false);
  });

  it('refuses a site of another federation (wrong CA) at the TLS handshake, logged on both sides', async () => {
    const logs: LogRecord[] = [];
    const c = client(await loadKit(foreign.siteKits['site-1']!, 'site'), logs);
    // Bounded: the third refused handshake ends the client, with the reason, and start() rejects.
    await expect(c.start()).rejects.toMatchObject({
      code: 'INVALID_CONFIG',
      message: expect.stringMatching(/TLS handshake refused 3 times: .*certificate.*giving up/),
    });
    expect(logs.filter((l) => l.msg.includes('retrying')).length).toBeGreaterThanOrEqual(2);
    expect(logs.filter((l) => l.level === 'error')).toHaveLength(1);
    expect(serverLogs.some((l) => l.msg.includes('refused a TLS connection'))).toBe(true);
    expect(c.connected).toBe(false);
    await expect(c.waitConnected()).rejects.toThrow(/giving up/);
  });

  it('keeps retrying with doubling back-off while the server is unreachable', async () => {
    const { createServer } = await import('node:net');
    const closed = await new Promise<number>((ok) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => ok(p));
      });
    });
    const logs: LogRecord[] = [];
    const c = client(await loadKit(kits.siteKits['site-3']!, 'site'), logs, {
      port: closed,
      minBackoffMs: 20,
      maxBackoffMs: 80,
      maxHandshakeRefusals: 2,
    });
    let refused: unknown;
    c.start().catch((err: unknown) => {
      refused = err;
    });
    await until(() => logs.filter((l) => l.msg.includes('retrying')).length >= 6, 20_000);
    const delays = logs
      .filter((l) => l.msg.includes('retrying'))
      .map((l) => (l.obj as { retryInMs: number }).retryInMs);
    expect(delays.slice(0, 4)).toEqual([20, 40, 80, 80]);
    expect(refused).toBeUndefined();
    expect(c.refused).toBeUndefined();
    await c.close();
  });

  it('counts a connection dropped before any TLS answer (a proxy with no server) as an outage', async () => {
    const { createServer } = await import('node:net');
    const dropper = createServer((socket) => socket.destroy());
    const dropPort = await new Promise<number>((ok) =>
      dropper.listen(0, '127.0.0.1', () => ok((dropper.address() as { port: number }).port)),
    );
    try {
      const logs: LogRecord[] = [];
      const c = client(await loadKit(kits.siteKits['site-3']!, 'site'), logs, {
        host: '127.0.0.1',
        port: dropPort,
        minBackoffMs: 20,
        maxBackoffMs: 40,
        maxHandshakeRefusals: 2,
      });
      c.start().catch(() => undefined);
      await until(() => logs.filter((l) => l.msg.includes('retrying')).length >= 4, 20_000);
      expect(c.refused).toBeUndefined();
      expect(logs.some((l) => l.level === 'error')).toBe(false);
      await c.close();
    } finally {
      await new Promise((ok) => dropper.close(ok));
    }
  });

  it('makes `vflare client start` exit non-zero, with one clear line, on a refused certificate', async () => {
    const { execFile } = await import('node:child_process');
    const { resolve } = await import('node:path');
    const kitDir = join(dir, 'foreign-cli');
    await cp(foreign.siteKits['site-2']!, kitDir, { recursive: true });
    const cfgPath = join(kitDir, 'startup/kit.json');
    const cfg = JSON.parse(await readFile(cfgPath, 'utf8'));
    await writeFile(cfgPath, JSON.stringify({ ...cfg, server: { ...cfg.server, port } }));
    const cli = [process.execPath, '--import', 'tsx', resolve('src/cli/main.ts')];
    const result = await new Promise<{ code: number | null; out: string }>((ok) => {
      const child = execFile(cli[0]!, [...cli.slice(1), 'client', 'start', kitDir], {
        timeout: 60_000,
      });
      let out = '';
      child.stdout?.on('data', (d: string) => {
        out += d;
      });
      child.stderr?.on('data', (d: string) => {
        out += d;
      });
      child.on('exit', (code) => ok({ code, out }));
    });
    expect(result.code).toBe(1);
    expect(result.out).toMatch(/error: site site-2: TLS handshake refused 3 times: .*giving up/);
    expect(result.out.match(/the server refuses this site; giving up/g)).toHaveLength(1);
  }, 90_000);

  it('refuses streams without a valid session token and keeps serving others', async () => {
    const { raw, call } = await rawControl('site-3', 'ab'.repeat(32));
    const status = await new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    expect(status.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(status.details).toMatch(/unknown or expired session token/);
    raw.close();
    expect(server.onlineSites()).toContain('site-1');
  });

  it('closes a stream that sends malformed chunks, logs why, and loses nothing else', async () => {
    const { raw, call } = await rawControl('site-3', 'register');
    const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    call.write(Buffer.from('definitely not a chunk'));
    const st = await status;
    expect(st.details).toMatch(/malformed chunk/);
    expect(serverLogs.some((l) => l.msg.includes('refused a malformed stream message'))).toBe(true);
    raw.close();
    // site-1 is still served.
    expect(server.onlineSites()).toContain('site-1');
  });

  it('logs and drops a well-framed but malformed control message, keeping the stream', async () => {
    const { raw, call } = await rawControl('site-3', 'register');
    const { chunksOf } = await import('../../src/deploy/grpc/chunks.js');
    for (const junk of [Buffer.from([0xc1, 0xff]), encode({ type: 'heartbeat', jobs: 7 })]) {
      for (const c of chunksOf(junk, 1, 1024)) call.write(c);
    }
    await until(() => serverLogs.filter((l) => l.msg === 'refused a control message').length >= 2);
    for (const c of chunksOf(encode({ type: 'heartbeat', jobs: [] }), 2, 1024)) call.write(c);
    await until(() => server.onlineSites().includes('site-3'));
    call.cancel();
    raw.close();
  });

  it('fails a send to a peer that stops reading, after the progress timeout, not before', async () => {
    const kit = await loadKit(kits.siteKits['site-3']!, 'site');
    const raw = makeGrpcClient({ kit, link, host: 'localhost', port });
    const { unpack } = await import('msgpackr');
    const reply = await callUnary(
      raw,
      'register',
      encode({ site: 'site-3', project: 'demo', resources: {} }),
      5000,
    );
    const md = new grpc.Metadata();
    md.set(TOKEN_HEADER, (unpack(reply) as { token: string }).token);
    md.set('vflare-job', 'job-stall');
    const ep = server.jobEndpoint('job-stall');
    await ep.start({ onFrame: () => {} });
    const call = (
      raw as unknown as Record<
        string,
        (m: grpc.Metadata) => grpc.ClientDuplexStream<Buffer, Buffer>
      >
    )['job']!.call(raw, md);
    call.on('error', () => {});
    call.pause(); // never reads: flow control stops the sender
    await until(() => ep.connectedSites().includes('site-3'));
    const frame = new Uint8Array(4_000_000);
    let error: unknown;
    let sent = 0;
    let t0 = performance.now();
    for (; sent < 40 && error === undefined; sent++) {
      t0 = performance.now();
      await ep.send('site-3', frame).catch((e: unknown) => {
        error = e;
      });
    }
    // Bounded: the credit window (16 MiB) stops the sender long before 40 frames.
    expect(sent).toBeLessThanOrEqual(6);
    expect(String(error)).toMatch(/accepted no data for 2000 ms/);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(1900);
    call.cancel();
    raw.close();
  });

  it('refuses an expired site certificate at the TLS handshake', async () => {
    const { loadRootCa, issueIdentity } = await import('../../src/deploy/provision/index.js');
    const root = await loadRootCa(
      await readFile(join(kits.caDir, 'rootCA.pem'), 'utf8'),
      await readFile(join(kits.caDir, 'rootCA.key'), 'utf8'),
    );
    const old = await issueIdentity(
      root,
      { name: 'site-3', org: 'demo', role: 'client' },
      { notBefore: new Date(Date.now() - 3 * 86_400_000), days: 1 },
    );
    const expired = join(dir, 'expired');
    await cp(kits.siteKits['site-3']!, expired, { recursive: true });
    await writeFile(join(expired, 'startup/cert.pem'), old.certPem);
    await writeFile(join(expired, 'startup/key.pem'), old.keyPem);
    const before = serverLogs.filter((l) => l.msg.includes('refused a TLS connection')).length;
    const logs: LogRecord[] = [];
    const c = client(await loadKit(expired, 'site'), logs);
    await expect(c.start()).rejects.toThrow(/TLS handshake refused 3 times/);
    expect(
      serverLogs.filter((l) => l.msg.includes('refused a TLS connection')).length,
    ).toBeGreaterThan(before);
    const reasons = serverLogs.map((l) => JSON.stringify(l.obj ?? {}));
    expect(reasons.some((r) => /CERT_HAS_EXPIRED|expired/i.test(r))).toBe(true);
    expect(c.connected).toBe(false);
  });

  it('reconnects with back-off after the server restarts', async () => {
    const logs: LogRecord[] = [];
    await closeSite('site-2');
    const kit = await loadKit(kits.siteKits['site-2']!, 'site');
    const c = client(kit, logs);
    await c.start();
    await server.close();
    await until(() => !c.connected);
    server = new FederationServer({
      kit: serverKit,
      log: collectingLogger(serverLogs),
      link,
      host: '127.0.0.1',
      port,
      heartbeatMs: 200,
    });
    await server.listen();
    await c.waitConnected();
    await until(() => server.onlineSites().includes('site-2'));
    expect(logs.some((l) => l.msg === 'reconnected to the server')).toBe(true);
  });

  it('refuses a second process of a connected site, which takes over once the first stops', async () => {
    await closeSite('site-1');
    const kit = await loadKit(kits.siteKits['site-1']!, 'site');
    const first = client(kit);
    await first.start();
    const logs: LogRecord[] = [];
    const second = client(kit, logs);
    void second.start().catch(() => undefined);
    const refused = (l: LogRecord) =>
      /already connected from another process/.test(JSON.stringify(l.obj ?? {}));
    await until(() => logs.some(refused), 15_000);
    expect(first.connected).toBe(true);
    expect(second.connected).toBe(false);
    await first.close();
    await second.waitConnected();
    expect(server.onlineSites()).toContain('site-1');
  }, 30_000);
});
