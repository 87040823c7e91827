import { cp, mkdir, mkdtemp, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createRootCa,
  type IssuedIdentity,
  issueIdentity,
  type RootCa,
} from '../../src/deploy/provision/index.js';
import { SIGNATURE_FILE, signJobFolder, verifyJobFolder } from '../../src/deploy/signing/index.js';

let dir: string;
let root: RootCa;
let admin: IssuedIdentity;
let n = 0;

async function makeJob(): Promise<string> {
  const job = join(dir, `job-${n++}`);
  await mkdir(join(job, 'app', 'config'), { recursive: true });
  await writeFile(join(job, 'meta.json'), '{"name":"hello"}');
  await writeFile(join(job, 'app', 'config', 'server.json'), '{"workflows":[]}');
  await writeFile(join(job, 'app', 'config', 'client.json'), '{"executors":[]}');
  return job;
}

async function signedJob(): Promise<string> {
  const job = await makeJob();
  await signJobFolder(job, admin.keyPem, admin.certPem);
  return job;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vflare-sign-'));
  root = await createRootCa('demo');
  admin = await issueIdentity(root, { name: 'admin', org: 'demo', role: 'lead' });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function reason(job: string): Promise<string> {
  const r = await verifyJobFolder(job, root.certPem);
  if (r.ok) throw new Error('expected the job to be refused');
  return r.reason;
}

describe('job signing', () => {
  it('accepts a signed job and names its signer', async () => {
    const r = await verifyJobFolder(await signedJob(), root.certPem);
    expect(r).toEqual({ ok: true, signer: { name: 'admin', org: 'demo', role: 'lead' } });
  });

  it('refuses a tampered file', async () => {
    const job = await signedJob();
    await writeFile(join(job, 'app', 'config', 'client.json'), '{"executors":[1]}');
    expect(await reason(job)).toMatch(/signature of app\/config\/client.json does not match/);
  });

  it('refuses a file added after signing and a signed file that was removed', async () => {
    const added = await signedJob();
    await writeFile(join(added, 'app', 'extra.json'), '{}');
    // The parent's listing digest of `app` changes first, so the folder entry is refused.
    expect(await reason(added)).toMatch(/signature of app does not match|app\/extra.json has no/);
    const removed = await signedJob();
    await unlink(join(removed, 'meta.json'));
    expect(await reason(removed)).toMatch(/signed entry meta.json is missing/);
  });

  it('refuses a folder without its signature file and an unsigned job', async () => {
    const job = await signedJob();
    await unlink(join(job, 'app', 'config', SIGNATURE_FILE));
    expect(await reason(job)).toMatch(/folder app\/config has no signature file/);
    expect(await reason(await makeJob())).toMatch(/job folder has no signature file/);
  });

  it('refuses files swapped between folders or taken from another signed job', async () => {
    const a = await signedJob();
    const b = await signedJob();
    await rm(join(a, 'app'), { recursive: true });
    await cp(join(b, 'app'), join(a, 'app'), { recursive: true });
    expect(await reason(a)).toMatch(/different job/);
  });

  it('refuses a self-signed signer, a foreign signer and a site signer', async () => {
    const self = await createRootCa('evil');
    const job1 = await makeJob();
    await signJobFolder(job1, self.keyPem, self.certPem);
    expect(await reason(job1)).toMatch(/signer certificate rejected: .*self-signed/);

    const foreignRoot = await createRootCa('demo');
    const foreign = await issueIdentity(foreignRoot, { name: 'admin', org: 'demo', role: 'lead' });
    const job2 = await makeJob();
    await signJobFolder(job2, foreign.keyPem, foreign.certPem);
    expect(await reason(job2)).toMatch(/not issued by the federation root CA/);

    const site = await issueIdentity(root, { name: 'site-1', org: 'demo', role: 'client' });
    const job3 = await makeJob();
    await signJobFolder(job3, site.keyPem, site.certPem);
    expect(await reason(job3)).toMatch(/"site-1" is a client, not an admin/);
  });

  it('refuses an expired signer certificate', async () => {
    const old = await issueIdentity(
      root,
      { name: 'old', org: 'demo', role: 'member' },
      { notBefore: new Date(Date.now() - 5 * 86_400_000), days: 1 },
    );
    const job = await makeJob();
    await signJobFolder(job, old.keyPem, old.certPem);
    expect(await reason(job)).toMatch(/expired/);
  });

  it('refuses symbolic links inside a job', async () => {
    const job = await signedJob();
    await symlink('/etc/hostname', join(job, 'app', 'link'));
    expect(await reason(job)).toMatch(/links are not allowed|app does not match/);
  });
});
