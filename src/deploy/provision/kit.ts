/**
 * Startup kits: one folder per party holding what it needs to join the federation.
 *
 * ```
 * <kit>/startup/kit.json    config (this file's `KitConfig`, validated with zod)
 * <kit>/startup/rootCA.pem  the federation's root certificate
 * <kit>/startup/cert.pem    the party's certificate (CN = party name)
 * <kit>/startup/key.pem     the party's private key (mode 0600)
 * <kit>/local/              site-owned settings the job cannot override (resources, privacy)
 * ```
 * The root CA's private key is never part of a kit; provisioning keeps it in `<out>/ca/`.
 */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { VflareError } from '../../runtime/core/index.js';

export const KIT_FORMAT = 1;

const endpoint = z.object({
  host: z.string().min(1),
  port: z.number().int().min(0).max(65535),
});

export const transportSettingsSchema = z
  .object({
    /** Largest message a party sends or accepts, in bytes. */
    maxMessageBytes: z.number().int().positive().optional(),
    /** Chunk size for streaming large messages, in bytes. */
    chunkBytes: z.number().int().positive().optional(),
    /** A transfer that makes no progress for this long fails (ms). */
    progressTimeoutMs: z.number().int().positive().optional(),
    /** Heartbeat period of sites (ms). */
    heartbeatMs: z.number().int().positive().optional(),
    /** A site silent for this long is dead (ms). */
    deadSiteGraceMs: z.number().int().positive().optional(),
    /**
     * Largest job folder (submit_job) or job result (download_job), packed, in bytes; they
     * travel in chunks, so this may exceed `maxMessageBytes`. Default 4 GiB − 1.
     */
    maxJobBytes: z.number().int().positive().max(0xffff_ffff).optional(),
  })
  .strict()
  .refine((t) => (t.deadSiteGraceMs ?? 30_000) > (t.heartbeatMs ?? 5_000), {
    message:
      'deadSiteGraceMs must be longer than heartbeatMs (defaults 30000 and 5000): a site would ' +
      'be declared dead between two of its heartbeats',
  });

const schedulerSettings = z
  .object({
    maxJobs: z.number().int().positive().optional(),
    minScheduleIntervalMs: z.number().int().nonnegative().optional(),
    maxScheduleIntervalMs: z.number().int().nonnegative().optional(),
    maxScheduleCount: z.number().int().positive().optional(),
    /**
     * After a start, sites get this long to reconnect before the first scheduling pass, so a
     * job cut off by a restart is not judged while its sites come back (ms; default 10 000).
     */
    startupGraceMs: z.number().int().nonnegative().optional(),
  })
  .strict();

const base = {
  format: z.literal(KIT_FORMAT),
  project: z.string().min(1),
  name: z.string().min(1),
  org: z.string().min(1),
  server: endpoint,
  transport: transportSettingsSchema.optional(),
};

export const kitConfigSchema = z.discriminatedUnion('kind', [
  z.object({
    ...base,
    kind: z.literal('server'),
    /** Address the server listens on; default `0.0.0.0` and the `server.port`. */
    listen: endpoint.optional(),
    scheduler: schedulerSettings.optional(),
    /** Server-side data paths of jobs resolve against it. Default `<kit>/data`. */
    dataRoot: z.string().optional(),
  }),
  z.object({
    ...base,
    kind: z.literal('site'),
    /** What this site offers to jobs' `resourceSpec` (e.g. {"gpu": 1}). */
    resources: z.record(z.string(), z.number().nonnegative()).optional(),
    /** Where the site's data lives; job data paths resolve against it. Default `<kit>/data`. */
    dataRoot: z.string().optional(),
  }),
  z.object({
    ...base,
    kind: z.literal('admin'),
    role: z.enum(['project-admin', 'org-admin', 'lead', 'member']),
  }),
]);

export type KitConfig = z.infer<typeof kitConfigSchema>;
export type KitKind = KitConfig['kind'];

/** A loaded kit: config plus PEM material, with absolute paths. */
export interface StartupKit {
  readonly dir: string;
  readonly config: KitConfig;
  readonly rootCaPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

export const KIT_FILES = {
  config: 'startup/kit.json',
  rootCa: 'startup/rootCA.pem',
  cert: 'startup/cert.pem',
  key: 'startup/key.pem',
  local: 'local',
} as const;

export async function writeKit(
  dir: string,
  config: KitConfig,
  pem: { rootCaPem: string; certPem: string; keyPem: string },
): Promise<void> {
  await mkdir(join(dir, 'startup'), { recursive: true });
  await mkdir(join(dir, KIT_FILES.local), { recursive: true });
  await writeFile(join(dir, KIT_FILES.config), `${JSON.stringify(config, null, 2)}\n`);
  await writeFile(join(dir, KIT_FILES.rootCa), pem.rootCaPem);
  await writeFile(join(dir, KIT_FILES.cert), pem.certPem);
  await writeFile(join(dir, KIT_FILES.key), pem.keyPem, { mode: 0o600 });
  await chmod(join(dir, KIT_FILES.key), 0o600);
}

async function readKitFile(dir: string, rel: string): Promise<string> {
  try {
    return await readFile(join(dir, rel), 'utf8');
  } catch {
    throw new VflareError(
      'INVALID_CONFIG',
      `startup kit ${dir} has no ${rel}; pass the folder vflare provision wrote for this party`,
    );
  }
}

/** Loads and validates a kit; `expect` refuses a kit of the wrong kind with a clear message. */
export async function loadKit(dir: string, expect?: KitKind): Promise<StartupKit> {
  const abs = resolve(dir);
  const raw = await readKitFile(abs, KIT_FILES.config);
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new VflareError('INVALID_CONFIG', `${join(abs, KIT_FILES.config)} is not valid JSON`);
  }
  const parsed = kitConfigSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (i) => `${i.path.join('.') || '(root)'}: ${i.message}`,
    );
    throw new VflareError(
      'INVALID_CONFIG',
      `${join(abs, KIT_FILES.config)} is invalid:\n  - ${problems.join('\n  - ')}`,
    );
  }
  if (expect !== undefined && parsed.data.kind !== expect) {
    throw new VflareError(
      'INVALID_CONFIG',
      `${abs} is ${parsed.data.kind === 'admin' ? 'an' : 'a'} ${parsed.data.kind} kit, ` +
        `but ${expect === 'admin' ? 'an' : 'a'} ${expect} kit is needed here`,
    );
  }
  return {
    dir: abs,
    config: parsed.data,
    rootCaPem: await readKitFile(abs, KIT_FILES.rootCa),
    certPem: await readKitFile(abs, KIT_FILES.cert),
    keyPem: await readKitFile(abs, KIT_FILES.key),
  };
}
