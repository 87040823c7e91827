/**
 * Admin commands as typed messages (msgpack over the `Admin` gRPC method). The caller's identity
 * and role come from its TLS certificate, never from the request.
 */
import { z } from 'zod';
import { jobFileSchema } from '../grpc/protocol.js';

const jobId = z.string().min(1).max(200);

export const adminRequestSchema = z.discriminatedUnion('command', [
  z
    .object({ command: z.literal('submit_job'), files: z.array(jobFileSchema).max(100_000) })
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

/** What `check_status` answers. */
export interface SystemStatus {
  readonly project: string;
  readonly server: 'started' | 'shutting-down';
  readonly sites: readonly { readonly name: string; readonly online: boolean }[];
  readonly runningJobs: readonly string[];
}
