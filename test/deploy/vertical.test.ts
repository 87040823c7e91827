import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultRegistry } from '../../src/components.js';
import { Session } from '../../src/deploy/admin/session.js';
import { ClientProcess } from '../../src/deploy/client/client-process.js';
import { provision } from '../../src/deploy/provision/index.js';
import { ServerProcess } from '../../src/deploy/server/server-process.js';
import type { RunSummary } from '../../src/runtime/core/index.js';
import { simulateJob } from '../../src/runtime/jobs/simulate.js';

const JOB = resolve('examples/vertical-breast-cancer');
const SITES = ['site-1', 'site-2', 'site-3'];
let dir: string | undefined;
const cleanup: (() => Promise<void>)[] = [];

afterAll(async () => {
  for (const f of cleanup.reverse()) await f().catch(() => undefined);
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

/** Metrics that do not depend on timing. */
function stable(metrics: Readonly<Record<string, number>>): Record<string, number> {
  return Object.fromEntries(Object.entries(metrics).filter(([k]) => !/seconds|per_s/.test(k)));
}

describe('the vertical flagship (PSI + split learning) over gRPC and mutual TLS', () => {
  it('gives the simulator result, with every peer message relayed by the server', async () => {
    dir = await mkdtemp(join(tmpdir(), 'vflare-vertical-'));
    const registry = defaultRegistry();
    const kits = await provision({
      project: 'vertical',
      server: { host: 'localhost', port: 0 },
      serverAltNames: ['127.0.0.1'],
      sites: SITES.map((name) => ({ name })),
      admins: [{ name: 'admin', role: 'project-admin' }],
      out: join(dir, 'kits'),
      transport: { heartbeatMs: 500 },
    });
    for (const s of SITES) {
      await writeFile(
        join(kits.siteKits[s]!, 'local', 'site.json'),
        JSON.stringify({ dataRoot: JOB }),
      );
    }
    const server = await ServerProcess.start({
      kitDir: kits.serverKit,
      registry,
      host: '127.0.0.1',
      port: 0,
      tickMs: 100,
      startupGraceMs: 0,
    });
    cleanup.push(() => server.stop());
    for (const s of SITES) {
      const c = await ClientProcess.start({
        kitDir: kits.siteKits[s]!,
        registry,
        host: 'localhost',
        port: server.port,
      });
      cleanup.push(() => c.stop());
    }
    const admin = await Session.open(kits.adminKits['admin']!, { port: server.port });
    cleanup.push(async () => admin.close());
    const id = await admin.submitJob(JOB);
    expect(await admin.monitorJob(id, { timeoutMs: 120_000, pollMs: 250 })).toBe('finished');
    const rec = await admin.getJobMeta(id);
    expect({ status: rec.status, reason: rec.reason }).toEqual({
      status: 'finished:completed',
      reason: undefined,
    });
    const deployed = JSON.parse(
      await readFile(join(server.store.workspaceDir(id), 'summary.json'), 'utf8'),
    ) as RunSummary;

    const sim = await simulateJob({ jobDir: JOB, registry, workspace: join(dir, 'sim') });
    expect(stable(deployed.server.metrics)).toEqual(stable(sim.summary.server.metrics));
    for (const s of SITES) {
      expect(stable(deployed.sites[s]!.metrics)).toEqual(stable(sim.summary.sites[s]!.metrics));
    }
    expect(deployed.sites['site-1']!.metrics['intersection']).toBe(416);
  }, 150_000);
});
