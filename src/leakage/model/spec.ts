/**
 * A small, declarative description of the image classifiers the leakage tools train and attack.
 *
 * The same spec builds two things: a TensorFlow.js layers model that clients train (fast
 * first-order kernels), and a functional twin in `functional.ts` that the inverter
 * differentiates twice. TensorFlow.js has no second-order gradients for `conv2d` and the pooling
 * kernels, so the twin computes convolutions as matrix products over image patches (im2col)
 * and average pooling as a reshape and a mean; both compute the same function as the layers.
 *
 * Variable names are positional, `<layer index>.<LayerClass>.<weight>` (e.g. `0.Conv2D.kernel`),
 * so they agree across sites and processes whatever names TensorFlow.js generates.
 */
import * as tf from '@tensorflow/tfjs';
import { VflareError } from '../../runtime/core/index.js';

export type Activation = 'relu' | 'sigmoid' | 'tanh' | 'linear';

export type LayerSpec =
  | { readonly type: 'dense'; readonly units: number; readonly activation?: Activation }
  | {
      readonly type: 'conv2d';
      readonly filters: number;
      readonly kernelSize: number;
      readonly padding?: 'same' | 'valid';
      readonly activation?: Activation;
    }
  | { readonly type: 'avgpool2d'; readonly poolSize: number }
  | { readonly type: 'flatten' }
  | { readonly type: 'batchnorm'; readonly momentum?: number; readonly epsilon?: number }
  | { readonly type: 'activation'; readonly activation: Activation };

export interface ModelSpec {
  /** Height, width, channels of one image. */
  readonly inputShape: readonly [number, number, number];
  /** The last layer must be a linear dense layer with this many units (the logits). */
  readonly classes: number;
  readonly layers: readonly LayerSpec[];
}

const CLASS_OF: Record<LayerSpec['type'], string> = {
  dense: 'Dense',
  conv2d: 'Conv2D',
  avgpool2d: 'AveragePooling2D',
  flatten: 'Flatten',
  batchnorm: 'BatchNormalization',
  activation: 'Activation',
};

export function validateSpec(spec: ModelSpec): void {
  let flat = false;
  spec.layers.forEach((l, i) => {
    if (l.type === 'flatten') flat = true;
    else if (l.type === 'dense' && !flat) {
      throw new VflareError(
        'INVALID_CONFIG',
        `model spec: layer ${i} is dense but its input is still an image; add a flatten layer ` +
          'before it (a dense layer on an image acts on its channels only)',
      );
    } else if (flat && (l.type === 'conv2d' || l.type === 'avgpool2d')) {
      throw new VflareError(
        'INVALID_CONFIG',
        `model spec: layer ${i} (${l.type}) needs an image input`,
      );
    }
  });
  const last = spec.layers[spec.layers.length - 1];
  if (
    last === undefined ||
    last.type !== 'dense' ||
    last.units !== spec.classes ||
    (last.activation ?? 'linear') !== 'linear'
  ) {
    throw new VflareError(
      'INVALID_CONFIG',
      `model spec: the last layer must be a linear dense layer with ${spec.classes} units ` +
        '(the logits; softmax is part of the loss)',
    );
  }
}

/** Builds the trainable TensorFlow.js model for a spec; weights are seeded. */
export function buildLayersModel(spec: ModelSpec, seed = 0): tf.Sequential {
  validateSpec(spec);
  const model = tf.sequential();
  spec.layers.forEach((l, i) => {
    const init = { kernelInitializer: tf.initializers.glorotUniform({ seed: seed + i }) };
    const first = i === 0 ? { inputShape: [...spec.inputShape] } : {};
    const name = `l${i}_${l.type}`;
    switch (l.type) {
      case 'dense':
        model.add(
          tf.layers.dense({
            ...first,
            ...init,
            name,
            units: l.units,
            activation: l.activation ?? 'linear',
          }),
        );
        break;
      case 'conv2d':
        model.add(
          tf.layers.conv2d({
            ...first,
            ...init,
            name,
            filters: l.filters,
            kernelSize: l.kernelSize,
            padding: l.padding ?? 'same',
            activation: l.activation ?? 'linear',
          }),
        );
        break;
      case 'avgpool2d':
        model.add(tf.layers.averagePooling2d({ ...first, name, poolSize: l.poolSize }));
        break;
      case 'flatten':
        model.add(tf.layers.flatten({ ...first, name }));
        break;
      case 'batchnorm':
        model.add(
          tf.layers.batchNormalization({
            ...first,
            name,
            momentum: l.momentum ?? 0.99,
            epsilon: l.epsilon ?? 1e-3,
          }),
        );
        break;
      case 'activation':
        model.add(tf.layers.activation({ ...first, name, activation: l.activation }));
        break;
    }
  });
  return model;
}

/** Positional variable name. */
export function variableName(index: number, layer: LayerSpec, weight: string): string {
  return `${index}.${CLASS_OF[layer.type]}.${weight}`;
}

/** `kernel`, `bias`, `gamma`, `moving_mean`, … from a TensorFlow.js variable name. */
export function shortWeightName(name: string): string {
  const base = name.slice(name.lastIndexOf('/') + 1);
  // TensorFlow.js may suffix duplicates with `_<n>`; strip it only from known names.
  return base.replace(/^(kernel|bias|gamma|beta|moving_mean|moving_variance)_\d+$/, '$1');
}

/** The model's variables (trainable and not) under positional names. */
export function modelWeightNames(model: tf.LayersModel): string[] {
  const names: string[] = [];
  model.layers.forEach((layer, i) => {
    for (const w of layer.weights) {
      names.push(`${i}.${layer.getClassName()}.${shortWeightName(w.originalName)}`);
    }
  });
  return names;
}
