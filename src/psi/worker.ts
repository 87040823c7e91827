/**
 * Worker-thread entry of the PSI pool: runs one kernel batch per message and posts the packed
 * outputs back (transferring the buffer). Errors carry only an element index, never data.
 */
import { parentPort } from 'node:worker_threads';
import { unpackFixed, unpackVar } from './bytes.js';
import { BadPointError, type KernelOp, runKernel } from './kernels.js';

export interface WorkerJob {
  readonly id: number;
  readonly op: KernelOp;
  readonly k: bigint;
  /** Packed inputs: fixed width (`width` > 0) or `packVar` layout (`width` 0). */
  readonly input: Uint8Array;
  readonly width: number;
  readonly offset: number;
}

export type WorkerReply =
  | { readonly id: number; readonly ok: true; readonly output: Uint8Array }
  | { readonly id: number; readonly ok: false; readonly badIndex: number | null };

parentPort?.on('message', (job: WorkerJob) => {
  const inputs = job.width > 0 ? unpackFixed(job.input, job.width) : unpackVar(job.input);
  try {
    const output = runKernel(job.op, job.k, inputs, job.offset);
    parentPort!.postMessage({ id: job.id, ok: true, output } satisfies WorkerReply, [
      output.buffer as ArrayBuffer,
    ]);
  } catch (err) {
    const badIndex = err instanceof BadPointError ? err.index : null;
    parentPort!.postMessage({ id: job.id, ok: false, badIndex } satisfies WorkerReply);
  }
});
