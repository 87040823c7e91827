/**
 * A worker-thread pool for the scalar work: every elliptic-curve multiplication of a batch is
 * spread over all cores (`os.availableParallelism()` workers by default). Small batches run on
 * the calling thread, where a worker round trip would cost more than it saves.
 */

import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { VflareError } from '../runtime/core/index.js';
import { packFixed, packVar, unpackFixed } from './bytes.js';
import { BadPointError, type KernelOp, OUTPUT_WIDTH, runKernel } from './kernels.js';
import type { WorkerJob, WorkerReply } from './worker.js';

/** Batches at most this long run inline. */
const INLINE_MAX = 32;

interface Pending {
  resolve(out: Uint8Array): void;
  reject(err: unknown): void;
}

interface Slot {
  readonly worker: Worker;
  busy: number;
}

function badPoint(index: number): VflareError {
  return new VflareError(
    'CRYPTO_ERROR',
    `PSI: element ${index} of the peer's message is not a valid P-256 point; ` +
      'the peer is faulty or runs another mode, so the session stops',
    { context: { element: index } },
  );
}

/**
 * Starts one worker: the compiled `worker.js`, or, when running from the TypeScript sources
 * (tsx, vitest), a tiny bootstrap that registers tsx's loader in the worker and imports
 * `worker.ts`.
 */
function startWorker(): Worker {
  const self = import.meta.url;
  if (!self.endsWith('.ts')) return new Worker(new URL('./worker.js', self));
  // tsx's ESM API (its CommonJS twin cannot register hooks from a worker).
  const require = createRequire(self);
  const tsxDir = dirname(require.resolve('tsx/package.json'));
  const api = pathToFileURL(join(tsxDir, 'dist', 'esm', 'api', 'index.mjs')).href;
  const entry = new URL('./worker.ts', self).href;
  const boot =
    `(async () => { (await import(${JSON.stringify(api)})).register(); ` +
    `await import(${JSON.stringify(entry)}); })();`;
  return new Worker(boot, { eval: true });
}

export class PsiPool {
  readonly size: number;
  /** Items processed per operation since creation (benchmarks derive the native bound). */
  readonly counts: Record<KernelOp, number> = {
    'compat-hash-encrypt': 0,
    'compat-multiply': 0,
    'fast-hash-encrypt': 0,
    'fast-multiply': 0,
  };
  readonly #slots: Slot[] = [];
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;
  #closed = false;

  /** `size` workers (default: all cores); 0 runs everything on the calling thread. */
  constructor(size: number = availableParallelism()) {
    this.size = size;
  }

  #start(): void {
    if (this.#slots.length > 0 || this.size === 0) return;
    for (let i = 0; i < this.size; i++) {
      const worker = startWorker();
      worker.unref();
      worker.on('message', (reply: WorkerReply) => this.#onReply(slot, reply));
      worker.on('error', (err) => this.#failAll(err));
      const slot: Slot = { worker, busy: 0 };
      this.#slots.push(slot);
    }
  }

  #onReply(slot: Slot, reply: WorkerReply): void {
    slot.busy--;
    if (slot.busy === 0) slot.worker.unref();
    const p = this.#pending.get(reply.id);
    if (!p) return;
    this.#pending.delete(reply.id);
    if (reply.ok) p.resolve(reply.output);
    else if (reply.badIndex !== null) p.reject(badPoint(reply.badIndex));
    else p.reject(new VflareError('INTERNAL', 'PSI worker failed on a batch'));
  }

  #failAll(err: unknown): void {
    for (const p of this.#pending.values()) {
      p.reject(new VflareError('INTERNAL', 'PSI worker thread crashed', { cause: err }));
    }
    this.#pending.clear();
  }

  #submit(op: KernelOp, k: bigint, items: readonly Uint8Array[], offset: number, width: number) {
    const slot = this.#slots.reduce((a, b) => (b.busy < a.busy ? b : a));
    const id = this.#nextId++;
    const input = width > 0 ? packFixed(items, width) : packVar(items);
    const job: WorkerJob = { id, op, k, input, width, offset };
    return new Promise<Uint8Array>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      if (slot.busy === 0) slot.worker.ref();
      slot.busy++;
      slot.worker.postMessage(job, [input.buffer as ArrayBuffer]);
    });
  }

  /**
   * Runs `op` with scalar `k` over `items` and returns one output per item, in order.
   * `inputWidth` is the fixed input length (33 or 32) or 0 for variable-length items.
   */
  async run(
    op: KernelOp,
    k: bigint,
    items: readonly Uint8Array[],
    inputWidth: number,
  ): Promise<Uint8Array[]> {
    if (this.#closed) throw new VflareError('INVALID_ARGUMENT', 'PSI pool is closed');
    const w = OUTPUT_WIDTH[op];
    this.counts[op] += items.length;
    if (items.length <= INLINE_MAX || this.size === 0) {
      try {
        return unpackFixed(runKernel(op, k, items, 0), w);
      } catch (err) {
        if (err instanceof BadPointError) throw badPoint(err.index);
        throw err;
      }
    }
    this.#start();
    // Several chunks per worker so a slow chunk does not idle the others.
    const chunk = Math.max(INLINE_MAX, Math.ceil(items.length / (this.size * 4)));
    const parts: Promise<Uint8Array>[] = [];
    for (let at = 0; at < items.length; at += chunk) {
      parts.push(this.#submit(op, k, items.slice(at, at + chunk), at, inputWidth));
    }
    const outs = await Promise.all(parts);
    const result: Uint8Array[] = [];
    for (const o of outs) for (const v of unpackFixed(o, w)) result.push(v);
    return result;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
    this.#slots.length = 0;
  }
}

let shared: PsiPool | null = null;

/** The process-wide pool (all cores), created on first use; its workers never hold exit. */
export function sharedPool(): PsiPool {
  shared ??= new PsiPool();
  return shared;
}
