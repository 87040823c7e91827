/**
 * The server's job store: every submitted job on disk, so the server can restart without losing
 * a job, a status or a result.
 *
 * ```
 * <root>/<job id>/record.json   the JobRecord (written atomically: temp file, fsync, rename)
 * <root>/<job id>/job/          the job folder as submitted (signatures included)
 * <root>/<job id>/workspace/    the run's outputs (summary.json, models, per-site logs)
 * ```
 * Status lifecycle (NVFlare's `RunStatus`): submitted → dispatched → running → one of the
 * finished statuses. A finished status is final; in particular an aborted job never starts later,
 * even after a restart.
 */
import { randomUUID } from 'node:crypto';
import { cp, mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { type Logger, silentLogger, VflareError } from '../../runtime/core/index.js';

export const FINISHED_STATUSES = [
  'finished:completed',
  'finished:aborted',
  'finished:execution-exception',
  'finished:can-not-schedule',
  'finished:failed-to-run',
] as const;
export const JOB_STATUSES = ['submitted', 'dispatched', 'running', ...FINISHED_STATUSES] as const;
export type JobRunStatus = (typeof JOB_STATUSES)[number];
export type FinishedStatus = (typeof FINISHED_STATUSES)[number];

export function isFinished(status: JobRunStatus): status is FinishedStatus {
  return status.startsWith('finished:');
}

const requirementsSchema = z.object({
  /** App deploy targets besides the server: site names, or '@ALL'. */
  sites: z.union([z.array(z.string()), z.literal('@ALL')]),
  minClients: z.number().int().min(1),
  mandatoryClients: z.array(z.string()),
  resourceSpec: z.record(z.string(), z.record(z.string(), z.number())),
});
export type JobRequirements = z.infer<typeof requirementsSchema>;

const recordSchema = z.object({
  id: z.string(),
  name: z.string(),
  status: z.enum(JOB_STATUSES),
  submitter: z.object({ name: z.string(), org: z.string(), role: z.string() }),
  /** Server wall-clock time, for people; ordering uses `seq`. */
  submitTime: z.string(),
  /** Submission order, strictly increasing within a store. */
  seq: z.number().int(),
  requirements: requirementsSchema,
  startTime: z.string().optional(),
  endTime: z.string().optional(),
  scheduleCount: z.number().int().nonnegative(),
  /** Why the last scheduling attempt did not start the job (offline sites, short resources). */
  scheduleProblem: z.string().optional(),
  /** Per-party deploy outcome: 'ok' or the reason it failed. */
  deployDetail: z.record(z.string(), z.string()),
  /** Sites the job was deployed to. */
  sites: z.array(z.string()),
  /** Safe reason for a finished status other than completed. */
  reason: z.string().optional(),
  clonedFrom: z.string().optional(),
  /** Last round persisted by the workflow, for resuming after a server restart. */
  lastRound: z.number().int().optional(),
});
export type JobRecord = z.infer<typeof recordSchema>;

export interface ListOptions {
  readonly idPrefix?: string | undefined;
  readonly namePrefix?: string | undefined;
  /** Newest first (`-r`). */
  readonly reverse?: boolean | undefined;
  /** Keep only the N most recent (`-m N`), in either order. */
  readonly limit?: number | undefined;
}

const ALLOWED: Readonly<Record<JobRunStatus, readonly JobRunStatus[]>> = {
  submitted: ['dispatched', ...FINISHED_STATUSES],
  dispatched: ['running', ...FINISHED_STATUSES],
  running: [...FINISHED_STATUSES],
  'finished:completed': [],
  'finished:aborted': [],
  'finished:execution-exception': [],
  'finished:can-not-schedule': [],
  'finished:failed-to-run': [],
};

async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomUUID().slice(0, 8)}`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

export type RecordPatch = Partial<Omit<JobRecord, 'id' | 'seq' | 'submitTime' | 'status'>>;

export class JobStore {
  readonly root: string;
  readonly #jobs = new Map<string, JobRecord>();
  #seq = 0;
  /** Mutations run one at a time, so a status check never reads a record mid-update. */
  #tail: Promise<unknown> = Promise.resolve();

  private constructor(root: string) {
    this.root = root;
  }

  /** Opens (or creates) a store; unreadable records are logged and left on disk untouched. */
  static async open(root: string, log: Logger = silentLogger): Promise<JobStore> {
    const store = new JobStore(root);
    await mkdir(root, { recursive: true });
    for (const id of await readdir(root)) {
      const path = join(root, id, 'record.json');
      try {
        const record = recordSchema.parse(JSON.parse(await readFile(path, 'utf8')));
        if (record.id !== id) throw new Error('id mismatch');
        store.#jobs.set(id, record);
        store.#seq = Math.max(store.#seq, record.seq);
      } catch {
        log.warn({ job: id }, 'job store: skipping a job whose record.json is missing or corrupt');
      }
    }
    return store;
  }

  jobDir(id: string): string {
    return join(this.root, this.#must(id).id, 'job');
  }

  workspaceDir(id: string): string {
    return join(this.root, this.#must(id).id, 'workspace');
  }

  get(id: string): JobRecord | undefined {
    return this.#jobs.get(id);
  }

  /** Copies `jobDir` into the store and records the job as submitted. */
  async create(
    jobDir: string,
    init: {
      name: string;
      submitter: JobRecord['submitter'];
      requirements: JobRequirements;
      clonedFrom?: string;
    },
  ): Promise<JobRecord> {
    const id = randomUUID();
    const dir = join(this.root, id);
    await mkdir(join(dir, 'workspace'), { recursive: true });
    await cp(jobDir, join(dir, 'job'), { recursive: true, verbatimSymlinks: true });
    const record: JobRecord = {
      id,
      name: init.name,
      status: 'submitted',
      submitter: init.submitter,
      submitTime: new Date().toISOString(),
      seq: ++this.#seq,
      requirements: init.requirements,
      scheduleCount: 0,
      deployDetail: {},
      sites: [],
      ...(init.clonedFrom === undefined ? {} : { clonedFrom: init.clonedFrom }),
    };
    await this.#save(record);
    return record;
  }

  /** A new submitted job with the same folder (jobs run once; re-running is cloning). */
  async clone(id: string, submitter: JobRecord['submitter']): Promise<JobRecord> {
    const src = this.#must(id);
    return this.create(this.jobDir(id), {
      name: src.name,
      submitter,
      requirements: src.requirements,
      clonedFrom: id,
    });
  }

  /** Changes a job's status; refuses moves the lifecycle forbids (a finished job stays so). */
  setStatus(id: string, status: JobRunStatus, patch: RecordPatch = {}): Promise<JobRecord> {
    return this.#serial(() => this.#setStatus(id, status, patch));
  }

  async #setStatus(id: string, status: JobRunStatus, patch: RecordPatch): Promise<JobRecord> {
    const record = this.#must(id);
    if (!ALLOWED[record.status].includes(status)) {
      throw new VflareError(
        'INVALID_ARGUMENT',
        `job ${id} is ${record.status}; it cannot become ${status}`,
        { context: { job: id } },
      );
    }
    const now = new Date().toISOString();
    const next: JobRecord = {
      ...record,
      ...patch,
      status,
      ...(status === 'running' && record.startTime === undefined ? { startTime: now } : {}),
      ...(isFinished(status) ? { endTime: now } : {}),
    };
    await this.#save(next);
    return next;
  }

  /** Updates fields other than the status. */
  update(id: string, patch: RecordPatch): Promise<JobRecord> {
    return this.#serial(async () => {
      const next = { ...this.#must(id), ...patch };
      await this.#save(next);
      return next;
    });
  }

  /** Deletes a job that is not dispatched or running. */
  delete(id: string): Promise<void> {
    return this.#serial(() => this.#delete(id));
  }

  async #delete(id: string): Promise<void> {
    const record = this.#must(id);
    if (record.status === 'running' || record.status === 'dispatched') {
      throw new VflareError(
        'INVALID_ARGUMENT',
        `job ${id} is ${record.status}; abort it before deleting it`,
        { context: { job: id } },
      );
    }
    this.#jobs.delete(id);
    await rm(join(this.root, id), { recursive: true, force: true });
  }

  /**
   * Jobs matching the prefixes, oldest first (newest first with `reverse`); with `limit`, only
   * the `limit` most recently submitted, in the requested order (NVFlare 2.3 `list_jobs -m`).
   */
  list(options: ListOptions = {}): JobRecord[] {
    let jobs = [...this.#jobs.values()]
      .filter((j) => options.idPrefix === undefined || j.id.startsWith(options.idPrefix))
      .filter((j) => options.namePrefix === undefined || j.name.startsWith(options.namePrefix))
      .sort((a, b) => a.seq - b.seq);
    if (options.limit !== undefined) jobs = jobs.slice(Math.max(0, jobs.length - options.limit));
    if (options.reverse === true) jobs.reverse();
    return jobs;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(fn, fn);
    this.#tail = run.catch(() => undefined);
    return run;
  }

  #must(id: string): JobRecord {
    const record = this.#jobs.get(id);
    if (record === undefined) {
      throw new VflareError(
        'NOT_FOUND',
        `no job with id ${id} (give the whole id); list_jobs shows the known ids`,
      );
    }
    return record;
  }

  async #save(record: JobRecord): Promise<void> {
    await writeAtomic(join(this.root, record.id, 'record.json'), JSON.stringify(record, null, 1));
    this.#jobs.set(record.id, record);
  }
}
