/**
 * Model persistors: where ScatterAndGather gets its initial model and saves the global one.
 */
import { isAbsolute, join, resolve } from 'node:path';
import type { TensorMap } from '../core/messages.js';
import { loadModelFile, saveModelFile } from './model-file.js';

export interface ModelPersistor {
  /** The initial global model, or null when there is none (clients then initialise it). */
  load(): Promise<TensorMap | null>;
  /** Saves the global model after `round` (atomically). */
  save(weights: TensorMap, round: number): Promise<void>;
}

export interface FileModelPersistorOptions {
  /** Where the global model is saved; relative paths resolve against `workspace`. */
  readonly fileName?: string;
  /** A `.vfm` file with the initial model; relative paths resolve against `dataRoot`. */
  readonly initialModel?: string | undefined;
  readonly workspace: string;
  readonly dataRoot: string;
}

/** Persists the global model as a `.vfm` file (see `model-file.ts` for the format). */
export class FileModelPersistor implements ModelPersistor {
  /** Absolute path of the saved model. */
  readonly path: string;
  readonly #initial: string | undefined;

  constructor(options: FileModelPersistorOptions) {
    const fileName = options.fileName ?? 'global_model.vfm';
    this.path = isAbsolute(fileName) ? fileName : join(options.workspace, fileName);
    this.#initial =
      options.initialModel === undefined
        ? undefined
        : resolve(options.dataRoot, options.initialModel);
  }

  async load(): Promise<TensorMap | null> {
    if (this.#initial === undefined) return null;
    return (await loadModelFile(this.#initial)).weights;
  }

  async save(weights: TensorMap, round: number): Promise<void> {
    await saveModelFile(this.path, { round, weights });
  }
}
