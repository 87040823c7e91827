/**
 * The typed admin API (NVFlare's FLARE API `Session`, in TypeScript): submit, list, inspect,
 * monitor, abort, clone, delete and download jobs, check the system and shut it down. A session
 * authenticates with an admin startup kit (mutual TLS); the server authorises each command by
 * the role in the kit's certificate.
 */
import { cp, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { unpack } from 'msgpackr';
import { type ErrorCode, VflareError } from '../../runtime/core/index.js';
import { readFolderFiles, writeFolderFiles } from '../files.js';
import { callUnary, makeGrpcClient } from '../grpc/client.js';
import { linkSettings } from '../grpc/link.js';
import { encode } from '../grpc/protocol.js';
import type { JobRecord, ListOptions } from '../jobstore/store.js';
import { loadKit, type StartupKit } from '../provision/kit.js';
import { signJobFolder } from '../signing/signing.js';
import type { AdminReply, AdminRequest, SystemStatus } from './protocol.js';

export interface SessionOptions {
  /** Deadline of each command (ms); default 60 s. */
  readonly timeoutMs?: number;
  /** Overrides the kit's server address. */
  readonly host?: string;
  readonly port?: number;
}

// grpc status codes (numeric, to keep grpc-js a type-only import here).
const DEADLINE_EXCEEDED = 4;
const UNAVAILABLE = 14;

export type MonitorOutcome = 'finished' | 'timeout' | 'ended-by-callback';

export interface MonitorOptions {
  /** Give up after this long (ms); 0 = wait forever. Default 0. */
  readonly timeoutMs?: number;
  /** Poll period (ms); default 2 000. */
  readonly pollMs?: number;
  /** Called with each polled record; returning false stops monitoring. */
  readonly callback?: (job: JobRecord) => boolean;
}

export class Session {
  readonly kit: StartupKit;
  readonly #client: grpc.Client;
  readonly #timeoutMs: number;
  #closed = false;

  private constructor(kit: StartupKit, client: grpc.Client, timeoutMs: number) {
    this.kit = kit;
    this.#client = client;
    this.#timeoutMs = timeoutMs;
  }

  /** Opens a session with an admin kit and checks the server answers. */
  static async open(kitDir: string, options: SessionOptions = {}): Promise<Session> {
    const kit = await loadKit(kitDir, 'admin');
    const client = makeGrpcClient({
      kit,
      link: linkSettings(kit.config.transport),
      ...(options.host !== undefined ? { host: options.host } : {}),
      ...(options.port !== undefined ? { port: options.port } : {}),
    });
    const session = new Session(kit, client, options.timeoutMs ?? 60_000);
    try {
      await session.checkStatus();
    } catch (err) {
      session.close();
      throw err;
    }
    return session;
  }

  close(): void {
    this.#closed = true;
    this.#client.close();
  }

  async #call(request: AdminRequest): Promise<unknown> {
    if (this.#closed) throw new VflareError('INVALID_ARGUMENT', 'the admin session is closed');
    let raw: Buffer;
    try {
      raw = await callUnary(this.#client, 'admin', encode(request), this.#timeoutMs);
    } catch (err) {
      const e = err as grpc.ServiceError;
      const { host, port } = this.kit.config.server;
      const why = tidyGrpcReason(e.details || e.message);
      throw new VflareError(
        'PEER_FAILED',
        e.code === UNAVAILABLE || e.code === DEADLINE_EXCEEDED
          ? `cannot reach the server at ${host}:${port}: ${why}`
          : `the server at ${host}:${port} refused the command: ${why}`,
      );
    }
    const reply = unpack(raw) as AdminReply;
    if (!reply.ok) throw new VflareError(reply.code as ErrorCode, reply.error);
    return reply.result;
  }

  /** Signs a copy of the job folder with this admin's key and submits it; returns the job id. */
  async submitJob(jobDir: string): Promise<string> {
    const info = await stat(resolve(jobDir)).catch(() => undefined);
    if (info === undefined || !info.isDirectory()) {
      throw new VflareError(
        'NOT_FOUND',
        `submit_job ${jobDir}: no such job folder (it needs meta.json and the app folders)`,
      );
    }
    const tmp = await mkdtemp(join(tmpdir(), 'vflare-sign-'));
    try {
      await cp(resolve(jobDir), tmp, { recursive: true, verbatimSymlinks: true });
      await signJobFolder(tmp, this.kit.keyPem, this.kit.certPem);
      const files = await readFolderFiles(tmp);
      try {
        return (await this.#call({ command: 'submit_job', files })) as string;
      } catch (err) {
        // Name the folder the user gave; the server only knows its own copy.
        if (err instanceof VflareError && err.code === 'INVALID_JOB') {
          throw new VflareError('INVALID_JOB', `submit_job ${jobDir}: ${err.message}`);
        }
        throw err;
      }
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  async listJobs(options: ListOptions = {}): Promise<JobRecord[]> {
    return (await this.#call({ command: 'list_jobs', ...options })) as JobRecord[];
  }

  async getJobMeta(jobId: string): Promise<JobRecord> {
    return (await this.#call({ command: 'get_job_meta', jobId })) as JobRecord;
  }

  async abortJob(jobId: string): Promise<string> {
    return (await this.#call({ command: 'abort_job', jobId })) as string;
  }

  async cloneJob(jobId: string): Promise<string> {
    return (await this.#call({ command: 'clone_job', jobId })) as string;
  }

  async deleteJob(jobId: string): Promise<void> {
    await this.#call({ command: 'delete_job', jobId });
  }

  /** Downloads the job's workspace (summary.json, per-party outputs) into `dir`. */
  async downloadJobResult(jobId: string, dir: string): Promise<string> {
    const files = (await this.#call({ command: 'download_job', jobId })) as {
      path: string;
      data: Uint8Array;
    }[];
    const target = join(resolve(dir), jobId);
    await writeFolderFiles(target, files);
    return target;
  }

  async checkStatus(): Promise<SystemStatus> {
    return (await this.#call({ command: 'check_status' })) as SystemStatus;
  }

  async shutdown(): Promise<void> {
    await this.#call({ command: 'shutdown' });
  }

  /** Polls a job until it finishes, the timeout passes, or the callback says stop. */
  async monitorJob(jobId: string, options: MonitorOptions = {}): Promise<MonitorOutcome> {
    const start = performance.now();
    const pollMs = options.pollMs ?? 2_000;
    for (;;) {
      const job = await this.getJobMeta(jobId);
      if (options.callback !== undefined && !options.callback(job)) return 'ended-by-callback';
      if (job.status.startsWith('finished:')) return 'finished';
      const timeout = options.timeoutMs ?? 0;
      if (timeout > 0 && performance.now() - start >= timeout) return 'timeout';
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }
}

/**
 * grpc-js connection errors are long ("No connection established. Last error: …. Resolution
 * note: "): keep the cause and, for a TLS failure, say what usually causes it.
 */
export function tidyGrpcReason(details: string): string {
  const last = /Last error: (?:Error: )?(.*?)(?:\. Resolution note:.*)?$/s.exec(details);
  const cause = (last?.[1] ?? details).trim();
  if (/certificate|ssl|tls|handshake|alert/i.test(cause)) {
    return (
      `TLS handshake failed (${cause}): the server and this kit do not trust each other; ` +
      'check that the kit comes from this federation (same project, same root CA) ' +
      'and has not expired'
    );
  }
  return cause;
}
