import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Session, tidyGrpcReason } from '../../src/deploy/admin/session.js';
import { linkSettings } from '../../src/deploy/grpc/link.js';
import { FederationServer } from '../../src/deploy/grpc/server.js';
import { pocPrepare, pocStart, pocStop, processAlive } from '../../src/deploy/poc/poc.js';
import {
  kitProblem,
  loadKit,
  type ProvisionResult,
  provision,
} from '../../src/deploy/provision/index.js';
import { silentLogger } from '../../src/runtime/core/index.js';

let dir: string;
let kits: ProvisionResult;
let other: ProvisionResult;

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((ok) => {
    const sock = connect({ host, port }, () => {
      sock.destroy();
      ok(true);
    });
    sock.once('error', () => ok(false));
  });
}

async function freePort(): Promise<number> {
  return new Promise((ok) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vflare-robust-'));
  const common = {
    server: { host: 'localhost', port: 0 },
    sites: [{ name: 'site-1' }, { name: 'site-2' }],
    admins: [{ name: 'admin', role: 'project-admin' as const }],
    listen: { host: '127.0.0.1', port: 0 },
  };
  kits = await provision({ ...common, project: 'demo', out: join(dir, 'kits') });
  other = await provision({ ...common, project: 'other', out: join(dir, 'other') });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('kit checks at start', () => {
  it('accepts the kits provision wrote', async () => {
    for (const k of [kits.serverKit, kits.siteKits['site-1']!, kits.adminKits['admin']!]) {
      expect(kitProblem(await loadKit(k))).toBeNull();
    }
  });

  it('names a kit whose certificate is for another party, another kind or another root', async () => {
    const site1 = await loadKit(kits.siteKits['site-1']!, 'site');
    const site2 = await loadKit(kits.siteKits['site-2']!, 'site');
    const server = await loadKit(kits.serverKit, 'server');
    const foreign = await loadKit(other.siteKits['site-1']!, 'site');
    expect(kitProblem({ ...site1, certPem: site2.certPem })).toMatch(
      /names the party "site-1" but its certificate is for "site-2"/,
    );
    expect(kitProblem({ ...site1, certPem: server.certPem })).toMatch(
      /is a server certificate, but the kit is a site kit/,
    );
    expect(kitProblem({ ...site1, certPem: foreign.certPem })).toMatch(
      /not issued by the federation root CA/,
    );
  });
});

describe('server listen address', () => {
  it("binds the kit's listen address (loopback here), not every interface", async () => {
    const kit = await loadKit(kits.serverKit, 'server');
    expect(kit.config.kind === 'server' && kit.config.listen).toEqual({
      host: '127.0.0.1',
      port: 0,
    });
    const s = new FederationServer({ kit, log: silentLogger, link: linkSettings({}) });
    try {
      const port = await s.listen();
      // 127.0.0.2 is loopback too: a listener on every interface would accept it.
      expect(await canConnect('127.0.0.1', port)).toBe(true);
      expect(await canConnect('127.0.0.2', port)).toBe(false);
    } finally {
      await s.close();
    }
  });

  it('says the port is in use instead of a raw EADDRINUSE', async () => {
    const kit = await loadKit(kits.serverKit, 'server');
    const a = new FederationServer({ kit, log: silentLogger, link: linkSettings({}) });
    const port = await a.listen();
    const b = new FederationServer({ kit, log: silentLogger, link: linkSettings({}), port });
    try {
      await expect(b.listen()).rejects.toThrow(
        new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use`),
      );
    } finally {
      await a.close();
      await b.close().catch(() => undefined);
    }
  });
});

describe('admin connection errors', () => {
  it('turns a grpc-js TLS failure into a short reason with what to check', () => {
    const raw =
      'No connection established. Last error: Error: self-signed certificate in certificate ' +
      'chain. Resolution note: ';
    const why = tidyGrpcReason(raw);
    expect(why).toMatch(/^TLS handshake failed \(self-signed certificate in certificate chain\)/);
    expect(why).toMatch(/same project, same root CA/);
    expect(why).not.toMatch(/Resolution note/);
    expect(tidyGrpcReason('connect ECONNREFUSED 127.0.0.1:1')).toBe(
      'connect ECONNREFUSED 127.0.0.1:1',
    );
  });
});

describe('POC start and stop misuse', () => {
  it('refuses a second start while the recorded processes live, and a folder never prepared', async () => {
    const poc = join(dir, 'poc');
    await pocPrepare({ dir: poc, sites: 1, port: await freePort() });
    // This test process stands in for a running party: its pid is alive.
    await writeFile(
      join(poc, 'poc.json'),
      JSON.stringify({ processes: [{ party: 'server', pid: process.pid }] }),
    );
    await expect(pocStart({ dir: poc, command: [process.execPath, '-e', ''] })).rejects.toThrow(
      /already running \(server pid \d+\); run vflare poc stop/,
    );
    // Starting only the server is refused too while its recorded process lives.
    await expect(
      pocStart({ dir: poc, parties: ['server'], command: [process.execPath, '-e', ''] }),
    ).rejects.toThrow(/already running \(server pid \d+\)/);
    await expect(pocStart({ dir: poc, parties: ['site-7'] })).rejects.toThrow(
      /no party site-7 in the POC in .* \(it has server, site-1\)/,
    );
    await rm(join(poc, 'poc.json'));
    await expect(pocStop({ dir: poc })).rejects.toThrow(/no POC is running from .*already stopped/);
    await expect(pocStart({ dir: join(dir, 'never') })).rejects.toThrow(
      /is not a POC folder .*run vflare poc prepare/,
    );
  });

  it('fails fast, pointing at the log, when the server exits during start', async () => {
    const poc = join(dir, 'poc-dies');
    await pocPrepare({ dir: poc, sites: 2, port: await freePort() });
    const t0 = performance.now();
    // Every "party" exits at once: the server's exit must end the wait, not the 60 s timeout.
    await expect(
      pocStart({ dir: poc, command: [process.execPath, '-e', 'process.exit(3)'] }),
    ).rejects.toThrow(/the POC server exited during start; see .*server\.log/);
    expect(performance.now() - t0).toBeLessThan(20_000);
    await expect(readFile(join(poc, 'poc.json'), 'utf8')).rejects.toThrow();
  });

  it('fails at once, naming the port, when another process holds it', async () => {
    const port = await freePort();
    const poc = join(dir, 'poc-port-taken');
    await pocPrepare({ dir: poc, sites: 2, port });
    // A plain TCP listener: it accepts connections and never answers a TLS handshake.
    const holder = createServer(() => undefined);
    await new Promise<void>((ok) => holder.listen(port, '127.0.0.1', ok));
    try {
      const t0 = performance.now();
      await expect(
        pocStart({ dir: poc, command: [process.execPath, '-e', 'setInterval(() => {}, 1000)'] }),
      ).rejects.toThrow(
        new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use by another process`),
      );
      expect(performance.now() - t0).toBeLessThan(20_000);
      // Nothing was launched: no recorded processes, no logs.
      await expect(readFile(join(poc, 'poc.json'), 'utf8')).rejects.toThrow();
      await expect(readFile(join(poc, 'logs', 'server.log'), 'utf8')).rejects.toThrow();
    } finally {
      await new Promise((ok) => holder.close(ok));
    }
  });

  it("reports the server's own exit reason and leaves no process behind", async () => {
    const poc = join(dir, 'poc-reason');
    await pocPrepare({ dir: poc, sites: 2, port: await freePort() });
    const pids: number[] = [];
    const log = {
      ...silentLogger,
      info: (obj: object | string) => {
        if (typeof obj === 'object' && 'pid' in obj) pids.push(obj.pid as number);
      },
    };
    // The "server" fails the way the CLI reports a taken port (another process may grab the
    // port between the check and the server's start); the "sites" would run forever.
    const party = [
      "if (process.argv[1] === 'server') {",
      "  console.error('error: cannot listen on 127.0.0.1:1: the port is in use');",
      '  setTimeout(() => process.exit(1), 300);',
      '} else setInterval(() => {}, 1000);',
    ].join('\n');
    await expect(
      pocStart({ dir: poc, command: [process.execPath, '-e', party], log }),
    ).rejects.toThrow(/exited during start: cannot listen on 127\.0\.0\.1:1: the port is in use/);
    expect(pids).toHaveLength(3);
    expect(pids.filter(processAlive)).toEqual([]);
    await expect(readFile(join(poc, 'poc.json'), 'utf8')).rejects.toThrow();
  });

  it('stops the processes it started when the federation does not come up in time', async () => {
    const poc = join(dir, 'poc-timeout');
    await pocPrepare({ dir: poc, sites: 1, port: await freePort() });
    const pids: number[] = [];
    const log = {
      ...silentLogger,
      info: (obj: object | string) => {
        if (typeof obj === 'object' && 'pid' in obj) pids.push(obj.pid as number);
      },
    };
    // Every party runs but none ever says it listens.
    await expect(
      pocStart({
        dir: poc,
        command: [process.execPath, '-e', 'setInterval(() => {}, 1000)'],
        timeoutMs: 1_500,
        log,
      }),
    ).rejects.toThrow(/did not come up in time .*the processes this start launched were stopped/);
    expect(pids).toHaveLength(2);
    expect(pids.filter(processAlive)).toEqual([]);
  });
});

describe('admin sessions', () => {
  it('name a port held by a program that never answers TLS, instead of hanging', async () => {
    const port = await freePort();
    const held = new Set<Socket>();
    const holder = createServer((socket) => held.add(socket));
    await new Promise<void>((ok) => holder.listen(port, '127.0.0.1', ok));
    try {
      await expect(
        Session.open(kits.adminKits['admin']!, { host: '127.0.0.1', port, timeoutMs: 1_000 }),
      ).rejects.toThrow(
        `cannot reach the server at 127.0.0.1:${port}: something accepted the connection but ` +
          'did not answer the TLS handshake within 1000 ms; is another program listening on ' +
          'that port?',
      );
    } finally {
      // The holder never reads, so it would not notice the client leaving: close its side.
      for (const socket of held) socket.destroy();
      await new Promise((ok) => holder.close(ok));
    }
  });
});
