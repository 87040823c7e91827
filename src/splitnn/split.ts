/**
 * The split-learning step as pure party objects, independent of any transport (Vepakomma et
 * al., "Split learning for health", 2018, vertical configuration). Each feature party owns the
 * bottom of the network for its columns; the label party owns the top, the loss and the labels,
 * and may own a bottom for columns of its own. One training step over batch positions P:
 *
 * 1. every feature party computes its cut-layer activations A_k = bottom_k(X_k[P]);
 * 2. the label party concatenates them in the configured party order, computes the loss of
 *    top(concat(A)) against Y[P], steps its optimiser over its own variables, and returns to each
 *    party k the slice ∂loss/∂A_k of the cut-layer gradient;
 * 3. each feature party back-propagates its slice through its bottom and steps its optimiser.
 *
 * The label party never sees a bottom's weights and no feature party sees the top's or the
 * labels; what crosses is activations one way and cut-layer gradients the other.
 */
import * as tf from '@tensorflow/tfjs';
import { VflareError } from '../runtime/core/errors.js';
import { type ForwardMode, Network, type NetworkSpecInput } from './network.js';
import { MomentumSgd, type SgdOptionsInput } from './optimizer.js';

/** Rows of one party's columns in the common (aligned) order, row-major. */
export interface FeatureRows {
  /** Shape of one row, e.g. `[15]` or `[28, 28, 1]`. */
  readonly rowShape: readonly number[];
  /** `count × product(rowShape)` values. */
  readonly data: Float32Array;
}

export function rowCount(rows: FeatureRows): number {
  const width = rows.rowShape.reduce((a, b) => a * b, 1);
  return rows.data.length / width;
}

/** Copies the rows at `positions` into a batch tensor `[B, ...rowShape]`. */
export function gatherRows(rows: FeatureRows, positions: Int32Array, label: string): tf.Tensor {
  const width = rows.rowShape.reduce((a, b) => a * b, 1);
  const n = rows.data.length / width;
  const out = new Float32Array(positions.length * width);
  for (let i = 0; i < positions.length; i++) {
    const p = positions[i] as number;
    if (!Number.isInteger(p) || p < 0 || p >= n) {
      throw new VflareError(
        'PROTOCOL_ERROR',
        `${label}: batch position ${i} is outside the ${n} aligned rows; the parties' row ` +
          'orders disagree or the request is corrupt',
      );
    }
    out.set(rows.data.subarray(p * width, (p + 1) * width), i * width);
  }
  return tf.tensor(out, [positions.length, ...rows.rowShape]);
}

/** What a party needs to build its half: the spec, a seed, and its optimiser settings. */
export interface HalfOptions {
  readonly network: NetworkSpecInput;
  readonly seed: number;
  readonly optimizer?: SgdOptionsInput;
}

/** A feature party: its bottom network, optimiser and rows. */
export class FeatureParty {
  readonly name: string;
  readonly network: Network;
  readonly optimizer: MomentumSgd;
  readonly rows: FeatureRows;
  #pending:
    | { positions: Int32Array; input: tf.Tensor; trace: ReturnType<Network['forwardTraced']> }
    | undefined;

  constructor(name: string, rows: FeatureRows, half: HalfOptions) {
    this.name = name;
    this.rows = rows;
    this.network = new Network(half.network, `bottom:${name}`, half.seed);
    checkRowShape(this.network, rows, name);
    this.optimizer = new MomentumSgd(this.network.variables, half.optimizer ?? {});
  }

  /** Width of this party's cut-layer output per example. */
  get cutWidth(): number {
    return this.network.outputShape.reduce((a, b) => a * b, 1);
  }

  /**
   * Training forward pass: returns the activations `[B, cutWidth]` and keeps what the backward
   * pass needs until `applyGradient` (a second forward drops the first one's state).
   */
  forward(positions: Int32Array, mode: ForwardMode): Float32Array {
    this.#dropPending();
    const input = gatherRows(this.rows, positions, `feature party "${this.name}"`);
    const trace = this.network.forwardTraced(input, mode);
    this.#pending = { positions, input, trace };
    return flatData(trace.output);
  }

  /** Back-propagates the cut-layer gradient of the last `forward` and steps the optimiser. */
  applyGradient(gradient: Float32Array): void {
    const pending = this.#pending;
    if (pending === undefined) {
      throw new VflareError(
        'PROTOCOL_ERROR',
        `feature party "${this.name}": a gradient arrived with no forward pass pending`,
      );
    }
    const expected = pending.positions.length * this.cutWidth;
    if (gradient.length !== expected) {
      throw new VflareError(
        'PROTOCOL_ERROR',
        `feature party "${this.name}": cut-layer gradient has ${gradient.length} values, ` +
          `expected ${expected} (${pending.positions.length} × ${this.cutWidth})`,
      );
    }
    const dy = tf.tensor(gradient, pending.trace.output.shape);
    const grads = this.network.backward(pending.trace, dy);
    try {
      this.optimizer.apply(grads);
    } finally {
      dy.dispose();
      for (const g of grads.values()) g.dispose();
      this.#dropPending();
    }
  }

  /** Inference forward pass: no trace, no state change. */
  evaluate(positions: Int32Array): Float32Array {
    const input = gatherRows(this.rows, positions, `feature party "${this.name}"`);
    try {
      const out = this.network.apply(input, { training: false });
      const data = flatData(out);
      out.dispose();
      return data;
    } finally {
      input.dispose();
    }
  }

  #dropPending(): void {
    if (this.#pending === undefined) return;
    this.network.disposeTrace(this.#pending.trace);
    this.#pending.input.dispose();
    this.#pending = undefined;
  }

  dispose(): void {
    this.#dropPending();
    this.optimizer.dispose();
    this.network.dispose();
  }
}

/** Class labels (0 … numClasses − 1) in the common order. */
export interface LabelRows {
  readonly labels: Int32Array;
  readonly numClasses: number;
}

export interface LabelPartyOptions {
  readonly name: string;
  /** Cut-layer sources in concatenation order: remote feature parties and, optionally, `name`. */
  readonly order: readonly string[];
  /** Cut widths of the remote parties, by name. */
  readonly remoteWidths: Readonly<Record<string, number>>;
  readonly top: HalfOptions;
  readonly labels: LabelRows;
  /** A bottom over the label party's own columns, when it has some (its name is in `order`). */
  readonly ownBottom?: { readonly rows: FeatureRows; readonly half: HalfOptions };
}

export interface StepResult {
  readonly loss: number;
  /** ∂loss/∂A_k for each remote party, `[B, width_k]` row-major. */
  readonly gradients: ReadonlyMap<string, Float32Array>;
}

export interface EvalResult {
  readonly loss: number;
  /** Class probabilities `[B, numClasses]`. */
  readonly probabilities: Float32Array;
}

/** The label party: the top network, the loss and the labels (and maybe a bottom of its own). */
export class LabelParty {
  readonly name: string;
  readonly top: Network;
  readonly topOptimizer: MomentumSgd;
  readonly own: FeatureParty | undefined;
  readonly options: LabelPartyOptions;

  constructor(options: LabelPartyOptions) {
    this.options = options;
    this.name = options.name;
    const seen = new Set<string>();
    for (const p of options.order) {
      if (seen.has(p))
        throw new VflareError('INVALID_CONFIG', `party "${p}" is listed twice in the cut order`);
      seen.add(p);
      if (p !== options.name && options.remoteWidths[p] === undefined) {
        throw new VflareError('INVALID_CONFIG', `no cut width for feature party "${p}"`);
      }
    }
    if ((options.ownBottom !== undefined) !== seen.has(options.name)) {
      throw new VflareError(
        'INVALID_CONFIG',
        `label party "${options.name}" must be in the cut order exactly when it has its own bottom`,
      );
    }
    this.own =
      options.ownBottom === undefined
        ? undefined
        : new FeatureParty(options.name, options.ownBottom.rows, options.ownBottom.half);
    this.top = new Network(options.top.network, `top:${options.name}`, options.top.seed, true);
    const cut = options.order.reduce(
      (s, p) =>
        s +
        (p === options.name
          ? (this.own as FeatureParty).cutWidth
          : (options.remoteWidths[p] as number)),
      0,
    );
    const topIn = this.top.spec.inputShape;
    if (topIn.length !== 1 || topIn[0] !== cut) {
      throw new VflareError(
        'INVALID_CONFIG',
        `top network input shape [${topIn.join(', ')}] must be [${cut}], the sum of the cut widths`,
      );
    }
    const out = this.top.outputShape;
    if (out.length !== 1 || out[0] !== options.labels.numClasses) {
      throw new VflareError(
        'INVALID_CONFIG',
        `top network must output ${options.labels.numClasses} logits, outputs [${out.join(', ')}]`,
      );
    }
    this.topOptimizer = new MomentumSgd(this.top.variables, options.top.optimizer ?? {});
  }

  /** Parties the label party asks for activations, in cut order. */
  get remoteParties(): string[] {
    return this.options.order.filter((p) => p !== this.name);
  }

  /** One training step given the remote activations of the batch `positions`. */
  step(
    positions: Int32Array,
    remote: ReadonlyMap<string, Float32Array>,
    mode: ForwardMode,
  ): StepResult {
    const b = positions.length;
    const remoteT = this.#remoteTensors(remote, b);
    const own = this.own;
    const ownInput =
      own === undefined ? undefined : gatherRows(own.rows, positions, `label party "${this.name}"`);
    try {
      const topVars = [...this.top.variables.entries()];
      const ownVars = own === undefined ? [] : [...own.network.variables.entries()];
      const remoteNames = [...remoteT.keys()];
      const xs: tf.Tensor[] = [
        ...topVars.map(([, v]) => v as tf.Tensor),
        ...ownVars.map(([, v]) => v as tf.Tensor),
        ...remoteNames.map((n) => remoteT.get(n) as tf.Tensor),
      ];
      const onehot = tf.tidy(() =>
        tf.oneHot(tf.tensor1d(this.#labelsAt(positions), 'int32'), this.options.labels.numClasses),
      );
      const { value, grads } = tf.engine().gradients(() => {
        const parts = this.options.order.map((p) =>
          p === this.name
            ? (own as FeatureParty).network.apply(ownInput as tf.Tensor, mode)
            : (remoteT.get(p) as tf.Tensor),
        );
        const joined = parts.length === 1 ? (parts[0] as tf.Tensor) : tf.concat(parts, 1);
        const logits = this.top.apply(joined, mode);
        return tf.losses.softmaxCrossEntropy(onehot, logits) as tf.Scalar;
      }, xs);
      onehot.dispose();
      const loss = (value.dataSync() as Float32Array)[0] as number;
      value.dispose();
      const topGrads = new Map(topVars.map(([n], i) => [n, grads[i] as tf.Tensor]));
      const ownGrads = new Map(
        ownVars.map(([n], i) => [n, grads[topVars.length + i] as tf.Tensor]),
      );
      const gradients = new Map<string, Float32Array>();
      remoteNames.forEach((n, i) => {
        gradients.set(n, flatData(grads[topVars.length + ownVars.length + i] as tf.Tensor));
      });
      this.topOptimizer.apply(topGrads);
      if (own !== undefined) own.optimizer.apply(ownGrads);
      for (const g of grads) g.dispose();
      return { loss, gradients };
    } finally {
      for (const t of remoteT.values()) t.dispose();
      ownInput?.dispose();
    }
  }

  /** Loss and class probabilities without touching weights or optimiser state. */
  evaluate(positions: Int32Array, remote: ReadonlyMap<string, Float32Array>): EvalResult {
    const b = positions.length;
    const remoteT = this.#remoteTensors(remote, b);
    const own = this.own;
    const ownInput =
      own === undefined ? undefined : gatherRows(own.rows, positions, `label party "${this.name}"`);
    try {
      return tf.tidy(() => {
        const parts = this.options.order.map((p) =>
          p === this.name
            ? (own as FeatureParty).network.apply(ownInput as tf.Tensor, { training: false })
            : (remoteT.get(p) as tf.Tensor),
        );
        const joined = parts.length === 1 ? (parts[0] as tf.Tensor) : tf.concat(parts, 1);
        const logits = this.top.apply(joined, { training: false });
        const onehot = tf.oneHot(
          tf.tensor1d(this.#labelsAt(positions), 'int32'),
          this.options.labels.numClasses,
        );
        const loss = tf.losses.softmaxCrossEntropy(onehot, logits).dataSync()[0] as number;
        return { loss, probabilities: flatData(tf.softmax(logits)) };
      });
    } finally {
      for (const t of remoteT.values()) t.dispose();
      ownInput?.dispose();
    }
  }

  /** Class probabilities only (inference on records without labels). */
  predict(
    batch: number,
    remote: ReadonlyMap<string, Float32Array>,
    ownRows?: FeatureRows,
  ): Float32Array {
    const remoteT = this.#remoteTensors(remote, batch);
    try {
      return tf.tidy(() => {
        const parts = this.options.order.map((p) => {
          if (p !== this.name) return remoteT.get(p) as tf.Tensor;
          if (ownRows === undefined)
            throw new VflareError('INVALID_ARGUMENT', 'label party rows missing');
          const idx = Int32Array.from({ length: batch }, (_, i) => i);
          return (this.own as FeatureParty).network.apply(gatherRows(ownRows, idx, this.name), {
            training: false,
          });
        });
        const joined = parts.length === 1 ? (parts[0] as tf.Tensor) : tf.concat(parts, 1);
        return flatData(tf.softmax(this.top.apply(joined, { training: false })));
      });
    } finally {
      for (const t of remoteT.values()) t.dispose();
    }
  }

  #labelsAt(positions: Int32Array): Int32Array {
    const { labels } = this.options.labels;
    const out = new Int32Array(positions.length);
    for (let i = 0; i < positions.length; i++) {
      const p = positions[i] as number;
      if (!Number.isInteger(p) || p < 0 || p >= labels.length) {
        throw new VflareError(
          'PROTOCOL_ERROR',
          `label party: batch position ${i} is outside the ${labels.length} aligned rows`,
        );
      }
      out[i] = labels[p] as number;
    }
    return out;
  }

  #remoteTensors(remote: ReadonlyMap<string, Float32Array>, batch: number): Map<string, tf.Tensor> {
    const out = new Map<string, tf.Tensor>();
    for (const p of this.remoteParties) {
      const a = remote.get(p);
      const width = this.options.remoteWidths[p] as number;
      if (a === undefined || a.length !== batch * width) {
        for (const t of out.values()) t.dispose();
        throw new VflareError(
          'PROTOCOL_ERROR',
          `label party: activations from "${p}" ` +
            `have ${a === undefined ? 'no' : a.length} values, ` +
            `expected ${batch * width} (${batch} × ${width})`,
          { context: { party: p } },
        );
      }
      out.set(p, tf.tensor2d(a, [batch, width]));
    }
    return out;
  }

  dispose(): void {
    this.own?.dispose();
    this.topOptimizer.dispose();
    this.top.dispose();
  }
}

function checkRowShape(network: Network, rows: FeatureRows, name: string): void {
  const a = network.spec.inputShape;
  const b = rows.rowShape;
  if (a.length !== b.length || a.some((d, i) => d !== b[i])) {
    throw new VflareError(
      'INVALID_CONFIG',
      `party "${name}": bottom network expects rows of shape [${a.join(', ')}], data has ` +
        `[${b.join(', ')}]`,
    );
  }
  const width = b.reduce((x, y) => x * y, 1);
  if (rows.data.length % width !== 0) {
    throw new VflareError(
      'INVALID_DATA',
      `party "${name}": data length is not a multiple of the row width ${width}`,
    );
  }
}

/** Reads a tensor's values into a fresh Float32Array (not a view into backend memory). */
export function flatData(t: tf.Tensor): Float32Array {
  return new Float32Array(t.dataSync() as Float32Array);
}
