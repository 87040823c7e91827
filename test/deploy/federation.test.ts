import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Session } from '../../src/deploy/admin/session.js';
import { ClientProcess } from '../../src/deploy/client/client-process.js';
import { type ProvisionResult, provision } from '../../src/deploy/provision/index.js';
import { ServerProcess } from '../../src/deploy/server/server-process.js';
import type { RunSummary } from '../../src/runtime/core/index.js';
import {
  instantiateClientApp,
  instantiateServerApp,
  loadJob,
} from '../../src/runtime/jobs/index.js';
import { runSimulation } from '../../src/runtime/sim/index.js';
import { loadModelFile } from '../../src/runtime/workflows/index.js';
import { filterCalls, hooks, testRegistry, trainCalls, writeSagJob } from './helpers.js';

const HELLO = resolve('examples/hello-stats');
const registry = testRegistry();
let dir: string;
let kits: ProvisionResult;
let server: ServerProcess;
const clients: ClientProcess[] = [];
let admin: Session;
const SITES = ['site-1', 'site-2', 'site-3'];

async function until(cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const start = performance.now();
  while (!(await cond())) {
    if (performance.now() - start > ms) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

function clientOf(site: string): ClientProcess {
  return clients.filter((c) => c.site === site).at(-1)!;
}

async function allOnline(): Promise<void> {
  await until(async () => {
    const st = await admin.checkStatus();
    return SITES.every((s) => st.sites.some((x) => x.name === s && x.online));
  });
}

async function startClient(site: string): Promise<ClientProcess> {
  const c = await ClientProcess.start({
    kitDir: kits.siteKits[site]!,
    registry,
    host: 'localhost',
    port: server.port,
    minBackoffMs: 50,
    maxBackoffMs: 200,
  });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vflare-fed-'));
  kits = await provision({
    project: 'demo',
    server: { host: 'localhost', port: 0 },
    serverAltNames: ['127.0.0.1'],
    sites: [{ name: 'site-1' }, { name: 'site-2' }, { name: 'site-3' }],
    admins: [
      { name: 'admin', role: 'project-admin' },
      { name: 'mia', role: 'member' },
    ],
    out: join(dir, 'kits'),
    transport: { heartbeatMs: 200, deadSiteGraceMs: 3000 },
    scheduler: { minScheduleIntervalMs: 100, maxScheduleIntervalMs: 200, maxScheduleCount: 3 },
  });
  for (const site of ['site-1', 'site-2', 'site-3']) {
    await writeFile(
      join(kits.siteKits[site]!, 'local', 'site.json'),
      JSON.stringify({ dataRoot: HELLO }),
    );
  }
  server = await ServerProcess.start({
    kitDir: kits.serverKit,
    registry,
    host: '127.0.0.1',
    port: 0,
    tickMs: 100,
    startupGraceMs: 0,
    deployTimeoutMs: 5000,
    byeTimeoutMs: 1500,
  });
  admin = await Session.open(kits.adminKits['admin']!, { port: server.port, timeoutMs: 10_000 });
});

afterAll(async () => {
  admin?.close();
  for (const c of clients) await c.stop();
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function simulate(jobDir: string): Promise<RunSummary> {
  const { job } = await loadJob(jobDir, registry);
  const env = (site: string, ws: string) => ({
    site,
    jobDir,
    workspace: join(ws, site),
    dataRoot: jobDir,
    seed: 0,
    logger: undefined as never,
    registry,
  });
  const ws = join(dir, 'sim');
  return runSimulation({
    job: job.meta.name,
    sites: ['site-1', 'site-2', 'site-3'],
    server: async (e) =>
      instantiateServerApp(job, 'app', { ...env('server', ws), logger: e.logger }),
    clients: async (e) =>
      instantiateClientApp(job, 'app', { ...env(e.site, ws), logger: e.logger }),
    workspace: ws,
    dataRoot: jobDir,
    heartbeatIntervalMs: 200,
  });
}

describe('a deployed federation over gRPC and mutual TLS', () => {
  it('runs hello-stats submitted by an admin with the same result as the simulator', async () => {
    for (const s of ['site-1', 'site-2', 'site-3']) await startClient(s);
    const status = await admin.checkStatus();
    expect(status.sites.filter((s) => s.online).map((s) => s.name)).toEqual([
      'site-1',
      'site-2',
      'site-3',
    ]);
    const id = await admin.submitJob(HELLO);
    expect(await admin.monitorJob(id, { timeoutMs: 30_000, pollMs: 100 })).toBe('finished');
    const meta = await admin.getJobMeta(id);
    expect(meta.status).toBe('finished:completed');
    expect(meta.deployDetail).toEqual({
      server: 'ok',
      'site-1': 'ok',
      'site-2': 'ok',
      'site-3': 'ok',
    });
    await writeFile(join(dir, 'a-file'), 'not a folder');
    await expect(admin.downloadJobResult(id, join(dir, 'a-file'))).rejects.toThrow(
      /a-file is a file; give a folder/,
    );
    const out = await admin.downloadJobResult(id, join(dir, 'download'));
    const deployed = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8')) as RunSummary;
    const simulated = await simulate(HELLO);
    expect(deployed.status).toBe('completed');
    expect(deployed.server.metrics).toEqual(simulated.server.metrics);
    expect(Object.keys(deployed.server.metrics).length).toBeGreaterThan(10);
  });

  it('refuses commands a role lacks, saying why', async () => {
    const member = await Session.open(kits.adminKits['mia']!, { port: server.port });
    try {
      await expect(member.submitJob(HELLO)).rejects.toThrow(
        /not authorised: .*member role lacks it/,
      );
      expect(Array.isArray(await member.listJobs())).toBe(true);
      await expect(member.shutdown()).rejects.toThrow(/may not run shutdown/);
    } finally {
      member.close();
    }
  });

  it('refuses a job tampered with after signing, at submission, with the reason', async () => {
    const job = join(dir, 'tampered');
    await cp(HELLO, job, { recursive: true });
    // A job signed elsewhere and altered: the signature files travel but no longer match.
    const { signJobFolder } = await import('../../src/deploy/signing/index.js');
    const { loadKit } = await import('../../src/deploy/provision/index.js');
    const kit = await loadKit(kits.adminKits['admin']!, 'admin');
    await signJobFolder(job, kit.keyPem, kit.certPem);
    await writeFile(
      join(job, 'meta.json'),
      (await readFile(join(job, 'meta.json'), 'utf8')).replace(
        '"minClients": 3',
        '"minClients": 2',
      ),
    );
    const { callUnary } = await import('../../src/deploy/grpc/client.js');
    const { makeGrpcClient } = await import('../../src/deploy/grpc/client.js');
    const { linkSettings } = await import('../../src/deploy/grpc/link.js');
    const { encode } = await import('../../src/deploy/grpc/protocol.js');
    const { readFolderFiles } = await import('../../src/deploy/files.js');
    const { unpack } = await import('msgpackr');
    const raw = makeGrpcClient({
      kit,
      link: linkSettings({}),
      host: 'localhost',
      port: server.port,
    });
    const reply = unpack(
      await callUnary(
        raw,
        'admin',
        encode({ command: 'submit_job', files: await readFolderFiles(job) }),
        5000,
      ),
    ) as { ok: boolean; error: string };
    raw.close();
    expect(reply.ok).toBe(false);
    expect(reply.error).toMatch(/signature of meta.json does not match/);
  });

  it('marks a job can-not-schedule when minClients sites are not online, after the retries', async () => {
    const job = join(dir, 'needs-four');
    await cp(HELLO, job, { recursive: true });
    const meta = JSON.parse(await readFile(join(job, 'meta.json'), 'utf8'));
    meta.deployMap = { app: ['server', 'site-1', 'site-2', 'site-3', 'site-4'] };
    meta.minClients = 4;
    await writeFile(join(job, 'meta.json'), JSON.stringify(meta));
    const id = await admin.submitJob(job);
    expect(await admin.monitorJob(id, { timeoutMs: 10_000, pollMs: 100 })).toBe('finished');
    const rec = await admin.getJobMeta(id);
    expect(rec.status).toBe('finished:can-not-schedule');
    expect(rec.reason).toMatch(/after 3 attempts: .*minClients is 4 \(site-4 offline\)/);
    // While it waited, the record said what for (get_job_meta of a waiting job used not to).
    expect(rec.scheduleProblem).toMatch(/minClients is 4 \(site-4 offline\)/);
  });

  it("names the user's folder, not the server's copy, when a submitted job is invalid", async () => {
    const job = join(dir, 'no-meta');
    await cp(HELLO, job, { recursive: true });
    await rm(join(job, 'meta.json'));
    const err = await admin.submitJob(job).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain(`submit_job ${job}: the job is invalid`);
    expect((err as Error).message).toMatch(/meta\.json: missing/);
    expect((err as Error).message).not.toMatch(/vflare-submit|vflare-sign/);
    await expect(admin.submitJob(join(dir, 'no-such-job'))).rejects.toThrow(
      /submit_job .*no-such-job: no such job folder/,
    );
  });

  it('refuses to start a site whose kit names another site than its certificate', async () => {
    const wrong = join(dir, 'wrong-name');
    await cp(kits.siteKits['site-1']!, wrong, { recursive: true });
    const cfgPath = join(wrong, 'startup/kit.json');
    const cfg = JSON.parse(await readFile(cfgPath, 'utf8'));
    await writeFile(cfgPath, JSON.stringify({ ...cfg, name: 'site-2' }));
    await expect(
      ClientProcess.start({ kitDir: wrong, registry, host: 'localhost', port: server.port }),
    ).rejects.toThrow(/names the party "site-2" but its certificate is for "site-1"/);
  });

  it('completes the rounds with minClients when a site is killed mid-round', async () => {
    const job = await writeSagJob(join(dir, 'sag-kill'), {
      name: 'sag-kill',
      sites: SITES,
      minClients: 2,
      rounds: 3,
      delayMs: 300,
    });
    let killed = false;
    hooks.onTrain = (site, round) => {
      if (site === 'site-3' && round === 1 && !killed) {
        killed = true;
        clientOf('site-3').kill();
      }
    };
    trainCalls.length = 0;
    const id = await admin.submitJob(job);
    expect(await admin.monitorJob(id, { timeoutMs: 30_000, pollMs: 100 })).toBe('finished');
    delete hooks.onTrain;
    expect(killed).toBe(true);
    expect((await admin.getJobMeta(id)).status).toBe('finished:completed');
    const summary = JSON.parse(
      await readFile(join(server.store.workspaceDir(id), 'summary.json'), 'utf8'),
    ) as RunSummary;
    expect(summary.rounds).toBe(3);
    expect(trainCalls.filter((c) => c.site === 'site-3' && c.round === 2)).toEqual([]);
    await startClient('site-3');
    await allOnline();
  });

  it('aborts a job with a dead site promptly, and the job stays aborted', async () => {
    const job = await writeSagJob(join(dir, 'sag-abort'), {
      name: 'sag-abort',
      sites: SITES,
      minClients: 2,
      rounds: 50,
      delayMs: 60_000,
    });
    trainCalls.length = 0;
    hooks.onTrain = (site) => {
      if (site === 'site-2') clientOf('site-2').kill();
    };
    const id = await admin.submitJob(job);
    await until(() => trainCalls.length === 3);
    delete hooks.onTrain;
    const t0 = performance.now();
    expect(await admin.abortJob(id)).toBe('finished:aborted');
    expect(performance.now() - t0).toBeLessThan(3_000);
    expect((await admin.getJobMeta(id)).status).toBe('finished:aborted');
    await until(async () => !(await admin.checkStatus()).runningJobs.includes(id));
    await expect(admin.abortJob(id)).rejects.toThrow(/already finished:aborted/);
    await startClient('site-2');
    await allOnline();
  });

  it('after a server restart lists every job, keeps aborted ones aborted, and resumes a running job from its last saved round', async () => {
    const job = await writeSagJob(join(dir, 'sag-resume'), {
      name: 'sag-resume',
      sites: SITES,
      minClients: 3,
      rounds: 5,
      delayMs: 150,
    });
    trainCalls.length = 0;
    const id = await admin.submitJob(job);
    const model = join(server.store.workspaceDir(id), 'server', 'global_model.vfm');
    await until(async () => {
      try {
        return ((await loadModelFile(model)).round ?? -1) >= 1;
      } catch {
        return false;
      }
    });
    const before = await admin.listJobs();
    const port = server.port;
    await server.crash();
    const crashedAt = trainCalls.length;
    server = await ServerProcess.start({
      kitDir: kits.serverKit,
      registry,
      host: '127.0.0.1',
      port,
      tickMs: 100,
      startupGraceMs: 1_500,
      deployTimeoutMs: 5000,
      byeTimeoutMs: 1500,
    });
    const after = await admin.listJobs();
    expect(after.map((j) => j.id)).toEqual(before.map((j) => j.id));
    for (const j of before.filter((b) => b.status.startsWith('finished:'))) {
      expect(after.find((a) => a.id === j.id)?.status).toBe(j.status);
    }
    expect(await admin.monitorJob(id, { timeoutMs: 30_000, pollMs: 100 })).toBe('finished');
    const rec = await admin.getJobMeta(id);
    expect({ status: rec.status, reason: rec.reason }).toEqual({
      status: 'finished:completed',
      reason: undefined,
    });
    expect(rec.lastRound).toBeGreaterThanOrEqual(1);
    const resumedRounds = trainCalls.slice(crashedAt).map((c) => c.round);
    expect(Math.min(...resumedRounds)).toBe(rec.lastRound! + 1);
    expect((await loadModelFile(model)).round).toBe(4);
  });

  it('drops a site whose deploy fails and runs with the others when minClients allows', async () => {
    await clientOf('site-3').stop();
    const { defaultRegistry } = await import('../../src/components.js');
    // This site lacks the job's executor type: its deploy fails with the reason.
    clients.push(
      await ClientProcess.start({
        kitDir: kits.siteKits['site-3']!,
        registry: defaultRegistry(),
        host: 'localhost',
        port: server.port,
        minBackoffMs: 50,
        maxBackoffMs: 200,
      }),
    );
    await allOnline();
    const job = await writeSagJob(join(dir, 'sag-drop'), {
      name: 'sag-drop',
      sites: SITES,
      minClients: 2,
      rounds: 1,
      delayMs: 50,
    });
    const id = await admin.submitJob(job);
    expect(await admin.monitorJob(id, { timeoutMs: 30_000, pollMs: 100 })).toBe('finished');
    const rec = await admin.getJobMeta(id);
    expect(rec.status).toBe('finished:completed');
    expect(rec.sites).toEqual(['site-1', 'site-2']);
    expect(rec.deployDetail['site-3']).toMatch(/test\.SlowTrainer/);
    expect(rec.deployDetail['site-1']).toBe('ok');
  });

  it("applies a site's own privacy filters from its kit to a job that names none", async () => {
    await clientOf('site-1').stop();
    await writeFile(
      join(kits.siteKits['site-1']!, 'local', 'site.json'),
      JSON.stringify({
        dataRoot: HELLO,
        privacy: { taskResult: [{ filters: [{ type: 'test.RecordingFilter' }] }] },
      }),
    );
    await startClient('site-1');
    await clientOf('site-3').stop();
    await startClient('site-3');
    await allOnline();
    const job = await writeSagJob(join(dir, 'sag-policy'), {
      name: 'sag-policy',
      sites: SITES,
      minClients: 3,
      rounds: 2,
      delayMs: 20,
    });
    filterCalls.length = 0;
    const id = await admin.submitJob(job);
    expect(await admin.monitorJob(id, { timeoutMs: 30_000, pollMs: 100 })).toBe('finished');
    expect((await admin.getJobMeta(id)).status).toBe('finished:completed');
    expect(filterCalls).toEqual([
      { site: 'site-1', point: 'client-result-out', task: 'train' },
      { site: 'site-1', point: 'client-result-out', task: 'train' },
    ]);
  });

  it('reads the site config at every deploy: broken refuses, fixed applies', async () => {
    const siteJson = join(kits.siteKits['site-2']!, 'local', 'site.json');
    await writeFile(siteJson, '{"dataRoot": ');
    const opts = { sites: SITES, minClients: 3, rounds: 1, delayMs: 20 };
    const broken = await admin.submitJob(
      await writeSagJob(join(dir, 'sag-broken-config'), { name: 'sag-broken-config', ...opts }),
    );
    expect(await admin.monitorJob(broken, { timeoutMs: 30_000, pollMs: 100 })).toBe('finished');
    const rec = await admin.getJobMeta(broken);
    expect(rec.status).toBe('finished:failed-to-run');
    expect(rec.deployDetail['site-2']).toMatch(/site config .*site\.json: not valid JSON/);

    // The same running site process, a new policy: it applies to the next job.
    await writeFile(
      siteJson,
      JSON.stringify({
        dataRoot: HELLO,
        privacy: { taskResult: [{ filters: [{ type: 'test.RecordingFilter' }] }] },
      }),
    );
    filterCalls.length = 0;
    const fixed = await admin.submitJob(
      await writeSagJob(join(dir, 'sag-fixed-config'), { name: 'sag-fixed-config', ...opts }),
    );
    expect(await admin.monitorJob(fixed, { timeoutMs: 30_000, pollMs: 100 })).toBe('finished');
    expect((await admin.getJobMeta(fixed)).status).toBe('finished:completed');
    expect(filterCalls.map((c) => c.site).sort()).toEqual(['site-1', 'site-2']);
  });

  it('lists jobs newest first and the N most recent', async () => {
    const all = await admin.listJobs();
    expect(all.length).toBeGreaterThanOrEqual(2);
    const newest = await admin.listJobs({ reverse: true, limit: 1 });
    expect(newest.map((j) => j.id)).toEqual([all[all.length - 1]!.id]);
  });
});
