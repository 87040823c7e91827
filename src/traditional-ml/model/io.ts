/** Saving and loading model documents, and the persistor that writes them during a job. */
import { readFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { type TensorMap, VflareError } from '../../runtime/core/index.js';
import { writeFileAtomic } from '../../runtime/workflows/model-file.js';
import type { ModelPersistor } from '../../runtime/workflows/persistor.js';
import { tensorsToForest } from '../forest/federated.js';
import { need } from '../learner/learner.js';
import { tensorsToLinear } from '../linear/federated.js';
import { tensorsToSvm } from '../svm/tensors.js';
import {
  forestModelToJson,
  kmeansModelToJson,
  linearModelToJson,
  parseTmlModel,
  svmModelToJson,
  type TmlModel,
  type TmlModelKind,
} from './format.js';

export async function saveTmlModel(path: string, model: TmlModel): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(model)}\n`);
}

export async function loadTmlModel(path: string): Promise<TmlModel> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new VflareError('NOT_FOUND', `cannot read model ${path}: check the path`, { cause: err });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new VflareError(
      'INVALID_DATA',
      `${path} is not JSON; expected a vflare-tml-model document`,
    );
  }
  return parseTmlModel(doc, path);
}

export interface ModelFromGlobalOptions {
  readonly kind: TmlModelKind;
  /** Linear models: the loss and positive class (not carried in the weights). */
  readonly loss?: 'log' | 'squared';
  readonly positiveClass?: number;
}

/** Turns a global model as ScatterAndGather holds it into a model document. */
export function modelFromGlobal(weights: TensorMap, o: ModelFromGlobalOptions): TmlModel {
  switch (o.kind) {
    case 'linear':
      return linearModelToJson(tensorsToLinear(weights, o.loss ?? 'log'), o.positiveClass ?? 1);
    case 'svm':
      return svmModelToJson(tensorsToSvm(weights));
    case 'kmeans': {
      const c = need(weights, 'centres', 'k-means');
      const cols = c.shape[1];
      if (c.shape.length !== 2 || cols === undefined) {
        throw new VflareError('PROTOCOL_ERROR', `k-means: centres of shape [${c.shape}]`);
      }
      return kmeansModelToJson(Float64Array.from(c.data), cols);
    }
    case 'forest':
      return forestModelToJson(tensorsToForest(weights));
  }
}

export interface TmlModelPersistorOptions extends ModelFromGlobalOptions {
  /** Relative paths resolve against `workspace`; default `global_model.json`. */
  readonly fileName?: string;
  readonly workspace: string;
}

/**
 * A ModelPersistor for ScatterAndGather that writes the global model as a model document (it
 * provides no initial model: the learners start from scratch in round 0).
 */
export class TmlModelPersistor implements ModelPersistor {
  readonly path: string;
  readonly #o: ModelFromGlobalOptions;

  constructor(options: TmlModelPersistorOptions) {
    const name = options.fileName ?? 'global_model.json';
    this.path = isAbsolute(name) ? name : join(options.workspace, name);
    this.#o = options;
  }

  async load(): Promise<TensorMap | null> {
    return null;
  }

  async save(weights: TensorMap): Promise<void> {
    if (Object.keys(weights).length === 0) return;
    await saveTmlModel(this.path, modelFromGlobal(weights, this.#o));
  }
}
