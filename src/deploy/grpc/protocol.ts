/**
 * The bytes-only gRPC service and the typed control messages it carries.
 *
 * No code generation: every method moves raw `Buffer`s (identity serialisers); messages are
 * msgpack, validated with zod on receipt because any authenticated party may still send junk.
 *
 * Methods of `vflare.Federation`:
 * - `Register` (unary): a site proves its name (TLS certificate CN) and gets a session token.
 * - `Control` (bidi stream, token): heartbeats and deploy results up; deploy, abort, shutdown down.
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

export const siteControlSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('heartbeat'), jobs: z.array(name).max(10_000) }).strict(),
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
  z
    .object({
      type: z.literal('deploy'),
      jobId: name,
      jobName: name,
      files: z.array(jobFileSchema).max(100_000),
    })
    .strict(),
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
