import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultRegistry } from '../../src/components.js';
import { Session } from '../../src/deploy/admin/session.js';
import { pocPrepare, pocStart, pocStop } from '../../src/deploy/poc/poc.js';
import type { RunSummary } from '../../src/runtime/core/index.js';
import { simulateJob } from '../../src/runtime/jobs/simulate.js';

const HELLO = resolve('examples/hello-stats');
const CLI = [process.execPath, '--import', 'tsx', resolve('src/cli/main.ts')];
let dir: string | undefined;

async function freePort(): Promise<number> {
  return new Promise((ok) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
  });
}

afterAll(async () => {
  if (dir !== undefined) {
    await pocStop({ dir, graceMs: 5_000 }).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
});

describe('POC mode', () => {
  it('runs hello-stats in separate processes with the simulator result, then stops gracefully', async () => {
    dir = await mkdtemp(join(tmpdir(), 'vflare-poc-'));
    await pocPrepare({
      dir,
      sites: 3,
      port: await freePort(),
      dataRoot: HELLO,
      transport: { heartbeatMs: 500 },
    });
    const state = await pocStart({ dir, command: CLI, timeoutMs: 60_000 });
    expect(state.processes.map((p) => p.party)).toEqual(['server', 'site-1', 'site-2', 'site-3']);

    const admin = await Session.open(join(dir, 'admin'));
    let summary: RunSummary;
    try {
      const id = await admin.submitJob(HELLO);
      expect(await admin.monitorJob(id, { timeoutMs: 30_000, pollMs: 200 })).toBe('finished');
      expect((await admin.getJobMeta(id)).status).toBe('finished:completed');
      const out = await admin.downloadJobResult(id, join(dir, 'results'));
      summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8')) as RunSummary;
    } finally {
      admin.close();
    }
    const simulated = await simulateJob({
      jobDir: HELLO,
      registry: defaultRegistry(),
      workspace: join(dir, 'sim'),
    });
    expect(summary.status).toBe('completed');
    expect(summary.server.metrics).toEqual(simulated.summary.server.metrics);

    const killed = await pocStop({ dir, graceMs: 20_000 });
    expect(killed).toEqual([]);
  }, 120_000);
});
