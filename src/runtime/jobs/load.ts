/**
 * Reading a job folder: `<job>/meta.json` plus `<job>/<app>/config/server.json` and/or
 * `client.json` for each app of the deploy map. Every problem found (unreadable files, schema
 * errors, deploy-map rules, unknown component types, bad args) is collected and thrown at once
 * as a `JobValidationError`.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { z } from 'zod';
import { JobValidationError, VflareError } from '../core/errors.js';
import type { ComponentRegistry } from './registry.js';
import {
  type AppConfig,
  clientConfigSchema,
  type Job,
  type JobMeta,
  jobMetaSchema,
  serverConfigSchema,
  zodProblems,
} from './schema.js';
import { jobProblems, jobTypes } from './validate.js';

export interface LoadedJob {
  readonly job: Job;
  /** Absolute path of the job folder. */
  readonly dir: string;
}

type Read<T> = { value: T } | { missing: true } | { problems: string[] };

async function readJson<S extends z.ZodType>(
  path: string,
  label: string,
  schema: S,
): Promise<Read<z.output<S>>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { missing: true };
    return { problems: [`${label}: cannot be read (${(err as NodeJS.ErrnoException).code})`] };
  }
  if (text.trim() === '') return { problems: [`${label}: the file is empty`] };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { problems: [`${label}: not valid JSON (${(err as Error).message})`] };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) return { problems: zodProblems(label, parsed.error) };
  return { value: parsed.data };
}

/** Loads and validates a job folder; `registry` also checks component types and args. */
export async function loadJob(dir: string, registry?: ComponentRegistry): Promise<LoadedJob> {
  const abs = resolve(dir);
  try {
    if (!(await stat(abs)).isDirectory()) throw new Error('not a folder');
  } catch {
    throw new VflareError('NOT_FOUND', `job folder ${dir} does not exist or is not a folder`);
  }
  const problems: string[] = [];
  const metaRead = await readJson(join(abs, 'meta.json'), 'meta.json', jobMetaSchema);
  if ('missing' in metaRead) problems.push('meta.json: missing (every job folder needs one)');
  let meta: JobMeta | undefined;
  if ('problems' in metaRead) {
    problems.push(...metaRead.problems);
    // Unknown keys alone do not stop the other checks: read the rest leniently.
    const lenient = await readJson(join(abs, 'meta.json'), 'meta.json', jobMetaSchema.strip());
    if ('value' in lenient) meta = lenient.value;
  } else if ('value' in metaRead) meta = metaRead.value;
  if (meta === undefined) throw new JobValidationError(basename(abs), problems);
  const apps: Record<string, AppConfig> = {};
  for (const app of Object.keys(meta.deployMap)) {
    const base = join(abs, app, 'config');
    const server = await readJson(
      join(base, 'server.json'),
      `app "${app}" server.json`,
      serverConfigSchema,
    );
    const client = await readJson(
      join(base, 'client.json'),
      `app "${app}" client.json`,
      clientConfigSchema,
    );
    if ('problems' in server) problems.push(...server.problems);
    if ('problems' in client) problems.push(...client.problems);
    apps[app] = {
      ...('value' in server ? { server: server.value } : {}),
      ...('value' in client ? { client: client.value } : {}),
    };
  }
  const job: Job = { meta, apps };
  await registry?.ensure(jobTypes(job));
  // Schema problems of a config file already explain its absence from `apps`: only report the
  // deploy-map consequences for files that are truly missing.
  const semantic = jobProblems(job, registry).filter(
    (p) => !problems.some((q) => sameFileProblem(p, q)),
  );
  problems.push(...semantic);
  if (problems.length > 0) throw new JobValidationError(meta.name, problems);
  return { job, dir: abs };
}

function sameFileProblem(semantic: string, schema: string): boolean {
  const m =
    /^app "([^"]+)" is deployed to (the server|clients) but has no config\/(\w+)\.json$/.exec(
      semantic,
    );
  return m !== null && schema.startsWith(`app "${m[1]}" ${m[3]}.json`);
}

/** Validates an in-memory job (e.g. from the builder) the same way as a folder. */
export function validateJob(job: Job, registry?: ComponentRegistry): Job {
  const problems = jobProblems(job, registry);
  if (problems.length > 0) throw new JobValidationError(job.meta.name, problems);
  return job;
}
