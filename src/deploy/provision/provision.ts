/**
 * `vflare provision`: one root CA and one startup kit per party.
 *
 * ```
 * <out>/ca/rootCA.pem, rootCA.key   the root (keep the key offline; it is in no kit)
 * <out>/server/                     the server's kit
 * <out>/<site>/                     one kit per site
 * <out>/<admin>/                    one kit per admin user
 * ```
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { VflareError } from '../../runtime/core/index.js';
import { type KitConfig, transportSettingsSchema, writeKit } from './kit.js';
import {
  type AdminRole,
  createRootCa,
  isAdminRole,
  issueIdentity,
  type ValidityOptions,
} from './pki.js';

export interface SiteSpec {
  readonly name: string;
  /** Default: the project name. */
  readonly org?: string;
  readonly resources?: Readonly<Record<string, number>>;
}

export interface AdminSpec {
  readonly name: string;
  readonly role: AdminRole;
  /** Default: the project name. */
  readonly org?: string;
}

export interface ProvisionOptions extends ValidityOptions {
  readonly project: string;
  /** Address sites and admins dial. */
  readonly server: { readonly host: string; readonly port: number };
  /** Extra names the server certificate covers besides `server.host`. */
  readonly serverAltNames?: readonly string[];
  readonly serverOrg?: string;
  readonly sites: readonly SiteSpec[];
  readonly admins: readonly AdminSpec[];
  readonly out: string;
  /** Written into every kit's `transport` section. */
  readonly transport?: KitConfig['transport'];
  /** Written into the server kit's `scheduler` section. */
  readonly scheduler?: Extract<KitConfig, { kind: 'server' }>['scheduler'];
  /** Where the server listens (e.g. 127.0.0.1 to stay on loopback); default 0.0.0.0 + port. */
  readonly listen?: { readonly host: string; readonly port: number };
}

export interface ProvisionResult {
  readonly out: string;
  readonly caDir: string;
  readonly serverKit: string;
  readonly siteKits: Readonly<Record<string, string>>;
  readonly adminKits: Readonly<Record<string, string>>;
}

const RESERVED = new Set(['server', 'ca', '@ALL']);

function checkParties(options: ProvisionOptions): void {
  const problems: string[] = [];
  if (options.sites.length === 0) problems.push('at least one site is needed (--sites)');
  if (options.admins.length === 0) problems.push('at least one admin is needed (--admins)');
  const seen = new Set<string>();
  for (const p of [...options.sites, ...options.admins]) {
    if (RESERVED.has(p.name)) problems.push(`"${p.name}" is reserved and cannot name a party`);
    if (seen.has(p.name)) problems.push(`"${p.name}" is named twice; party names must be unique`);
    seen.add(p.name);
  }
  for (const a of options.admins) {
    if (!isAdminRole(a.role)) problems.push(`admin "${a.name}" has unknown role "${a.role}"`);
  }
  const transport = transportSettingsSchema.optional().safeParse(options.transport);
  if (!transport.success) {
    for (const issue of transport.error.issues) {
      problems.push(`transport ${issue.path.join('.') || 'settings'}: ${issue.message}`);
    }
  }
  if (problems.length > 0) {
    throw new VflareError('INVALID_ARGUMENT', `cannot provision:\n  - ${problems.join('\n  - ')}`);
  }
}

export async function provision(options: ProvisionOptions): Promise<ProvisionResult> {
  checkParties(options);
  const out = resolve(options.out);
  if (existsSync(join(out, 'ca', 'rootCA.key')) || existsSync(join(out, 'ca', 'rootCA.pem'))) {
    // A new root would split the federation: kits already handed out trust the old one.
    throw new VflareError(
      'INVALID_ARGUMENT',
      `--out: ${out} already holds a federation's root CA (ca/); provisioning again would ` +
        'replace it and leave the kits already given out trusting the old root. Give a new ' +
        'folder, or delete the old one first if you mean to start over',
    );
  }
  const { project } = options;
  const root = await createRootCa(project, options);
  const caDir = join(out, 'ca');
  await mkdir(caDir, { recursive: true });
  await writeFile(join(caDir, 'rootCA.pem'), root.certPem);
  await writeFile(join(caDir, 'rootCA.key'), root.keyPem, { mode: 0o600 });
  const common = {
    format: 1 as const,
    project,
    server: { host: options.server.host, port: options.server.port },
    ...(options.transport === undefined ? {} : { transport: options.transport }),
  };

  const serverOrg = options.serverOrg ?? project;
  const serverId = await issueIdentity(
    root,
    {
      name: options.server.host,
      org: serverOrg,
      role: 'server',
      altNames: options.serverAltNames ?? [],
    },
    options,
  );
  const serverKit = join(out, 'server');
  await writeKit(
    serverKit,
    {
      ...common,
      kind: 'server',
      name: options.server.host,
      org: serverOrg,
      ...(options.scheduler === undefined ? {} : { scheduler: options.scheduler }),
      ...(options.listen === undefined ? {} : { listen: options.listen }),
    },
    { rootCaPem: root.certPem, ...serverId },
  );

  const siteKits: Record<string, string> = {};
  for (const site of options.sites) {
    const org = site.org ?? project;
    const id = await issueIdentity(root, { name: site.name, org, role: 'client' }, options);
    const dir = join(out, site.name);
    await writeKit(
      dir,
      {
        ...common,
        kind: 'site',
        name: site.name,
        org,
        ...(site.resources === undefined ? {} : { resources: { ...site.resources } }),
      },
      { rootCaPem: root.certPem, ...id },
    );
    siteKits[site.name] = dir;
  }

  const adminKits: Record<string, string> = {};
  for (const admin of options.admins) {
    const org = admin.org ?? project;
    const id = await issueIdentity(root, { name: admin.name, org, role: admin.role }, options);
    const dir = join(out, admin.name);
    await writeKit(
      dir,
      { ...common, kind: 'admin', name: admin.name, org, role: admin.role },
      { rootCaPem: root.certPem, ...id },
    );
    adminKits[admin.name] = dir;
  }
  return { out, caDir, serverKit, siteKits, adminKits };
}

/**
 * Parses `heartbeatMs=500,deadSiteGraceMs=5000` (`--transport`): settings of every kit's
 * `transport` section, integers; `provision` checks their ranges.
 */
export function parseTransport(text: string): NonNullable<KitConfig['transport']> {
  const keys = Object.keys(transportSettingsSchema.shape);
  const out: Record<string, number> = {};
  for (const item of splitList(text)) {
    const [key, value, extra] = item.split('=');
    if (key === undefined || !keys.includes(key) || value === undefined || extra !== undefined) {
      throw new VflareError(
        'INVALID_ARGUMENT',
        `--transport "${item}": expected KEY=VALUE with KEY one of ${keys.join(', ')}`,
      );
    }
    if (!/^\d+$/.test(value)) {
      throw new VflareError(
        'INVALID_ARGUMENT',
        `--transport ${key}: expected a whole number, got "${value}"`,
      );
    }
    out[key] = Number(value);
  }
  return out;
}

/** Parses `HOST:PORT` (IPv6 as `[::1]:8002`). */
export function parseEndpoint(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535) {
    throw new VflareError('INVALID_ARGUMENT', `--server "${text}": expected HOST:PORT`);
  }
  return { host: (m[1] ?? m[2])!, port };
}

/** Parses `site-1,site-2:orgB`: a comma list of `NAME[:ORG]`. */
export function parseSites(text: string): SiteSpec[] {
  return splitList(text).map((item) => {
    const [name, org] = item.split(':');
    return org ? { name: name!, org } : { name: name! };
  });
}

/**
 * Parses `alice@a.org:lead:orgA,bob`: a comma list of `NAME[:ROLE[:ORG]]` (role default
 * project-admin).
 */
export function parseAdmins(text: string): AdminSpec[] {
  return splitList(text).map((item) => {
    const [name, role = 'project-admin', org] = item.split(':');
    if (!isAdminRole(role)) {
      throw new VflareError(
        'INVALID_ARGUMENT',
        `--admins "${item}": role "${role}" is not one of project-admin, org-admin, lead, member`,
      );
    }
    return org ? { name: name!, role, org } : { name: name!, role };
  });
}

function splitList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}
