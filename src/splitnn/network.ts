/**
 * Small feed-forward networks as explicit variables plus a layer list, so that each party's half
 * is a plain value it owns, saves and restores by name, and so that a feature party can run its
 * backward pass from a cut-layer gradient that arrives later over the network.
 *
 * Two ways through the same ops:
 * - `apply` is an ordinary forward pass that TF.js's autodiff can differentiate (the label
 *   party's top, the joint reference network);
 * - `forwardTraced` + `backward` keep each layer's input and output and apply the chain rule by
 *   hand, with the same kernels autodiff would call. A feature party needs this because its
 *   forward and its gradient are separated by a network round trip, and TF.js cannot hold a
 *   gradient tape open across an `await`; recomputing the forward would cost a third more.
 *
 * Initialisation is Glorot-uniform kernels and zero biases (Glorot and Bengio, AISTATS 2010),
 * drawn from a seeded stream per layer, so a party's half is reproducible from the job seed.
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { VflareError } from '../runtime/core/errors.js';
import type { Tensor, TensorMap } from '../runtime/core/messages.js';
import { SeededRandom, streamOf } from './random.js';

export const activationSchema = z.enum(['linear', 'relu', 'sigmoid', 'tanh']);
export type Activation = z.infer<typeof activationSchema>;

const positiveInt = z.number().int().positive();

export const layerSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('dense'),
    units: positiveInt,
    activation: activationSchema.default('linear'),
  }),
  z.object({
    type: z.literal('conv2d'),
    filters: positiveInt,
    kernelSize: positiveInt,
    strides: positiveInt.default(1),
    padding: z.enum(['same', 'valid']).default('same'),
    activation: activationSchema.default('relu'),
  }),
  z.object({
    type: z.literal('maxPool2d'),
    poolSize: positiveInt,
    strides: positiveInt.optional(),
  }),
  z.object({ type: z.literal('flatten') }),
  z.object({ type: z.literal('dropout'), rate: z.number().min(0).lt(1) }),
]);
export type LayerSpec = z.infer<typeof layerSchema>;
/** A layer as callers write it (defaults may be left out). */
export type LayerSpecInput = z.input<typeof layerSchema>;

export const networkSchema = z.object({
  /** Shape of one example, without the batch axis (e.g. `[15]` or `[28, 28, 1]`). */
  inputShape: z.array(positiveInt).min(1),
  layers: z.array(layerSchema).min(1),
});
export type NetworkSpec = z.infer<typeof networkSchema>;
export type NetworkSpecInput = z.input<typeof networkSchema>;

/** How a forward pass runs: training enables dropout, seeded per step. */
export interface ForwardMode {
  readonly training: boolean;
  /** Seed of this step's dropout masks (ignored when not training). */
  readonly dropoutSeed?: number;
}

interface LayerRecord {
  readonly spec: LayerSpec;
  readonly index: number;
  readonly inShape: readonly number[];
  readonly outShape: readonly number[];
  readonly kernel?: tf.Variable;
  readonly bias?: tf.Variable;
}

/** What `forwardTraced` keeps for `backward`: each layer's input, output and dropout mask. */
export interface Trace {
  readonly output: tf.Tensor;
  readonly inputs: tf.Tensor[];
  readonly outputs: tf.Tensor[];
  readonly masks: (tf.Tensor | undefined)[];
}

let uid = 0;

/**
 * Gradients of z = x·W + b. The transposes are explicit because the wasm backend's matMul with a
 * transposed operand takes a slow path (about 7× slower at 64×784×256 here); a transpose plus a
 * plain product is fast on every backend. `withInput` false skips dx (the input is data).
 */
function denseGrads(
  x: tf.Tensor2D,
  w: tf.Tensor2D,
  dz: tf.Tensor2D,
  withInput: boolean,
): [tf.Tensor, tf.Tensor, tf.Tensor] {
  const dw = tf.matMul(tf.transpose(x), dz);
  const db = tf.sum(dz, 0);
  const dx = withInput ? tf.matMul(dz, tf.transpose(w)) : tf.zerosLike(x);
  return [dx, dw, db];
}

function makeDense(withInput: boolean) {
  return tf.customGrad((x, w, b, save) => {
    (save as tf.GradSaveFunc)([x as tf.Tensor, w as tf.Tensor]);
    return {
      value: tf.add(tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D), b as tf.Tensor),
      gradFunc: (dz: tf.Tensor, saved: tf.Tensor[]) =>
        denseGrads(saved[0] as tf.Tensor2D, saved[1] as tf.Tensor2D, dz as tf.Tensor2D, withInput),
    };
  }) as (x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D) => tf.Tensor2D;
}

/** Dense layer whose input gradient is needed (a layer after another weighted layer). */
const denseOp = makeDense(true);
/** The first weighted layer: its input is data, its input gradient is never used. */
const denseNoInputGrad = makeDense(false);

export class Network {
  readonly name: string;
  readonly spec: NetworkSpec;
  readonly outputShape: readonly number[];
  readonly #layers: LayerRecord[] = [];
  readonly #firstParam: number;
  /** Trainable variables by their logical name (`<layer index>.kernel` / `.bias`), in order. */
  readonly variables: ReadonlyMap<string, tf.Variable>;

  /**
   * `inputGrad`: whether gradients must flow back to the input (true for a top network, whose
   * input is the cut layer; false for a bottom, whose input is data).
   */
  constructor(spec: NetworkSpecInput, name: string, seed: number, inputGrad = false) {
    const parsed = networkSchema.safeParse(spec);
    if (!parsed.success) {
      throw new VflareError(
        'INVALID_CONFIG',
        `network "${name}": ` +
          `${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    }
    this.spec = parsed.data;
    this.name = name;
    const tag = `${name}#${++uid}`;
    const vars = new Map<string, tf.Variable>();
    let shape: readonly number[] = this.spec.inputShape;
    this.spec.layers.forEach((layer, index) => {
      const rng = new SeededRandom(seed, streamOf(`${name}/${index}`));
      const out = outShapeOf(layer, shape, name, index);
      const rec: { -readonly [K in keyof LayerRecord]: LayerRecord[K] } = {
        spec: layer,
        index,
        inShape: shape,
        outShape: out,
      };
      if (layer.type === 'dense' || layer.type === 'conv2d') {
        const kShape =
          layer.type === 'dense'
            ? [shape[0] as number, layer.units]
            : [layer.kernelSize, layer.kernelSize, shape[2] as number, layer.filters];
        const units = layer.type === 'dense' ? layer.units : layer.filters;
        const receptive = layer.type === 'dense' ? 1 : layer.kernelSize * layer.kernelSize;
        const fanIn = kShape[kShape.length - 2] as number;
        const limit = Math.sqrt(6 / (receptive * fanIn + receptive * units));
        const k = new Float32Array(kShape.reduce((a, b) => a * b, 1));
        for (let i = 0; i < k.length; i++) k[i] = (rng.next() * 2 - 1) * limit;
        rec.kernel = tf.variable(tf.tensor(k, kShape), true, `${tag}/${index}.kernel`);
        rec.bias = tf.variable(tf.zeros([units]), true, `${tag}/${index}.bias`);
        vars.set(`${index}.kernel`, rec.kernel);
        vars.set(`${index}.bias`, rec.bias);
      }
      this.#layers.push(rec);
      shape = out;
    });
    this.outputShape = shape;
    this.variables = vars;
    this.#firstParam = inputGrad ? -1 : this.#layers.findIndex((l) => l.kernel !== undefined);
  }

  /** Number of trainable scalars. */
  get parameterCount(): number {
    let n = 0;
    for (const v of this.variables.values()) n += v.size;
    return n;
  }

  /** Differentiable forward pass; `x` has a leading batch axis. */
  apply(x: tf.Tensor, mode: ForwardMode): tf.Tensor {
    return tf.tidy(() => {
      let h = x;
      for (const layer of this.#layers) h = this.#layerForward(layer, h, mode).y;
      return h;
    });
  }

  /** Forward pass that keeps what `backward` needs. Dispose the trace with `disposeTrace`. */
  forwardTraced(x: tf.Tensor, mode: ForwardMode): Trace {
    const inputs: tf.Tensor[] = [];
    const outputs: tf.Tensor[] = [];
    const masks: (tf.Tensor | undefined)[] = [];
    let h = x;
    for (const layer of this.#layers) {
      const res = tf.tidy(() => {
        const r = this.#layerForward(layer, h, mode);
        return r.mask === undefined ? [r.y] : [r.y, r.mask];
      });
      inputs.push(h);
      outputs.push(res[0] as tf.Tensor);
      masks.push(res[1]);
      h = res[0] as tf.Tensor;
    }
    return { output: h, inputs, outputs, masks };
  }

  /**
   * Gradients of the variables given the gradient `dy` of the trace's output, by the chain rule
   * through the kept layer inputs and outputs. Returns new tensors the caller disposes.
   */
  backward(trace: Trace, dy: tf.Tensor): Map<string, tf.Tensor> {
    const grads = new Map<string, tf.Tensor>();
    let g = dy;
    // Layers before the first one with weights need no gradient (the input is data).
    const firstParam = this.#firstParam;
    for (let i = this.#layers.length - 1; i >= Math.max(0, firstParam); i--) {
      // (With inputGrad, firstParam is −1 and the loop reaches layer 0 with needInput true.)
      const layer = this.#layers[i] as LayerRecord;
      const x = trace.inputs[i] as tf.Tensor;
      const y = trace.outputs[i] as tf.Tensor;
      const needInput = i > firstParam;
      const next = tf.tidy(() => {
        const r = layerBackward(layer, x, y, trace.masks[i], g, needInput);
        for (const [k, v] of r.grads) grads.set(`${i}.${k}`, tf.keep(v));
        return r.dx;
      });
      if (g !== dy) g.dispose();
      if (next === undefined) break;
      g = next;
    }
    return grads;
  }

  /** Frees a trace's tensors (not the network input, which the caller owns). */
  disposeTrace(trace: Trace): void {
    for (const t of trace.outputs) t.dispose();
    for (const m of trace.masks) m?.dispose();
  }

  /** A copy of the weights by logical name, as runtime tensors (float32). */
  getWeights(): TensorMap {
    const out: Record<string, Tensor> = {};
    for (const [name, v] of this.variables) {
      out[name] = { shape: [...v.shape], data: new Float32Array(v.dataSync() as Float32Array) };
    }
    return out;
  }

  /** Replaces the weights; every variable must be present with its exact shape. */
  setWeights(weights: TensorMap): void {
    for (const [name, v] of this.variables) {
      const w = weights[name];
      if (w === undefined) {
        throw new VflareError('INVALID_DATA', `network "${this.name}": weights miss "${name}"`);
      }
      if (w.shape.length !== v.shape.length || w.shape.some((d, i) => d !== v.shape[i])) {
        throw new VflareError(
          'INVALID_DATA',
          `network "${this.name}": "${name}" has shape [${w.shape.join(', ')}], expected ` +
            `[${v.shape.join(', ')}]`,
        );
      }
      tf.tidy(() => v.assign(tf.tensor(Float32Array.from(w.data), [...v.shape])));
    }
  }

  dispose(): void {
    for (const v of this.variables.values()) v.dispose();
  }

  #layerForward(
    layer: LayerRecord,
    x: tf.Tensor,
    mode: ForwardMode,
  ): { y: tf.Tensor; mask?: tf.Tensor } {
    const s = layer.spec;
    switch (s.type) {
      case 'dense': {
        const op = layer.index === this.#firstParam ? denseNoInputGrad : denseOp;
        const z = op(
          x as tf.Tensor2D,
          layer.kernel as tf.Variable as tf.Tensor2D,
          layer.bias as tf.Variable as tf.Tensor1D,
        );
        return { y: activate(z, s.activation) };
      }
      case 'conv2d': {
        const c = tf.conv2d(
          x as tf.Tensor4D,
          layer.kernel as tf.Variable<tf.Rank.R4>,
          s.strides,
          s.padding,
        );
        return { y: activate(tf.add(c, layer.bias as tf.Variable), s.activation) };
      }
      case 'maxPool2d':
        return { y: tf.maxPool(x as tf.Tensor4D, s.poolSize, s.strides ?? s.poolSize, 'valid') };
      case 'flatten':
        return { y: tf.reshape(x, [x.shape[0] as number, -1]) };
      case 'dropout': {
        if (!mode.training || s.rate === 0) return { y: tf.clone(x) };
        const seed = ((mode.dropoutSeed ?? 0) ^ Math.imul(layer.index + 1, 0x9e3779b9)) >>> 0;
        const keep = tf.cast(
          tf.greaterEqual(tf.randomUniform(x.shape, 0, 1, 'float32', seed), s.rate),
          'float32',
        );
        const mask = tf.div(keep, 1 - s.rate);
        return { y: tf.mul(x, mask), mask };
      }
    }
  }
}

function activate(z: tf.Tensor, activation: Activation): tf.Tensor {
  switch (activation) {
    case 'linear':
      return z;
    case 'relu':
      return tf.relu(z);
    case 'sigmoid':
      return tf.sigmoid(z);
    case 'tanh':
      return tf.tanh(z);
  }
}

/** d(activation)/d(pre-activation) · dy, written in terms of the output y. */
function activationGrad(y: tf.Tensor, dy: tf.Tensor, activation: Activation): tf.Tensor {
  switch (activation) {
    case 'linear':
      return dy;
    case 'relu':
      return tf.mul(dy, tf.step(y));
    case 'sigmoid':
      return tf.mul(dy, tf.mul(y, tf.sub(1, y)));
    case 'tanh':
      return tf.mul(dy, tf.sub(1, tf.square(y)));
  }
}

function layerBackward(
  layer: LayerRecord,
  x: tf.Tensor,
  y: tf.Tensor,
  mask: tf.Tensor | undefined,
  dy: tf.Tensor,
  needInput: boolean,
): { grads: Map<string, tf.Tensor>; dx: tf.Tensor | undefined } {
  const s = layer.spec;
  const grads = new Map<string, tf.Tensor>();
  switch (s.type) {
    case 'dense': {
      const g = activationGrad(y, dy, s.activation) as tf.Tensor2D;
      const kernel = layer.kernel as tf.Variable as tf.Tensor2D;
      const [dx, dw, db] = denseGrads(x as tf.Tensor2D, kernel, g, needInput);
      grads.set('kernel', dw);
      grads.set('bias', db);
      return { grads, dx: needInput ? dx : undefined };
    }
    case 'conv2d': {
      const g = activationGrad(y, dy, s.activation) as tf.Tensor4D;
      const kernel = layer.kernel as tf.Variable as tf.Tensor4D;
      const attrs = { strides: s.strides, pad: s.padding, dataFormat: 'NHWC' };
      grads.set(
        'kernel',
        tf.engine().runKernel(
          'Conv2DBackpropFilter',
          { x, dy: g },
          {
            ...attrs,
            filterShape: [...kernel.shape],
          },
        ) as tf.Tensor,
      );
      grads.set('bias', tf.sum(g, [0, 1, 2]));
      const dx = needInput
        ? tf.conv2dTranspose(
            g,
            kernel,
            x.shape as [number, number, number, number],
            s.strides,
            s.padding,
          )
        : undefined;
      return { grads, dx };
    }
    case 'maxPool2d': {
      if (!needInput) return { grads, dx: undefined };
      const dx = tf.engine().runKernel(
        'MaxPoolGrad',
        { dy, input: x, output: y },
        {
          filterSize: s.poolSize,
          strides: s.strides ?? s.poolSize,
          pad: 'valid',
        },
      ) as tf.Tensor;
      return { grads, dx };
    }
    case 'flatten':
      return { grads, dx: needInput ? tf.reshape(dy, x.shape) : undefined };
    case 'dropout':
      return {
        grads,
        dx: needInput ? (mask === undefined ? tf.clone(dy) : tf.mul(dy, mask)) : undefined,
      };
  }
}

function outShapeOf(
  layer: LayerSpec,
  shape: readonly number[],
  name: string,
  index: number,
): readonly number[] {
  const bad = (expected: string): never => {
    throw new VflareError(
      'INVALID_CONFIG',
      `network "${name}", layer ${index} (${layer.type}): expected ${expected}, got input ` +
        `shape [${shape.join(', ')}]`,
    );
  };
  switch (layer.type) {
    case 'dense':
      if (shape.length !== 1) bad('a flat input (add a flatten layer first)');
      return [layer.units];
    case 'conv2d': {
      if (shape.length !== 3) bad('an input of shape [height, width, channels]');
      const [h, w] = shape as [number, number, number];
      const k = layer.kernelSize;
      const st = layer.strides;
      const oh = layer.padding === 'same' ? Math.ceil(h / st) : Math.ceil((h - k + 1) / st);
      const ow = layer.padding === 'same' ? Math.ceil(w / st) : Math.ceil((w - k + 1) / st);
      if (oh < 1 || ow < 1) bad(`an input at least ${k}×${k}`);
      return [oh, ow, layer.filters];
    }
    case 'maxPool2d': {
      if (shape.length !== 3) bad('an input of shape [height, width, channels]');
      const [h, w, c] = shape as [number, number, number];
      const st = layer.strides ?? layer.poolSize;
      const oh = Math.ceil((h - layer.poolSize + 1) / st);
      const ow = Math.ceil((w - layer.poolSize + 1) / st);
      if (oh < 1 || ow < 1) bad(`an input at least ${layer.poolSize}×${layer.poolSize}`);
      return [oh, ow, c];
    }
    case 'flatten':
      return [shape.reduce((a, b) => a * b, 1)];
    case 'dropout':
      return shape;
  }
}
