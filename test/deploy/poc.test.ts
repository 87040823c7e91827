/**
 * One POC federation (a server and three sites, each its own process, started from the CLI) runs
 * the examples one after the other and must give what the simulator gives. One federation for
 * all of them, because each process pays a few seconds of TypeScript start-up.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultRegistry } from '../../src/components.js';
import { Session } from '../../src/deploy/admin/session.js';
import { pocPrepare, pocStart, pocStop, processAlive } from '../../src/deploy/poc/poc.js';
import type { RunSummary } from '../../src/runtime/core/index.js';
import { simulateJob } from '../../src/runtime/jobs/simulate.js';
import { loadModelFile } from '../../src/runtime/workflows/index.js';

const HELLO = resolve('examples/hello-stats');
const PSI = resolve('examples/psi-user-match');
const VERTICAL = resolve('examples/vertical-breast-cancer');
const DIABETES = resolve('examples/linear-diabetes');
const SITES = ['site-1', 'site-2', 'site-3'];
const CLI = [process.execPath, '--import', 'tsx', resolve('src/cli/main.ts')];
let dir: string;
let admin: Session | undefined;

async function freePort(): Promise<number> {
  return new Promise((ok) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
  });
}

/**
 * Points every site at an example's data, as a site operator does between studies: the examples
 * all read `data/<site>.csv` under the data root, and sites read `local/site.json` at each deploy.
 */
async function useData(root: string): Promise<void> {
  for (const s of SITES) {
    await writeFile(join(dir, s, 'local', 'site.json'), JSON.stringify({ dataRoot: root }));
  }
}

/** Submits a job, waits for it, checks it completed; returns its id and downloaded summary. */
async function runInPoc(jobDir: string): Promise<{ id: string; summary: RunSummary }> {
  const id = await admin!.submitJob(jobDir);
  expect(await admin!.monitorJob(id, { timeoutMs: 120_000, pollMs: 250 })).toBe('finished');
  const rec = await admin!.getJobMeta(id);
  expect({ status: rec.status, reason: rec.reason }).toEqual({
    status: 'finished:completed',
    reason: undefined,
  });
  const out = await admin!.downloadJobResult(id, join(dir, 'results'));
  const summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8')) as RunSummary;
  return { id, summary };
}

async function until(cond: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const start = performance.now();
  while (!(await cond())) {
    if (performance.now() - start > ms) throw new Error(`condition not met in ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Metrics that do not depend on timing. */
function stable(metrics: Readonly<Record<string, number>>): Record<string, number> {
  return Object.fromEntries(Object.entries(metrics).filter(([k]) => !/seconds|per_s/.test(k)));
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vflare-poc-'));
  await pocPrepare({
    dir,
    sites: 3,
    port: await freePort(),
    dataRoot: HELLO,
    transport: { heartbeatMs: 500 },
    // Short start-up grace and retries: the restart test's job must find its sites again soon.
    scheduler: {
      startupGraceMs: 1_000,
      minScheduleIntervalMs: 500,
      maxScheduleIntervalMs: 4_000,
      maxScheduleCount: 50,
    },
  });
  const state = await pocStart({ dir, command: CLI, timeoutMs: 90_000 });
  expect(state.processes.map((p) => p.party)).toEqual(['server', ...SITES]);
  admin = await Session.open(join(dir, 'admin'));
}, 120_000);

afterAll(async () => {
  admin?.close();
  await pocStop({ dir, graceMs: 5_000 }).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
}, 60_000);

describe('POC mode: a server and three sites in separate processes', () => {
  it('runs hello-stats with the simulator result', async () => {
    await useData(HELLO);
    const { summary } = await runInPoc(HELLO);
    const sim = await simulateJob({
      jobDir: HELLO,
      registry: defaultRegistry(),
      workspace: join(dir, 'sim-hello'),
    });
    expect(summary.status).toBe('completed');
    expect(summary.server.metrics).toEqual(sim.summary.server.metrics);
  }, 150_000);

  it("runs the PSI example: every site's intersection as in the simulator", async () => {
    await useData(PSI);
    const { id, summary } = await runInPoc(PSI);
    const sim = await simulateJob({
      jobDir: PSI,
      registry: defaultRegistry(),
      workspace: join(dir, 'sim-psi'),
    });
    for (const s of SITES) {
      expect(summary.sites[s]!.metrics).toEqual(sim.summary.sites[s]!.metrics);
      expect(summary.sites[s]!.metrics['intersection']).toBe(122);
      // What a site writes stays at the site: its workspace in its own kit folder.
      const deployed = await readFile(
        join(dir, s, 'workspace', id, 'out', 'psi', 'intersection.txt'),
        'utf8',
      );
      const simulated = await readFile(join(sim.workspace, s, 'psi', 'intersection.txt'), 'utf8');
      expect(deployed).toBe(simulated);
      expect(deployed.trim().split('\n')).toHaveLength(122);
    }
  }, 150_000);

  it('runs the split-learning flagship with exactly the metrics of the simulator', async () => {
    await useData(VERTICAL);
    const { summary } = await runInPoc(VERTICAL);
    const sim = await simulateJob({
      jobDir: VERTICAL,
      registry: defaultRegistry(),
      workspace: join(dir, 'sim-vertical'),
    });
    expect(stable(summary.server.metrics)).toEqual(stable(sim.summary.server.metrics));
    for (const s of SITES) {
      expect(stable(summary.sites[s]!.metrics)).toEqual(stable(sim.summary.sites[s]!.metrics));
    }
    expect(summary.sites['site-1']!.metrics['intersection']).toBe(416);
  }, 240_000);

  it('resumes a running job after SIGTERM and a restart, from its last saved round', async () => {
    // linear-diabetes with a model file persistor (the resumable kind) and far more rounds than
    // can run during the test: the job is certainly still running when the signal arrives.
    const job = join(dir, 'linear-resume');
    await cp(join(DIABETES, 'app'), join(job, 'app'), { recursive: true });
    await writeFile(
      join(job, 'meta.json'),
      JSON.stringify({ name: 'linear-resume', deployMap: { app: ['@ALL'] }, minClients: 3 }),
    );
    const server = JSON.parse(await readFile(join(job, 'app', 'config', 'server.json'), 'utf8'));
    server.components[1] = { id: 'persistor', type: 'FileModelPersistor', args: {} };
    server.workflows[0].args.numRounds = 1_000_000;
    await writeFile(join(job, 'app', 'config', 'server.json'), JSON.stringify(server));
    await useData(DIABETES);
    const id = await admin!.submitJob(job);
    const model = join(dir, 'server', 'workspace', 'jobs', id, 'workspace', 'server');
    const savedRound = async () =>
      (await loadModelFile(join(model, 'global_model.vfm')).catch(() => null))?.round ?? -1;
    await until(async () => (await savedRound()) >= 2);

    const pids = JSON.parse(await readFile(join(dir, 'poc.json'), 'utf8')) as {
      processes: { party: string; pid: number }[];
    };
    const serverPid = pids.processes.find((p) => p.party === 'server')!.pid;
    admin!.close();
    admin = undefined;
    process.kill(serverPid, 'SIGTERM');
    await until(async () => !processAlive(serverPid), 60_000);
    // The server is gone: what it saved last is where the job must resume.
    const saved = await savedRound();
    expect(saved).toBeGreaterThanOrEqual(2);
    expect(await readFile(join(dir, 'logs', 'server.log'), 'utf8')).toMatch(
      /server stopped for a restart/,
    );

    await pocStart({ dir, command: CLI, parties: ['server'], timeoutMs: 90_000 });
    admin = await Session.open(join(dir, 'admin'));
    await until(async () => (await admin!.getJobMeta(id)).lastRound !== undefined, 60_000);
    const rec = await admin!.getJobMeta(id);
    expect({ status: rec.status, lastRound: rec.lastRound }).toEqual({
      status: 'running',
      lastRound: saved,
    });
    // And it trains on from there.
    await until(async () => (await savedRound()) > saved, 60_000);
    // A running job has no result to download yet.
    await expect(admin!.downloadJobResult(id, join(dir, 'too-early'))).rejects.toThrow(
      new RegExp(`job ${id} is running, not finished`),
    );
    expect(await admin!.abortJob(id)).toBe('finished:aborted');
  }, 240_000);

  it('stops gracefully, killing nothing', async () => {
    admin?.close();
    admin = undefined;
    expect(await pocStop({ dir, graceMs: 20_000 })).toEqual([]);
  }, 60_000);
});
