/**
 * Stochastic gradient descent with (heavy-ball) momentum, the optimiser of the split-learning
 * reference (lr 0.01, momentum 0.9 on both halves). Update per variable w with gradient g:
 *   v ← μ·v + g;  w ← w − η·(v + λ·w)   (λ: optional L2 weight decay folded into the step)
 * which is PyTorch's SGD without dampening (Sutskever et al., ICML 2013, eq. 1 in this form).
 * Each party runs its own instance over its own variables; because the update is per variable,
 * the union of the parties' optimisers is exactly one optimiser over the joint network.
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import type { Tensor, TensorMap } from '../runtime/core/messages.js';

export const sgdSchema = z.object({
  learningRate: z.number().positive().default(0.01),
  momentum: z.number().min(0).lt(1).default(0.9),
  weightDecay: z.number().min(0).default(0),
  nesterov: z.boolean().default(false),
});
export type SgdOptions = z.infer<typeof sgdSchema>;
export type SgdOptionsInput = z.input<typeof sgdSchema>;

export class MomentumSgd {
  readonly options: SgdOptions;
  readonly #variables: ReadonlyMap<string, tf.Variable>;
  readonly #slots = new Map<string, tf.Variable>();
  #steps = 0;

  constructor(variables: ReadonlyMap<string, tf.Variable>, options: SgdOptionsInput = {}) {
    this.options = sgdSchema.parse(options);
    this.#variables = variables;
    for (const [name, v] of variables) {
      this.#slots.set(name, tf.variable(tf.zerosLike(v), false));
    }
  }

  get steps(): number {
    return this.#steps;
  }

  /** Applies one step; `grads` must name every variable (missing ones are an error). */
  apply(grads: ReadonlyMap<string, tf.Tensor> | Readonly<Record<string, tf.Tensor>>): void {
    const get = (k: string): tf.Tensor | undefined =>
      grads instanceof Map ? grads.get(k) : (grads as Record<string, tf.Tensor>)[k];
    const { learningRate: lr, momentum: mu, weightDecay: wd, nesterov } = this.options;
    tf.tidy(() => {
      for (const [name, w] of this.#variables) {
        const g = get(name);
        if (g === undefined) throw new Error(`MomentumSgd: no gradient for variable "${name}"`);
        const v = this.#slots.get(name) as tf.Variable;
        const gd = wd > 0 ? tf.add(g, tf.mul(w, wd)) : g;
        const vNew = tf.add(tf.mul(v, mu), gd);
        v.assign(vNew);
        const stepDir = nesterov ? tf.add(gd, tf.mul(vNew, mu)) : vNew;
        w.assign(tf.sub(w, tf.mul(stepDir, lr)));
      }
    });
    this.#steps++;
  }

  /** A copy of the momentum slots by variable name (for tests and checkpoints). */
  getSlots(): TensorMap {
    const out: Record<string, Tensor> = {};
    for (const [name, v] of this.#slots) {
      out[name] = { shape: [...v.shape], data: new Float32Array(v.dataSync() as Float32Array) };
    }
    return out;
  }

  dispose(): void {
    for (const v of this.#slots.values()) v.dispose();
  }
}
