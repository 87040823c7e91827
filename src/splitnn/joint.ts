/**
 * The reference the split protocol must equal: the concatenated network (every bottom, concat,
 * top) trained in one process by ordinary autodiff and one optimiser over all variables. Used by
 * the equivalence tests and by the benchmark's split-versus-joint comparison. Networks are built
 * with the same names and seeds as the split parties' halves, so both start from equal weights.
 */
import * as tf from '@tensorflow/tfjs';
import type { ForwardMode } from './network.js';
import { Network } from './network.js';
import { MomentumSgd, type SgdOptionsInput } from './optimizer.js';
import {
  type EvalResult,
  type FeatureRows,
  flatData,
  gatherRows,
  type HalfOptions,
  type LabelRows,
} from './split.js';

export interface JointOptions {
  /** Bottoms in cut order, each with the rows of its columns. */
  readonly bottoms: readonly {
    readonly name: string;
    readonly rows: FeatureRows;
    readonly half: HalfOptions;
  }[];
  readonly labelParty: string;
  readonly top: HalfOptions;
  readonly labels: LabelRows;
  readonly optimizer?: SgdOptionsInput;
}

export class JointModel {
  readonly bottoms: readonly {
    readonly name: string;
    readonly rows: FeatureRows;
    readonly network: Network;
  }[];
  readonly top: Network;
  readonly optimizer: MomentumSgd;
  readonly #labels: LabelRows;

  constructor(options: JointOptions) {
    this.bottoms = options.bottoms.map((b) => ({
      name: b.name,
      rows: b.rows,
      network: new Network(b.half.network, `bottom:${b.name}`, b.half.seed),
    }));
    this.top = new Network(
      options.top.network,
      `top:${options.labelParty}`,
      options.top.seed,
      true,
    );
    const all = new Map<string, tf.Variable>();
    for (const b of this.bottoms)
      for (const [k, v] of b.network.variables) all.set(`${b.name}/${k}`, v);
    for (const [k, v] of this.top.variables) all.set(`top/${k}`, v);
    this.optimizer = new MomentumSgd(all, options.optimizer ?? options.top.optimizer ?? {});
    this.#labels = options.labels;
  }

  #logits(inputs: tf.Tensor[], mode: ForwardMode): tf.Tensor {
    const parts = this.bottoms.map((b, i) => b.network.apply(inputs[i] as tf.Tensor, mode));
    return this.top.apply(parts.length === 1 ? (parts[0] as tf.Tensor) : tf.concat(parts, 1), mode);
  }

  #inputs(positions: Int32Array): tf.Tensor[] {
    return this.bottoms.map((b) => gatherRows(b.rows, positions, `joint "${b.name}"`));
  }

  #onehot(positions: Int32Array): tf.Tensor {
    const y = Int32Array.from(positions, (p) => this.#labels.labels[p] as number);
    return tf.oneHot(tf.tensor1d(y, 'int32'), this.#labels.numClasses);
  }

  /** One step; returns the batch loss. */
  step(positions: Int32Array, mode: ForwardMode): number {
    return tf.tidy(() => {
      const inputs = this.#inputs(positions);
      const onehot = this.#onehot(positions);
      const { value, grads } = tf.variableGrads(
        () => tf.losses.softmaxCrossEntropy(onehot, this.#logits(inputs, mode)) as tf.Scalar,
      );
      const byName: Record<string, tf.Tensor> = {};
      for (const b of this.bottoms) {
        for (const [k, v] of b.network.variables)
          byName[`${b.name}/${k}`] = grads[v.name] as tf.Tensor;
      }
      for (const [k, v] of this.top.variables) byName[`top/${k}`] = grads[v.name] as tf.Tensor;
      this.optimizer.apply(byName);
      return value.dataSync()[0] as number;
    });
  }

  evaluate(positions: Int32Array): EvalResult {
    return tf.tidy(() => {
      const logits = this.#logits(this.#inputs(positions), { training: false });
      const loss = tf.losses
        .softmaxCrossEntropy(this.#onehot(positions), logits)
        .dataSync()[0] as number;
      return { loss, probabilities: flatData(tf.softmax(logits)) };
    });
  }

  dispose(): void {
    this.optimizer.dispose();
    for (const b of this.bottoms) b.network.dispose();
    this.top.dispose();
  }
}
