/**
 * The bytes-only gRPC service and the typed control messages it carries.
 *
 * No code generation: every method moves raw `Buffer`s (identity serialisers); messages are
 * msgpack, validated with zod on receipt because any authenticated party may still send junk.
 *
 * Methods of `vflare.Federation`:
 * - `Register` (unary): a site proves its name (TLS certificate CN) and gets a session token.
 * - `Control` (bidi stream, token): heartbeats, deploy acknowledgements and results up; job
 *   parts (deploy), start, abort, shutdown down.
 * - `Job` (bidi stream, token + job id): the engine's frames for one job, chunked.
 * - `Admin` (unary): one admin command; the caller's identity is its certificate.
 */
import type { ServiceDefinition } from '@grpc/grpc-js';
import { Packr } from 'msgpackr';
import { z } from 'zod';
import { VflareError } from '../../runtime/core/index.js';

const identity = (b: Buffer): Buffer => b;

function method(name: string, requestStream: boolean, responseStream: boolean) {
  return {
    path: `/vflare.Federation/${name}`,
    requestStream,
    responseStream,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  };
}

export const federationService = {
  register: method('Register', false, false),
  control: method('Control', true, true),
  job: method('Job', true, true),
  admin: method('Admin', false, false),
} satisfies ServiceDefinition;

export const TOKEN_HEADER = 'vflare-token';
export const JOB_HEADER = 'vflare-job';

const packr = new Packr({ useRecords: false, moreTypes: false });

const bytes = z.instanceof(Uint8Array);
const name = z.string().min(1).max(256);

export const registerRequestSchema = z
  .object({
    site: name,
    project: name,
    resources: z.record(z.string(), z.number()),
  })
  .strict();
export type RegisterRequest = z.infer<typeof registerRequestSchema>;

export const registerReplySchema = z
  .object({ token: z.string().length(64), heartbeatMs: z.number().int().positive() })
  .strict();
export type RegisterReply = z.infer<typeof registerReplySchema>;

/** A file of a job folder, path relative to the job root with `/` separators. */
export const jobFileSchema = z.object({ path: z.string().min(1).max(4096), data: bytes }).strict();
export type JobFile = z.infer<typeof jobFileSchema>;

/** Most files a job folder may have (deploy, upload, download). */
export const MAX_JOB_FILES = 100_000;

/**
 * A piece of one file of a job folder: `data` is the file's bytes from `offset` on, and `size` is
 * the whole file's length. A file's fragments come in order and back to back, one file after
 * the other, so the receiver can write each fragment as it arrives.
 */
export const fileFragmentSchema = z
  .object({
    path: z.string().min(1).max(4096),
    size: z.number().int().nonnegative().max(0xffff_ffff),
    offset: z.number().int().nonnegative().max(0xffff_ffff),
    data: bytes,
  })
  .strict();
export type FileFragment = z.infer<typeof fileFragmentSchema>;

/**
 * The server deploys a job to a site as a stream of parts on the control stream, each one
 * control message under `maxMessageBytes`, so a job folder may be larger than one message. A
 * part carries fragments of the folder's files in order (many small files share a part; a large
 * file spans several). `seq` counts parts from 0; the first part starts (or restarts) the
 * deploy; `last` marks the final one. `totalBytes` and `fileCount` describe the whole folder and
 * are the same in every part, so the site can refuse an oversized job at its first part and
 * check at the last that nothing is missing. The site acknowledges each part once written
 * (`deploy_ack`), and the server keeps a bounded number of parts unacknowledged: the site's
 * memory holds at most that many parts, and each side times out on progress, not on the
 * whole transfer.
 */
export const deployPartSchema = z
  .object({
    type: z.literal('deploy_part'),
    jobId: name,
    jobName: name,
    seq: z.number().int().nonnegative(),
    last: z.boolean(),
    totalBytes: z.number().int().nonnegative(),
    fileCount: z.number().int().positive().max(MAX_JOB_FILES),
    fragments: z.array(fileFragmentSchema).max(MAX_JOB_FILES),
  })
  .strict();
export type DeployPart = z.infer<typeof deployPartSchema>;

export const siteControlSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('heartbeat'), jobs: z.array(name).max(10_000) }).strict(),
  /** Part `seq` of a deploy is written at the site: the server may send more. */
  z
    .object({ type: z.literal('deploy_ack'), jobId: name, seq: z.number().int().nonnegative() })
    .strict(),
  z
    .object({
      type: z.literal('deployed'),
      jobId: name,
      ok: z.boolean(),
      reason: z.string().max(4096).optional(),
    })
    .strict(),
]);
export type SiteControl = z.infer<typeof siteControlSchema>;

export const serverControlSchema = z.discriminatedUnion('type', [
  /** First message on an accepted control stream: the site is online. */
  z.object({ type: z.literal('ready') }).strict(),
  /** A part of a job folder being deployed (see `deployPartSchema`). */
  deployPartSchema,
  /** Every site deployed: start the job's runner (open its job stream). */
  z.object({ type: z.literal('start'), jobId: name }).strict(),
  z.object({ type: z.literal('abort'), jobId: name, reason: z.string().max(4096) }).strict(),
  z.object({ type: z.literal('shutdown'), reason: z.string().max(4096) }).strict(),
]);
export type ServerControl = z.infer<typeof serverControlSchema>;

export function encode(value: unknown): Buffer {
  return packr.pack(value);
}

/** Decodes and validates; a bad message is a `PROTOCOL_ERROR` naming `what`, never its bytes. */
export function decode<T>(schema: z.ZodType<T>, bytesIn: Uint8Array, what: string): T {
  let raw: unknown;
  try {
    raw = packr.unpack(bytesIn);
  } catch {
    throw new VflareError('PROTOCOL_ERROR', `${what}: not valid msgpack`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const where = first ? `${first.path.join('.') || '(root)'}: ${first.message}` : 'invalid';
    throw new VflareError('PROTOCOL_ERROR', `${what}: malformed (${where})`);
  }
  return parsed.data;
}
