/**
 * The typed admin API (NVFlare's FLARE API `Session`, in TypeScript): submit, list, inspect,
 * monitor, abort, clone, delete and download jobs, check the system and shut it down. A session
 * authenticates with an admin startup kit (mutual TLS); the server authorises each command by
 * the role in the kit's certificate.
 */
import { cp, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import type * as grpc from '@grpc/grpc-js';
import { unpack } from 'msgpackr';
import { type ErrorCode, VflareError } from '../../runtime/core/index.js';
import { readFolderFiles, writeFolderFiles } from '../files.js';
import { CHUNK_HEADER_BYTES, chunksOf, MAX_MESSAGE_LIMIT, Reassembler } from '../grpc/chunks.js';
import { callUnary, makeGrpcClient } from '../grpc/client.js';
import { type LinkSettings, linkSettings } from '../grpc/link.js';
import { decode, encode } from '../grpc/protocol.js';
import type { JobRecord, ListOptions } from '../jobstore/store.js';
import { loadKit, type StartupKit } from '../provision/kit.js';
import { signJobFolder } from '../signing/signing.js';
import {
  type AdminReply,
  type AdminRequest,
  type DownloadTicket,
  jobFilesSchema,
  type SystemStatus,
} from './protocol.js';

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
  readonly #link: LinkSettings;
  #closed = false;

  private constructor(kit: StartupKit, client: grpc.Client, timeoutMs: number) {
    this.kit = kit;
    this.#client = client;
    this.#timeoutMs = timeoutMs;
    this.#link = linkSettings(kit.config.transport);
  }

  /** Opens a session with an admin kit and checks the server answers. */
  static async open(kitDir: string, options: SessionOptions = {}): Promise<Session> {
    const kit = await loadKit(kitDir, 'admin');
    await answersTls(
      kit,
      options.host ?? kit.config.server.host,
      options.port ?? kit.config.server.port,
      Math.min(options.timeoutMs ?? 60_000, 15_000),
    );
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

  /**
   * Signs a copy of the job folder (without its top-level `data/`) with this admin's key and
   * submits it; returns the job id.
   */
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
      // A job's own `data/` folder stays here: deployed jobs read data under each party's data
      // root, never from the job folder, so shipping it would only hand every site's example
      // data to the server and to every other site.
      const src = resolve(jobDir);
      await cp(src, tmp, {
        recursive: true,
        verbatimSymlinks: true,
        filter: (path) => path !== join(src, 'data'),
      });
      await signJobFolder(tmp, this.kit.keyPem, this.kit.certPem);
      const packed = encode(await readFolderFiles(tmp));
      const max = this.kit.config.transport?.maxJobBytes ?? MAX_MESSAGE_LIMIT;
      if (packed.byteLength > max) {
        throw new VflareError(
          'MESSAGE_TOO_BIG',
          `submit_job ${jobDir}: the job packs to ${packed.byteLength} bytes, more than ` +
            `${max} (transport.maxJobBytes of this kit); keep data out of job folders`,
        );
      }
      try {
        return (await this.#call({
          command: 'submit_job',
          uploadId: await this.#upload(packed),
        })) as string;
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

  /**
   * Sends a packed job in chunks, one command each (a job may exceed the message limit);
   * returns the upload's id. Chunks go one after the other: each has its own deadline.
   */
  async #upload(packed: Uint8Array): Promise<string> {
    // Room for the chunk header and the request's envelope within one message.
    const size = Math.max(
      1,
      Math.min(this.#link.chunkBytes, this.#link.maxMessageBytes - CHUNK_HEADER_BYTES - 64),
    );
    let uploadId: string | undefined;
    for (const chunk of chunksOf(packed, 1, size)) {
      uploadId = (await this.#call({
        command: 'upload_chunk',
        chunk,
        ...(uploadId === undefined ? {} : { uploadId }),
      })) as string;
    }
    return uploadId!;
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

  /**
   * Downloads the job's workspace (summary.json, the server's outputs) into `dir/<id>`, in
   * chunks (a result may exceed the message limit).
   */
  async downloadJobResult(jobId: string, dir: string): Promise<string> {
    // Checked first, so a wrong destination costs no transfer.
    const dest = resolve(dir);
    const existing = await stat(dest).catch(() => undefined);
    if (existing !== undefined && !existing.isDirectory()) {
      throw new VflareError(
        'INVALID_ARGUMENT',
        `download_job: ${dest} is a file; give a folder (the result goes to <folder>/${jobId})`,
      );
    }
    const ticket = (await this.#call({ command: 'download_job', jobId })) as DownloadTicket;
    const parts = new Reassembler({
      maxMessageBytes: this.kit.config.transport?.maxJobBytes ?? MAX_MESSAGE_LIMIT,
      // The gRPC message limit already bounds a chunk.
      maxChunkBytes: MAX_MESSAGE_LIMIT,
      maxInFlight: 1,
      progressTimeoutMs: this.#timeoutMs,
    });
    let whole: Uint8Array | null = null;
    for (let index = 0; index < ticket.chunks && whole === null; index++) {
      const chunk = (await this.#call({
        command: 'download_chunk',
        downloadId: ticket.downloadId,
        index,
      })) as Uint8Array;
      whole = parts.push(chunk, performance.now());
    }
    if (whole === null) {
      throw new VflareError(
        'PROTOCOL_ERROR',
        `download_job ${jobId}: the server sent ${ticket.chunks} chunks but not the whole result`,
      );
    }
    const files = decode(jobFilesSchema, whole, `the result of job ${jobId}`);
    const target = join(dest, jobId);
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
 * Fails when something accepts TCP connections at the address but never answers a TLS
 * handshake (a program that is not a vflare server holds the port). grpc-js would wait for its
 * deadline and then leave that connection attempt open, keeping the process alive after the
 * command failed. Any answer, even a refusal, passes: gRPC then reports it in its own words.
 */
async function answersTls(
  kit: StartupKit,
  host: string,
  port: number,
  timeoutMs: number,
): Promise<void> {
  const silent = await new Promise<boolean>((done) => {
    // The kit's own credentials, so that a vflare server sees an ordinary admin connection
    // (without them it would log a refused handshake for every command).
    const socket = tlsConnect({
      host,
      port,
      ca: kit.rootCaPem,
      cert: kit.certPem,
      key: kit.keyPem,
      ALPNProtocols: ['h2'],
    });
    const finish = (value: boolean, close: () => void) => {
      clearTimeout(timer);
      close();
      done(value);
    };
    const timer = setTimeout(() => finish(true, () => socket.destroy()), timeoutMs);
    // A clean close after the handshake: a reset would make the server log a refused one.
    socket.once('secureConnect', () => finish(false, () => socket.end()));
    socket.once('error', () => finish(false, () => socket.destroy()));
  });
  if (silent) {
    throw new VflareError(
      'PEER_FAILED',
      `cannot reach the server at ${host}:${port}: something accepted the connection but did ` +
        `not answer the TLS handshake within ${timeoutMs} ms; is another program listening ` +
        'on that port?',
    );
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
