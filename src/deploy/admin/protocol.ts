/**
 * Admin commands as typed messages (msgpack over the `Admin` gRPC method). The caller's identity
 * and role come from its TLS certificate, never from the request.
 *
 * Job folders and results can be larger than one message may be (`maxMessageBytes`), so they
 * travel in chunks, one command per chunk, in the wire format of the transport's chunks
 * (`grpc/chunks.ts`: a 13-byte header with the total length and the chunk's offset):
 * - submit: `upload_chunk` for each chunk of the packed file list (the first without an id,
 *   the server answers the upload's id), then `submit_job` with that id;
 * - download: `download_job` answers an id, the total size and the number of chunks, then
 *   `download_chunk` fetches each chunk by index.
 * Each chunk has its own deadline, so a slow link fails only when it stops making progress.
 */
import { z } from 'zod';
import { jobFileSchema, MAX_JOB_FILES } from '../grpc/protocol.js';

const jobId = z.string().min(1).max(200);
const transferId = z.string().uuid();

/** The file list of a job folder or a job result, as packed for an upload or a download. */
export const jobFilesSchema = z.array(jobFileSchema).max(MAX_JOB_FILES);

export const adminRequestSchema = z.discriminatedUnion('command', [
  /** `uploadId`: a completed upload; `files`: the whole folder in this one message. */
  z
    .object({
      command: z.literal('submit_job'),
      uploadId: transferId.optional(),
      files: jobFilesSchema.optional(),
    })
    .strict(),
  z
    .object({
      command: z.literal('upload_chunk'),
      uploadId: transferId.optional(),
      chunk: z.custom<Uint8Array>((v) => v instanceof Uint8Array, 'expected bytes'),
    })
    .strict(),
  z
    .object({
      command: z.literal('download_chunk'),
      downloadId: transferId,
      index: z.number().int().nonnegative(),
    })
    .strict(),
  z
    .object({
      command: z.literal('list_jobs'),
      idPrefix: z.string().max(200).optional(),
      namePrefix: z.string().max(200).optional(),
      reverse: z.boolean().optional(),
      limit: z.number().int().positive().optional(),
    })
    .strict(),
  z.object({ command: z.literal('get_job_meta'), jobId }).strict(),
  z.object({ command: z.literal('abort_job'), jobId }).strict(),
  z.object({ command: z.literal('clone_job'), jobId }).strict(),
  z.object({ command: z.literal('delete_job'), jobId }).strict(),
  z.object({ command: z.literal('download_job'), jobId }).strict(),
  z.object({ command: z.literal('check_status') }).strict(),
  z.object({ command: z.literal('shutdown') }).strict(),
]);
export type AdminRequest = z.infer<typeof adminRequestSchema>;

export type AdminReply =
  | { readonly ok: true; readonly result: unknown }
  | { readonly ok: false; readonly code: string; readonly error: string };

/** What `download_job` answers: fetch chunks 0 … `chunks` − 1 with `download_chunk`. */
export interface DownloadTicket {
  readonly downloadId: string;
  readonly bytes: number;
  readonly chunks: number;
}

/** What `check_status` answers. */
export interface SystemStatus {
  readonly project: string;
  readonly server: 'started' | 'shutting-down';
  readonly sites: readonly { readonly name: string; readonly online: boolean }[];
  readonly runningJobs: readonly string[];
}
