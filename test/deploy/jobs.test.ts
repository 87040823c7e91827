import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_COMMANDS, type AdminUser, authorize } from '../../src/deploy/authz/index.js';
import { type JobRequirements, JobStore } from '../../src/deploy/jobstore/index.js';
import { place, ResourceLedger, Scheduler } from '../../src/deploy/scheduler/index.js';

let dir: string;
let jobDir: string;
const req: JobRequirements = {
  sites: ['site-1', 'site-2'],
  minClients: 2,
  mandatoryClients: [],
  resourceSpec: {},
};
const alice = { name: 'alice', org: 'a', role: 'lead' };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vflare-store-'));
  jobDir = join(dir, 'src-job');
  await mkdir(join(jobDir, 'app'), { recursive: true });
  await writeFile(join(jobDir, 'meta.json'), '{"name":"hello"}');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('JobStore', () => {
  it('keeps jobs, statuses and the job folder across a reopen', async () => {
    const root = join(dir, 'store1');
    const store = await JobStore.open(root);
    const a = await store.create(jobDir, { name: 'hello', submitter: alice, requirements: req });
    const b = await store.create(jobDir, { name: 'psi', submitter: alice, requirements: req });
    await store.setStatus(a.id, 'dispatched');
    await store.setStatus(a.id, 'running');
    await store.setStatus(a.id, 'finished:completed');
    await store.setStatus(b.id, 'finished:aborted', { reason: 'aborted by alice' });

    const again = await JobStore.open(root);
    expect(again.get(a.id)?.status).toBe('finished:completed');
    expect(again.get(a.id)?.endTime).toBeDefined();
    expect(again.get(b.id)?.status).toBe('finished:aborted');
    expect(await readFile(join(again.jobDir(a.id), 'meta.json'), 'utf8')).toBe('{"name":"hello"}');
    const c = await again.create(jobDir, { name: 'c', submitter: alice, requirements: req });
    expect(c.seq).toBeGreaterThan(b.seq);
  });

  it('never lets a finished job change status, so an aborted job never starts', async () => {
    const store = await JobStore.open(join(dir, 'store2'));
    const a = await store.create(jobDir, { name: 'x', submitter: alice, requirements: req });
    await store.setStatus(a.id, 'finished:aborted');
    await expect(store.setStatus(a.id, 'dispatched')).rejects.toThrow(
      /is finished:aborted; it cannot become dispatched/,
    );
    const reopened = await JobStore.open(join(dir, 'store2'));
    await expect(reopened.setStatus(a.id, 'running')).rejects.toThrow(/cannot become running/);
  });

  it('refuses to delete a running job and deletes a finished one from disk', async () => {
    const store = await JobStore.open(join(dir, 'store3'));
    const a = await store.create(jobDir, { name: 'x', submitter: alice, requirements: req });
    await store.setStatus(a.id, 'dispatched');
    await expect(store.delete(a.id)).rejects.toThrow(/abort it before deleting/);
    await store.setStatus(a.id, 'finished:failed-to-run');
    await store.delete(a.id);
    expect(store.get(a.id)).toBeUndefined();
    expect((await JobStore.open(join(dir, 'store3'))).list()).toEqual([]);
    await expect(store.delete(a.id)).rejects.toThrow(/no job with id/);
  });

  it('clones a job into a new submitted job with the same folder', async () => {
    const store = await JobStore.open(join(dir, 'store4'));
    const a = await store.create(jobDir, { name: 'x', submitter: alice, requirements: req });
    await store.setStatus(a.id, 'finished:completed');
    const bob = { name: 'bob', org: 'a', role: 'project-admin' };
    const b = await store.clone(a.id, bob);
    expect(b).toMatchObject({ name: 'x', status: 'submitted', clonedFrom: a.id, submitter: bob });
    expect(await readFile(join(store.jobDir(b.id), 'meta.json'), 'utf8')).toBe('{"name":"hello"}');
  });

  it('skips a corrupt record with a warning instead of failing to start', async () => {
    const root = join(dir, 'store5');
    const store = await JobStore.open(root);
    const a = await store.create(jobDir, { name: 'x', submitter: alice, requirements: req });
    await mkdir(join(root, 'junk'));
    await writeFile(join(root, 'junk', 'record.json'), '{not json');
    const warnings: string[] = [];
    const log = {
      debug() {},
      info() {},
      error() {},
      warn(_o: object | string, m?: string) {
        warnings.push(m ?? '');
      },
      child() {
        return log;
      },
    };
    const again = await JobStore.open(root, log);
    expect(again.list().map((j) => j.id)).toEqual([a.id]);
    expect(warnings[0]).toMatch(/corrupt/);
  });

  it('lists by prefix, newest first with -r, and the N most recent with -m in either order', async () => {
    const store = await JobStore.open(join(dir, 'store6'));
    const names = ['alpha', 'beta', 'alpine', 'gamma', 'alps'];
    const ids: string[] = [];
    for (const name of names) {
      ids.push((await store.create(jobDir, { name, submitter: alice, requirements: req })).id);
    }
    const nameList = (o: Parameters<JobStore['list']>[0]) => store.list(o).map((j) => j.name);
    expect(nameList({})).toEqual(names);
    expect(nameList({ reverse: true })).toEqual([...names].reverse());
    expect(nameList({ namePrefix: 'al' })).toEqual(['alpha', 'alpine', 'alps']);
    expect(nameList({ limit: 2 })).toEqual(['gamma', 'alps']);
    expect(nameList({ limit: 2, reverse: true })).toEqual(['alps', 'gamma']);
    expect(nameList({ namePrefix: 'al', limit: 2, reverse: true })).toEqual(['alps', 'alpine']);
    expect(store.list({ idPrefix: ids[3]!.slice(0, 8) }).map((j) => j.id)).toContain(ids[3]);
  });
});

describe('Scheduler', () => {
  it('starts a job when its sites are online and respects maxJobs', () => {
    const s = new Scheduler({ maxJobs: 1 });
    const ledger = new ResourceLedger();
    const jobs = [
      { id: 'j1', requirements: req, scheduleCount: 0 },
      { id: 'j2', requirements: req, scheduleCount: 0 },
    ];
    const d = s.tick(0, jobs, 0, ['site-1', 'site-2'], ledger);
    expect(d).toEqual([{ kind: 'start', jobId: 'j1', sites: ['site-1', 'site-2'] }]);
    expect(s.tick(0, jobs.slice(1), 1, ['site-1', 'site-2'], ledger)).toEqual([]);
  });

  it('retries with a doubling back-off and then gives up (can-not-schedule)', () => {
    const s = new Scheduler({
      minScheduleIntervalMs: 100,
      maxScheduleIntervalMs: 350,
      maxScheduleCount: 4,
    });
    expect([1, 2, 3, 4, 5].map((c) => s.backoff(c))).toEqual([100, 200, 350, 350, 350]);
    const ledger = new ResourceLedger();
    let count = 0;
    const job = () => [{ id: 'j', requirements: req, scheduleCount: count }];
    const times: number[] = [];
    let gaveUp: string | undefined;
    for (let t = 0; t <= 2000 && gaveUp === undefined; t += 10) {
      for (const d of s.tick(t, job(), 0, ['site-1'], ledger)) {
        times.push(t);
        if (d.kind === 'retry') count = d.count;
        if (d.kind === 'give-up') gaveUp = d.reason;
      }
    }
    expect(times).toEqual([0, 100, 300, 650]);
    expect(gaveUp).toMatch(
      /after 4 attempts: 1 of the job's sites .*minClients is 2 \(site-2 offline\)/,
    );
  });

  it('reserves resources so two jobs never share them, and releases them at the end', () => {
    const ledger = new ResourceLedger();
    ledger.declare('site-1', { gpu: 1 });
    ledger.declare('site-2', { gpu: 1 });
    const gpuJob: JobRequirements = {
      ...req,
      resourceSpec: { 'site-1': { gpu: 1 }, 'site-2': { gpu: 1 } },
    };
    const s = new Scheduler({ maxJobs: 2, minScheduleIntervalMs: 10 });
    const online = ['site-1', 'site-2'];
    const first = s.tick(
      0,
      [{ id: 'a', requirements: gpuJob, scheduleCount: 0 }],
      0,
      online,
      ledger,
    );
    expect(first[0]?.kind).toBe('start');
    const second = s.tick(
      0,
      [{ id: 'b', requirements: gpuJob, scheduleCount: 0 }],
      1,
      online,
      ledger,
    );
    expect(second[0]).toMatchObject({ kind: 'retry', reason: expect.stringMatching(/0 gpu free/) });
    ledger.release('a');
    const third = s.tick(
      20,
      [{ id: 'b', requirements: gpuJob, scheduleCount: 1 }],
      0,
      online,
      ledger,
    );
    expect(third[0]?.kind).toBe('start');
  });

  it('needs every mandatory site, and @ALL means every online site', () => {
    const ledger = new ResourceLedger();
    const m: JobRequirements = { ...req, minClients: 1, mandatoryClients: ['site-2'] };
    expect(place(m, ['site-1'], ledger)).toEqual({
      ok: false,
      reason: 'mandatory site site-2 is not online',
    });
    const all: JobRequirements = { ...req, sites: '@ALL', minClients: 2 };
    expect(place(all, ['site-3', 'site-1'], ledger)).toEqual({
      ok: true,
      sites: ['site-3', 'site-1'],
    });
  });
});

describe('authorize', () => {
  const user = (role: AdminUser['role'], name = 'u', org = 'a'): AdminUser => ({ name, org, role });
  const mine = { name: 'u', org: 'a' };
  const colleague = { name: 'v', org: 'a' };
  const stranger = { name: 'w', org: 'b' };

  it('lets a project admin do everything', () => {
    for (const c of ADMIN_COMMANDS)
      expect(authorize(user('project-admin'), c, stranger).ok).toBe(true);
  });

  it('lets a lead manage only its own jobs, an org admin its org, a member only view', () => {
    expect(authorize(user('lead'), 'submit_job').ok).toBe(true);
    expect(authorize(user('lead'), 'abort_job', mine).ok).toBe(true);
    expect(authorize(user('lead'), 'abort_job', colleague)).toEqual({
      ok: false,
      reason: 'u (lead, org a) may run abort_job only on jobs it submitted',
    });
    expect(authorize(user('org-admin'), 'delete_job', colleague).ok).toBe(true);
    expect(authorize(user('org-admin'), 'download_job', stranger).ok).toBe(false);
    expect(authorize(user('org-admin'), 'submit_job').ok).toBe(false);
    expect(authorize(user('member'), 'list_jobs').ok).toBe(true);
    const refused = authorize(user('member'), 'download_job', mine);
    expect(refused.ok === false && refused.reason).toMatch(/member role lacks it/);
    expect(authorize(user('lead'), 'shutdown').ok).toBe(false);
  });
});
