/**
 * Split learning with every party in one process: the same protocol steps as over peer
 * messaging (forward at each feature party, step at the label party, gradient slices back),
 * with the wire replaced by function calls and, optionally, float16 rounding. Used by tests,
 * benchmarks and anyone who wants to study split training without a federation.
 */

import { roundFloat16 } from './float16.js';
import type { ForwardMode } from './network.js';
import type { EvalResult, FeatureParty, LabelParty } from './split.js';

export class LocalSplit {
  readonly features: ReadonlyMap<string, FeatureParty>;
  readonly label: LabelParty;
  readonly float16: boolean;

  constructor(label: LabelParty, features: readonly FeatureParty[], float16 = false) {
    this.label = label;
    this.features = new Map(features.map((f) => [f.name, f]));
    this.float16 = float16;
  }

  /** One training step over `positions`; returns the batch loss. */
  step(positions: Int32Array, mode: ForwardMode): number {
    const wire = (a: Float32Array) => (this.float16 ? roundFloat16(a) : a);
    const acts = new Map<string, Float32Array>();
    for (const p of this.label.remoteParties) {
      acts.set(p, wire(this.#party(p).forward(positions, mode)));
    }
    const result = this.label.step(positions, acts, mode);
    for (const [p, g] of result.gradients) this.#party(p).applyGradient(wire(g));
    return result.loss;
  }

  evaluate(positions: Int32Array): EvalResult {
    const acts = new Map<string, Float32Array>();
    for (const p of this.label.remoteParties) acts.set(p, this.#party(p).evaluate(positions));
    return this.label.evaluate(positions, acts);
  }

  #party(name: string): FeatureParty {
    const f = this.features.get(name);
    if (f === undefined) throw new Error(`LocalSplit: no feature party "${name}"`);
    return f;
  }

  dispose(): void {
    this.label.dispose();
    for (const f of this.features.values()) f.dispose();
  }
}
