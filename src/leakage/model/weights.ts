/** Moving variables between a TensorFlow.js layers model and a `TensorMap`. */
import type * as tf from '@tensorflow/tfjs';
import { type Tensor, type TensorMap, VflareError } from '../../runtime/core/index.js';
import { shortWeightName } from './spec.js';

function eachWeight(model: tf.LayersModel, fn: (name: string, v: tf.LayerVariable) => void): void {
  model.layers.forEach((layer, i) => {
    for (const w of layer.weights) {
      fn(`${i}.${layer.getClassName()}.${shortWeightName(w.originalName)}`, w);
    }
  });
}

/** Copies every variable (trainable or not) out of the model. */
export function readWeights(model: tf.LayersModel): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  eachWeight(model, (name, v) => {
    const t = v.read();
    out[name] = { shape: [...t.shape], data: Float32Array.from(t.dataSync() as Float32Array) };
  });
  return out;
}

/** Loads every variable of the model from `weights`; missing or mis-shaped ones are errors. */
export function writeWeights(model: tf.LayersModel, weights: TensorMap, tfm: typeof tf): void {
  eachWeight(model, (name, v) => {
    const t = weights[name];
    if (t === undefined) {
      throw new VflareError('INVALID_DATA', `model weights: variable "${name}" is missing`);
    }
    const want = v.shape.reduce<number>((a, b) => a * (b ?? 1), 1);
    if (t.data.length !== want) {
      throw new VflareError(
        'INVALID_DATA',
        `model weights: variable "${name}" has ${t.data.length} values, expected ${want}`,
      );
    }
    const value = tfm.tensor(Float32Array.from(t.data), v.shape as number[], 'float32');
    v.write(value);
    value.dispose();
  });
}

/** Element-wise `a − b` over the names of `a`. */
export function subtractWeights(a: TensorMap, b: TensorMap): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(a)) {
    const o = b[name];
    if (o === undefined || o.data.length !== t.data.length) {
      throw new VflareError('INVALID_DATA', `weight difference: variable "${name}" does not match`);
    }
    const d = new Float32Array(t.data.length);
    for (let i = 0; i < d.length; i++) d[i] = t.data[i]! - o.data[i]!;
    out[name] = { shape: t.shape, data: d };
  }
  return out;
}
