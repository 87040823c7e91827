/**
 * Loads libsvm-js (libsvm 3.x compiled to WebAssembly) once per process.
 *
 * Why libsvm-js and not ml-svm: ml-svm's SMO lets a coefficient exceed C, turns a constant column
 * into NaN with its min-max whitening and did not finish 10,000 × 20 in 60 s; libsvm-js trains
 * that in ~2.5 s here and 569 × 30 in ~25 ms (measured on this machine, Node 20).
 *
 * libsvm-js's emscripten glue tries `fetch()` on a file path first under Node, fails, prints a
 * warning and falls back to reading the file. Hiding `fetch` during the synchronous `require`
 * makes it take the file path directly, silently; it is restored at once.
 */
import { createRequire } from 'node:module';
import { VflareError } from '../../runtime/core/index.js';

/** The subset of libsvm-js's SVM class we use. */
export interface LibsvmInstance {
  train(samples: number[][], labels: number[]): void;
  predictOne(sample: number[]): number;
  getSVIndices(): number[];
  getLabels(): number[];
  serializeModel(): string;
  free(): void;
}

export interface LibsvmClass {
  new (options: Record<string, unknown>): LibsvmInstance;
  readonly KERNEL_TYPES: Readonly<Record<'LINEAR' | 'POLYNOMIAL' | 'RBF' | 'SIGMOID', string>>;
  readonly SVM_TYPES: Readonly<Record<'C_SVC', string>>;
}

let loading: Promise<LibsvmClass> | undefined;

/** Resolves libsvm-js's SVM class (loaded once). */
export function loadLibsvm(): Promise<LibsvmClass> {
  if (loading === undefined) {
    const require = createRequire(import.meta.url);
    const g = globalThis as { fetch?: unknown };
    const saved = g.fetch;
    let pending: Promise<LibsvmClass>;
    try {
      g.fetch = undefined;
      pending = require('libsvm-js/wasm') as Promise<LibsvmClass>;
    } catch (err) {
      throw new VflareError('INTERNAL', 'libsvm-js could not be loaded', { cause: err });
    } finally {
      g.fetch = saved;
    }
    loading = pending;
  }
  return loading;
}

/**
 * The loaded class, for synchronous callers (the server's `Assembler.assemble` is synchronous).
 * Loaded at import time of this module with top-level await (~70 ms once per process).
 */
export const libsvm: LibsvmClass = await loadLibsvm();
