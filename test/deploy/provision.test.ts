import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pocPrepare } from '../../src/deploy/poc/poc.js';
import {
  chainProblem,
  createRootCa,
  identityOf,
  issueIdentity,
  loadKit,
  type ProvisionResult,
  parseAdmins,
  parseEndpoint,
  parseSites,
  parseTransport,
  provision,
} from '../../src/deploy/provision/index.js';

let dir: string;
let result: ProvisionResult;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vflare-prov-'));
  result = await provision({
    project: 'demo',
    server: { host: 'localhost', port: 8002 },
    serverAltNames: ['127.0.0.1'],
    sites: [
      { name: 'site-1', resources: { gpu: 2 } },
      { name: 'site-2', org: 'orgB' },
    ],
    admins: [
      { name: 'admin@demo.org', role: 'project-admin' },
      { name: 'lee', role: 'lead', org: 'orgB' },
    ],
    out: dir,
  });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('provision', () => {
  it('writes one kit per party whose certificates chain to the root CA', async () => {
    const root = new X509Certificate(await readFile(join(result.caDir, 'rootCA.pem')));
    const kits = [
      result.serverKit,
      ...Object.values(result.siteKits),
      ...Object.values(result.adminKits),
    ];
    expect(kits).toHaveLength(5);
    for (const k of kits) {
      const kit = await loadKit(k);
      expect(kit.rootCaPem.trim()).toBe(root.toString().trim());
      expect(chainProblem(new X509Certificate(kit.certPem), root)).toBeNull();
      expect((await stat(join(k, 'startup/key.pem'))).mode & 0o077).toBe(0);
    }
  });

  it('puts the site name in CN and the admin role and org in the subject', async () => {
    const site2 = await loadKit(result.siteKits['site-2']!, 'site');
    expect(identityOf(site2.certPem)).toEqual({ name: 'site-2', org: 'orgB', role: 'client' });
    const lead = await loadKit(result.adminKits['lee']!, 'admin');
    expect(identityOf(lead.certPem)).toEqual({ name: 'lee', org: 'orgB', role: 'lead' });
    expect(lead.config.kind === 'admin' && lead.config.role).toBe('lead');
    const site1 = await loadKit(result.siteKits['site-1']!);
    expect(site1.config.kind === 'site' && site1.config.resources).toEqual({ gpu: 2 });
  });

  it('covers the server host and its alternative names in the server certificate', async () => {
    const server = await loadKit(result.serverKit, 'server');
    const cert = new X509Certificate(server.certPem);
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(identityOf(cert).role).toBe('server');
  });

  it('refuses a kit of the wrong kind with a clear message', async () => {
    await expect(loadKit(result.siteKits['site-1']!, 'admin')).rejects.toThrow(
      /is a site kit, but an admin kit is needed/,
    );
    await expect(loadKit(join(dir, 'nope'))).rejects.toThrow(/has no startup\/kit.json/);
  });

  it('rejects duplicate, reserved and badly named parties before writing anything', async () => {
    const bad = provision({
      project: 'demo',
      server: { host: 'localhost', port: 1 },
      sites: [{ name: 'server' }, { name: 'a' }, { name: 'a' }],
      admins: [],
      out: join(dir, 'bad'),
    });
    await expect(bad).rejects.toThrow(
      /admin is needed[\s\S]*"server" is reserved[\s\S]*named twice/,
    );
    await expect(
      provision({
        project: 'demo',
        server: { host: 'localhost', port: 1 },
        sites: [{ name: 'CN=evil, O=x' }],
        admins: [{ name: 'a', role: 'member' }],
        out: join(dir, 'bad2'),
      }),
    ).rejects.toThrow(/is not allowed/);
  });
});

describe('output folders that hold something already', () => {
  it('refuses to provision over an existing federation (its root would be replaced)', async () => {
    const before = await readFile(join(dir, 'ca', 'rootCA.pem'), 'utf8');
    await expect(
      provision({
        project: 'other',
        server: { host: 'localhost', port: 8003 },
        sites: [{ name: 'site-9' }],
        admins: [{ name: 'a', role: 'project-admin' }],
        out: dir,
      }),
    ).rejects.toThrow(/already holds a federation's root CA/);
    expect(await readFile(join(dir, 'ca', 'rootCA.pem'), 'utf8')).toBe(before);
  });

  it('makes poc prepare refuse a foreign folder, a running POC and a bad port', async () => {
    const foreign = await mkdtemp(join(tmpdir(), 'vflare-poc-foreign-'));
    await writeFile(join(foreign, 'important.txt'), 'keep me');
    await expect(pocPrepare({ dir: foreign, sites: 1 })).rejects.toThrow(/holds other files/);
    expect(await readFile(join(foreign, 'important.txt'), 'utf8')).toBe('keep me');

    const poc = await mkdtemp(join(tmpdir(), 'vflare-poc-live-'));
    await pocPrepare({ dir: poc, sites: 1, port: 18_931 });
    // This test process stands in for a POC party that is still running.
    const state = { processes: [{ party: 'server', pid: process.pid }] };
    await writeFile(join(poc, 'poc.json'), JSON.stringify(state));
    await expect(pocPrepare({ dir: poc, sites: 1 })).rejects.toThrow(
      new RegExp(`a POC is running from .*\\(server pid ${process.pid}\\); run vflare poc stop`),
    );
    await rm(join(poc, 'poc.json'));
    await pocPrepare({ dir: poc, sites: 2, port: 18_932 }); // a stopped POC is replaced
    expect((await loadKit(join(poc, 'site-2'), 'site')).config.name).toBe('site-2');
    await expect(pocPrepare({ dir: poc, sites: 1, port: 99_999 })).rejects.toThrow(
      /--port: expected 1 to 65535/,
    );
    await rm(foreign, { recursive: true, force: true });
    await rm(poc, { recursive: true, force: true });
  });
});

describe('chainProblem', () => {
  it('names a foreign CA, a self-signed certificate and an expired one', async () => {
    const root = new X509Certificate(await readFile(join(result.caDir, 'rootCA.pem')));
    const other = await createRootCa('other');
    const foreign = await issueIdentity(other, { name: 'site-1', org: 'demo', role: 'client' });
    expect(chainProblem(new X509Certificate(foreign.certPem), root)).toMatch(/not issued by/);
    expect(chainProblem(new X509Certificate(other.certPem), root)).toMatch(/self-signed/);
    expect(chainProblem(root, root)).toMatch(/root CA itself/);
    const old = await issueIdentity(
      other,
      { name: 'x', org: 'demo', role: 'client' },
      { notBefore: new Date(Date.now() - 10 * 86_400_000), days: 1 },
    );
    const otherRoot = new X509Certificate(other.certPem);
    expect(chainProblem(new X509Certificate(old.certPem), otherRoot)).toMatch(/expired/);
  });
});

describe('command-line parsing', () => {
  it('parses endpoints, sites and admins', () => {
    expect(parseEndpoint('example.org:8002')).toEqual({ host: 'example.org', port: 8002 });
    expect(parseEndpoint('[::1]:9')).toEqual({ host: '::1', port: 9 });
    expect(() => parseEndpoint('nohost')).toThrow(/HOST:PORT/);
    expect(parseSites('site-1, site-2:orgB')).toEqual([
      { name: 'site-1' },
      { name: 'site-2', org: 'orgB' },
    ]);
    expect(parseAdmins('a@x.org,b:lead:orgB')).toEqual([
      { name: 'a@x.org', role: 'project-admin' },
      { name: 'b', role: 'lead', org: 'orgB' },
    ]);
    expect(() => parseAdmins('c:boss')).toThrow(/role "boss"/);
  });

  it('parses transport settings, such as the dead-site grace, and refuses unknown ones', () => {
    expect(parseTransport('heartbeatMs=1000, deadSiteGraceMs=8000')).toEqual({
      heartbeatMs: 1000,
      deadSiteGraceMs: 8000,
    });
    expect(() => parseTransport('graceMs=1')).toThrow(
      /--transport "graceMs=1": expected KEY=VALUE with KEY one of .*deadSiteGraceMs/,
    );
    expect(() => parseTransport('heartbeatMs=5s')).toThrow(/expected a whole number, got "5s"/);
  });
});

describe('transport settings in kits', () => {
  it('writes the dead-site grace into every kit, never shorter than a heartbeat', async () => {
    const kits = await provision({
      project: 'grace',
      server: { host: 'localhost', port: 1 },
      sites: [{ name: 'site-1' }],
      admins: [{ name: 'a', role: 'project-admin' }],
      out: join(dir, 'grace'),
      transport: parseTransport('deadSiteGraceMs=7000'),
    });
    for (const k of [kits.serverKit, kits.siteKits['site-1']!]) {
      expect((await loadKit(k)).config.transport).toEqual({ deadSiteGraceMs: 7000 });
    }
    await expect(
      provision({
        project: 'grace',
        server: { host: 'localhost', port: 1 },
        sites: [{ name: 'site-1' }],
        admins: [{ name: 'a', role: 'project-admin' }],
        out: join(dir, 'grace-bad'),
        transport: { heartbeatMs: 5000, deadSiteGraceMs: 4000 },
      }),
    ).rejects.toThrow(/deadSiteGraceMs must be longer than heartbeatMs/);
    await expect(stat(join(dir, 'grace-bad'))).rejects.toThrow();
  });
});
