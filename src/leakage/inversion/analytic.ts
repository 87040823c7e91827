/**
 * Closed-form pieces of gradient inversion, pure functions over typed arrays.
 *
 * Dense-layer input recovery (Phong et al. 2018; Geiping et al., "Inverting Gradients",
 * NeurIPS 2020, Prop. D.1): for a dense layer y = xW + b seeing one input x, every SGD step
 * changes W by −lr·xᵀδ and b by −lr·δ, so for any unit j with ΔB_j ≠ 0,
 * x = ΔW[:, j] / Δb[j] exactly, over any number of local steps. With several inputs each unit
 * gives a mixture weighted by that unit's errors; units that fire for one input only still
 * isolate it, so we return the ratios of the strongest, mutually distinct units.
 *
 * Label recovery (Zhao et al., "iDLG", 2020): with softmax cross-entropy and one-hot targets,
 * the logit error p − y is negative only at the true class, so the last layer's bias moves up
 * (Δb = −lr·Σ(p − y) > 0) only for classes present in the batch. For one image the argmax of
 * Δb is its label; for several we rank classes by Δb (Yin et al., CVPR 2021, use the same
 * ordering idea on weight-gradient minima).
 */

/** Inputs of a dense layer from its kernel change [inSize × outSize] and bias change. */
export function recoverDenseInputs(
  kernelDelta: Float32Array | Float64Array,
  biasDelta: Float32Array | Float64Array,
  inSize: number,
  maxInputs: number,
): Float32Array[] {
  const out = biasDelta.length;
  const order = Array.from({ length: out }, (_, j) => j).sort(
    (a, b) => Math.abs(biasDelta[b]!) - Math.abs(biasDelta[a]!),
  );
  const found: Float32Array[] = [];
  const scale = Math.abs(biasDelta[order[0]!] ?? 0);
  for (const j of order) {
    const bj = biasDelta[j]!;
    // Units whose bias barely moved carry mostly rounding error.
    if (bj === 0 || Math.abs(bj) < 1e-6 * scale) break;
    const x = new Float32Array(inSize);
    for (let i = 0; i < inSize; i++) x[i] = kernelDelta[i * out + j]! / bj;
    if (found.every((f) => correlation(f, x) < 0.99)) found.push(x);
    if (found.length >= maxInputs) break;
  }
  return found;
}

function correlation(a: Float32Array, b: Float32Array): number {
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < a.length; i++) {
    ma += a[i]!;
    mb += b[i]!;
  }
  ma /= a.length;
  mb /= b.length;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < a.length; i++) {
    const da = a[i]! - ma;
    const db = b[i]! - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  return saa === 0 || sbb === 0 ? 1 : sab / Math.sqrt(saa * sbb);
}

/**
 * Labels of `count` images from the last layer's bias change (or, without a bias, the column
 * sums of its kernel change, valid when its inputs are non-negative).
 */
export function recoverLabels(lastBiasDelta: Float32Array | Float64Array, count: number): number[] {
  const classes = Array.from({ length: lastBiasDelta.length }, (_, c) => c).sort(
    (a, b) => lastBiasDelta[b]! - lastBiasDelta[a]!,
  );
  const present = classes.filter((c) => lastBiasDelta[c]! > 0);
  const pool = present.length > 0 ? present : classes.slice(0, 1);
  return Array.from({ length: count }, (_, i) => pool[i % pool.length]!);
}

/** Column sums of a [rows × cols] kernel change: a bias-like signal for label recovery. */
export function columnSums(kernel: Float32Array | Float64Array, cols: number): Float64Array {
  const s = new Float64Array(cols);
  for (let i = 0; i < kernel.length; i++) s[i % cols]! += kernel[i]!;
  return s;
}

/**
 * The batch statistic behind a Keras-style running-average update
 * `new = m·old + (1 − m)·batch`: batch = (new − m·old) / (1 − m).
 */
export function recoverBatchStatistic(
  oldValue: Float32Array | Float64Array,
  delta: Float32Array | Float64Array,
  momentum: number,
): Float32Array {
  const out = new Float32Array(oldValue.length);
  for (let i = 0; i < out.length; i++) {
    const next = oldValue[i]! + delta[i]!;
    out[i] = (next - momentum * oldValue[i]!) / (1 - momentum);
  }
  return out;
}
