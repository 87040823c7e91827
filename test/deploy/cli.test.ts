import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { ServerProcess } from '../../src/deploy/server/server-process.js';
import { captureIo as io } from '../cli/capture.js';
import { testRegistry } from './helpers.js';

let dir: string;
let server: ServerProcess;

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
  dir = await mkdtemp(join(tmpdir(), 'vflare-cli-'));
  const port = await freePort();
  const p = io();
  const code = await main(
    [
      'provision',
      '--project',
      'cli',
      '--server',
      `localhost:${port}`,
      '--alt-names',
      '127.0.0.1',
      '--sites',
      'site-1',
      '--admins',
      'root,mia:member',
      '--out',
      join(dir, 'kits'),
    ],
    p,
  );
  expect(code).toBe(0);
  expect(p.stdout()).toMatch(/admin kit mia: /);
  server = await ServerProcess.start({
    kitDir: join(dir, 'kits', 'server'),
    registry: testRegistry(),
    host: '127.0.0.1',
    startupGraceMs: 0,
  });
});

afterAll(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('vflare admin (one-shot)', () => {
  it('prints JSON with --json and exits 0', async () => {
    const p = io();
    expect(await main(['admin', join(dir, 'kits', 'root'), 'check_status', '--json'], p)).toBe(0);
    expect(JSON.parse(p.stdout())).toMatchObject({ project: 'cli', server: 'started' });
    const q = io();
    expect(await main(['admin', join(dir, 'kits', 'root'), 'list_jobs', '-r', '-m', '2'], q)).toBe(
      0,
    );
    expect(q.stdout()).toBe('no jobs\n');
  });

  it('exits 1 with a clear message on an unknown job, a refused command or bad usage', async () => {
    const a = io();
    expect(await main(['admin', join(dir, 'kits', 'root'), 'get_job_meta', 'nope'], a)).toBe(1);
    expect(a.stderr()).toMatch(/no job with id nope/);
    const b = io();
    expect(await main(['admin', join(dir, 'kits', 'mia'), 'shutdown'], b)).toBe(1);
    expect(b.stderr()).toMatch(/not authorised: .*may not run shutdown/);
    const c = io();
    expect(await main(['admin', join(dir, 'kits', 'root'), 'list_jobs', '-m', 'x'], c)).toBe(1);
    expect(c.stderr()).toMatch(/-m: expected a positive integer/);
    const d = io();
    expect(await main(['admin', join(dir, 'kits', 'site-1'), 'check_status'], d)).toBe(1);
    expect(d.stderr()).toMatch(/is a site kit, but an admin kit is needed/);
  });
});

describe('vflare admin (console)', () => {
  it('runs every piped command in order and counts the failed ones', async () => {
    const { Readable } = await import('node:stream');
    const { Session } = await import('../../src/deploy/admin/session.js');
    const { runConsole } = await import('../../src/deploy/admin/console.js');
    const session = await Session.open(join(dir, 'kits', 'root'), { port: server.port });
    const p = io();
    try {
      const failures = await runConsole(session, {
        // All lines arrive at once, while the first command is still running.
        input: Readable.from(['check_status\nlist_jobs -m 1\nbogus\n\nget_job_meta x\nbye\n']),
        out: p.out,
        err: p.err,
        json: true,
      });
      expect(failures).toBe(2);
    } finally {
      session.close();
    }
    const lines = p.stdout().trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[0]!)).toMatchObject({ project: 'cli' });
    expect(JSON.parse(lines[1]!)).toEqual([]);
    expect(p.stderr()).toMatch(/unknown command "bogus"[\s\S]*no job with id x/);
  });
});
