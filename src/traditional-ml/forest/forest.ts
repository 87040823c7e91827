/**
 * Random-forest classifiers grown by a histogram tree learner, and the merge of several forests
 * into one (federated bagging: each client grows a sub-forest on its own rows, the server
 * concatenates them, and prediction averages every tree's leaf class distribution — Breiman,
 * "Random forests", 2001; NVFlare 2.3's XGBoost RF-mode example does the same with boosters).
 *
 * Why our own learner: ml-cart / ml-random-forest search splits over every sorted value pair and
 * took ~17 s per tree on 10,000 × 20 (118 ms on 569 × 30; issue 4's measurement): quadratic
 * growth. Binning each feature once into ≤ 64 quantile bins (uint8 codes) makes a node's split
 * search one pass over its rows per candidate feature plus a scan of the bins (the "hist" method
 * of XGBoost and LightGBM), so a tree costs O(rows × depth × features tried): ~80 ms per depth-8
 * tree on 10,000 × 20 here, all features tried, on a busy 2-core machine.
 *
 * What a forest carries: split feature and raw-value threshold per internal node and a class
 * probability vector per leaf. Node row counts, gradient/hessian sums and impurities are never
 * stored (they would reveal the client's data distribution beyond what prediction needs).
 */
import { VflareError } from '../../runtime/core/index.js';
import type { Dataset } from '../data/dataset.js';
import { createRng, type Rng } from '../random/index.js';

export interface ForestOptions {
  readonly nTrees: number;
  /** Number of classes; labels must be 0..nClasses−1. Fixed by configuration, not local data. */
  readonly nClasses: number;
  /** Fraction of local rows each tree is grown on (drawn without replacement); default 0.8. */
  readonly subsample?: number;
  /** Default 8 (NVFlare's RF example). */
  readonly maxDepth?: number;
  /** Fraction of features tried at each node; default √cols / cols. */
  readonly featureFraction?: number;
  /** Default 1. */
  readonly minSamplesLeaf?: number;
  /** Histogram bins per feature, ≤ 255; default 64. */
  readonly bins?: number;
}

/** A forest in flat arrays; node indices inside a tree are relative to the tree's offset. */
export interface Forest {
  readonly nClasses: number;
  readonly cols: number;
  /** Tree t's nodes are offsets[t] .. offsets[t+1]−1; its root is offsets[t]. */
  readonly offsets: Int32Array;
  /** Split feature, or −1 at a leaf. */
  readonly feature: Int32Array;
  /** Go left when x[feature] ≤ threshold. */
  readonly threshold: Float64Array;
  readonly left: Int32Array;
  readonly right: Int32Array;
  /** Leaf class probabilities, `nodes × nClasses` (zeros at internal nodes). */
  readonly value: Float64Array;
}

export function treeCount(f: Forest): number {
  return f.offsets.length - 1;
}

interface Binned {
  readonly codes: Uint8Array; // column-major: codes[j * rows + r]
  readonly edges: Float64Array[]; // per feature, ascending; code b ⇔ x ≤ edges[b] (or above all)
}

/** Quantile bin edges per feature from the rows, then each value's bin code. */
export function binFeatures(ds: Dataset, bins: number): Binned {
  const { rows, cols, x } = ds;
  const codes = new Uint8Array(rows * cols);
  const edges: Float64Array[] = [];
  const col = new Float64Array(rows);
  for (let j = 0; j < cols; j++) {
    for (let r = 0; r < rows; r++) col[r] = x[r * cols + j] as number;
    const sorted = Float64Array.from(col).sort();
    const cut: number[] = [];
    for (let b = 1; b < bins; b++) {
      const v = sorted[Math.min(rows - 1, Math.floor((b * rows) / bins))] as number;
      if (cut.length === 0 || v > (cut[cut.length - 1] as number)) cut.push(v);
    }
    // The maximum can never be a useful "≤" split: everything would go left.
    while (cut.length > 0 && (cut[cut.length - 1] as number) >= (sorted[rows - 1] as number))
      cut.pop();
    const e = Float64Array.from(cut);
    edges.push(e);
    for (let r = 0; r < rows; r++) {
      const v = col[r] as number;
      let lo = 0;
      let hi = e.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (v <= (e[mid] as number)) hi = mid;
        else lo = mid + 1;
      }
      codes[j * rows + r] = lo;
    }
  }
  return { codes, edges };
}

interface TreeBuilder {
  feature: number[];
  threshold: number[];
  left: number[];
  right: number[];
  value: number[];
}

function checkOptions(o: ForestOptions, ds: Dataset) {
  const bins = o.bins ?? 64;
  if (!Number.isInteger(o.nTrees) || o.nTrees < 1) {
    throw new VflareError(
      'INVALID_CONFIG',
      `forest: nTrees must be an integer ≥ 1, got ${o.nTrees}`,
    );
  }
  if (!Number.isInteger(o.nClasses) || o.nClasses < 2) {
    throw new VflareError(
      'INVALID_CONFIG',
      `forest: nClasses must be an integer ≥ 2, got ${o.nClasses}`,
    );
  }
  if (!Number.isInteger(bins) || bins < 2 || bins > 255) {
    throw new VflareError(
      'INVALID_CONFIG',
      `forest: bins must be an integer in [2, 255], got ${bins}`,
    );
  }
  const sub = o.subsample ?? 0.8;
  if (!(sub > 0 && sub <= 1)) {
    throw new VflareError('INVALID_CONFIG', `forest: subsample must be in (0, 1], got ${sub}`);
  }
  for (let r = 0; r < ds.rows; r++) {
    const c = ds.y[r] as number;
    if (!Number.isInteger(c) || c < 0 || c >= o.nClasses) {
      throw new VflareError(
        'INVALID_DATA',
        `forest: labels must be integers in [0, ${o.nClasses - 1}] (nClasses = ` +
          `${o.nClasses}); training row ${r + 1} is not`,
      );
    }
  }
  if (ds.rows === 0) throw new VflareError('INVALID_DATA', 'forest: no training rows');
  return { bins, sub };
}

/** Grows `nTrees` trees on `ds`, seeded. */
export function growForest(ds: Dataset, options: ForestOptions, seed: number): Forest {
  const { bins, sub } = checkOptions(options, ds);
  const rng = createRng(seed);
  const binned = binFeatures(ds, bins);
  const maxDepth = options.maxDepth ?? 8;
  const minLeaf = options.minSamplesLeaf ?? 1;
  const tryCols = Math.max(
    1,
    Math.round((options.featureFraction ?? 1 / Math.sqrt(ds.cols)) * ds.cols),
  );
  const labels = Int32Array.from(ds.y);
  const offsets = [0];
  const t: TreeBuilder = { feature: [], threshold: [], left: [], right: [], value: [] };
  const take = Math.max(1, Math.round(sub * ds.rows));
  const ctx = { ds, binned, labels, rng, maxDepth, minLeaf, tryCols, k: options.nClasses, t, bins };
  for (let i = 0; i < options.nTrees; i++) {
    const sample = sampleRows(ds.rows, take, rng);
    const base = t.feature.length;
    grow(ctx, sample, 0, base);
    offsets.push(t.feature.length);
  }
  return {
    nClasses: options.nClasses,
    cols: ds.cols,
    offsets: Int32Array.from(offsets),
    feature: Int32Array.from(t.feature),
    threshold: Float64Array.from(t.threshold),
    left: Int32Array.from(t.left),
    right: Int32Array.from(t.right),
    value: Float64Array.from(t.value),
  };
}

function sampleRows(n: number, take: number, rng: Rng): Uint32Array {
  if (take >= n) return Uint32Array.from({ length: n }, (_, i) => i);
  // Partial Fisher–Yates: the first `take` entries are a uniform sample without replacement.
  const p = Uint32Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < take; i++) {
    const j = i + rng.int(n - i);
    const tmp = p[i] as number;
    p[i] = p[j] as number;
    p[j] = tmp;
  }
  return p.slice(0, take).sort();
}

interface GrowCtx {
  readonly ds: Dataset;
  readonly binned: Binned;
  readonly labels: Int32Array;
  readonly rng: Rng;
  readonly maxDepth: number;
  readonly minLeaf: number;
  readonly tryCols: number;
  readonly k: number;
  readonly t: TreeBuilder;
  readonly bins: number;
}

function addNode(t: TreeBuilder, k: number): number {
  const id = t.feature.length;
  t.feature.push(-1);
  t.threshold.push(0);
  t.left.push(-1);
  t.right.push(-1);
  for (let c = 0; c < k; c++) t.value.push(0);
  return id;
}

function gini(counts: Float64Array, off: number, k: number, n: number): number {
  if (n === 0) return 0;
  let s = 0;
  for (let c = 0; c < k; c++) {
    const p = (counts[off + c] as number) / n;
    s += p * p;
  }
  return 1 - s;
}

/** Grows the subtree over `rows`; returns its node index relative to `base`. */
function grow(ctx: GrowCtx, rows: Uint32Array, depth: number, base: number): number {
  const { k, t, labels } = ctx;
  const id = addNode(t, k);
  const total = new Float64Array(k);
  for (const r of rows) total[labels[r] as number] = (total[labels[r] as number] as number) + 1;
  const n = rows.length;
  const pure = total.some((c) => c === n);
  const split =
    depth >= ctx.maxDepth || pure || n < 2 * ctx.minLeaf ? undefined : bestSplit(ctx, rows, total);
  if (split === undefined) {
    for (let c = 0; c < k; c++) t.value[id * k + c] = (total[c] as number) / n;
    return id - base;
  }
  const { feature, bin } = split;
  const codes = ctx.binned.codes;
  const off = feature * ctx.ds.rows;
  let nl = 0;
  for (const r of rows) if ((codes[off + r] as number) <= bin) nl++;
  const lRows = new Uint32Array(nl);
  const rRows = new Uint32Array(n - nl);
  let li = 0;
  let ri = 0;
  for (const r of rows) {
    if ((codes[off + r] as number) <= bin) lRows[li++] = r;
    else rRows[ri++] = r;
  }
  t.feature[id] = feature;
  t.threshold[id] = ctx.binned.edges[feature]?.[bin] as number;
  t.left[id] = grow(ctx, lRows, depth + 1, base);
  t.right[id] = grow(ctx, rRows, depth + 1, base);
  return id - base;
}

function bestSplit(ctx: GrowCtx, rows: Uint32Array, total: Float64Array) {
  const { k, labels, binned, ds } = ctx;
  const n = rows.length;
  const parent = gini(total, 0, k, n);
  const features = pickFeatures(ds.cols, ctx.tryCols, ctx.rng);
  const hist = new Float64Array(256 * k);
  const leftCounts = new Float64Array(k);
  const rightCounts = new Float64Array(k);
  let best: { feature: number; bin: number } | undefined;
  let bestGain = 1e-12;
  for (const j of features) {
    const nEdges = (binned.edges[j] as Float64Array).length;
    if (nEdges === 0) continue;
    hist.fill(0, 0, (nEdges + 1) * k);
    const off = j * ds.rows;
    for (const r of rows) {
      const h = (binned.codes[off + r] as number) * k + (labels[r] as number);
      hist[h] = (hist[h] as number) + 1;
    }
    leftCounts.fill(0);
    let nl = 0;
    for (let b = 0; b < nEdges; b++) {
      for (let c = 0; c < k; c++) {
        const v = hist[b * k + c] as number;
        leftCounts[c] = (leftCounts[c] as number) + v;
        nl += v;
      }
      const nr = n - nl;
      if (nl < ctx.minLeaf || nr < ctx.minLeaf) continue;
      for (let c = 0; c < k; c++) rightCounts[c] = (total[c] as number) - (leftCounts[c] as number);
      const gain =
        parent - (nl / n) * gini(leftCounts, 0, k, nl) - (nr / n) * gini(rightCounts, 0, k, nr);
      if (gain > bestGain) {
        bestGain = gain;
        best = { feature: j, bin: b };
      }
    }
  }
  return best;
}

function pickFeatures(cols: number, m: number, rng: Rng): Uint32Array {
  const p = Uint32Array.from({ length: cols }, (_, i) => i);
  for (let i = 0; i < m; i++) {
    const j = i + rng.int(cols - i);
    const tmp = p[i] as number;
    p[i] = p[j] as number;
    p[j] = tmp;
  }
  return p.subarray(0, m);
}

/** Averaged leaf class probabilities over all trees, `rows × nClasses`. */
export function forestProba(f: Forest, x: ArrayLike<number>): Float64Array {
  if (x.length % f.cols !== 0) {
    throw new VflareError('INVALID_ARGUMENT', `forest: rows must have ${f.cols} features`);
  }
  const rows = x.length / f.cols;
  const k = f.nClasses;
  const out = new Float64Array(rows * k);
  const nt = treeCount(f);
  for (let r = 0; r < rows; r++) {
    const o = r * f.cols;
    for (let t = 0; t < nt; t++) {
      const base = f.offsets[t] as number;
      let node = base;
      while ((f.feature[node] as number) >= 0) {
        const v = x[o + (f.feature[node] as number)] as number;
        node =
          base + ((v <= (f.threshold[node] as number) ? f.left[node] : f.right[node]) as number);
      }
      for (let c = 0; c < k; c++)
        out[r * k + c] = (out[r * k + c] as number) + (f.value[node * k + c] as number);
    }
    for (let c = 0; c < k; c++) out[r * k + c] = (out[r * k + c] as number) / nt;
  }
  return out;
}

/** The most probable class per row. */
export function forestPredict(f: Forest, x: ArrayLike<number>): Float64Array {
  const p = forestProba(f, x);
  const rows = p.length / f.nClasses;
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 1; c < f.nClasses; c++)
      if ((p[r * f.nClasses + c] as number) > (p[r * f.nClasses + best] as number)) best = c;
    out[r] = best;
  }
  return out;
}

/**
 * One forest holding every tree of every input, each tree keeping its full class vector (so a
 * multi-class forest loses no class, unlike boosters merged with `tree_info` 0).
 */
export function mergeForests(forests: readonly Forest[]): Forest {
  const first = forests[0];
  if (first === undefined) throw new VflareError('AGGREGATION_FAILED', 'forest: nothing to merge');
  for (const f of forests) {
    if (f.nClasses !== first.nClasses || f.cols !== first.cols) {
      throw new VflareError(
        'AGGREGATION_FAILED',
        `forest: cannot merge a ${f.nClasses}-class, ${f.cols}-feature forest with a ` +
          `${first.nClasses}-class, ${first.cols}-feature one`,
      );
    }
  }
  const nodes = forests.reduce((a, f) => a + f.feature.length, 0);
  const out = {
    nClasses: first.nClasses,
    cols: first.cols,
    offsets: new Int32Array(forests.reduce((a, f) => a + treeCount(f), 0) + 1),
    feature: new Int32Array(nodes),
    threshold: new Float64Array(nodes),
    left: new Int32Array(nodes),
    right: new Int32Array(nodes),
    value: new Float64Array(nodes * first.nClasses),
  };
  let n = 0;
  let t = 0;
  for (const f of forests) {
    out.feature.set(f.feature, n);
    out.threshold.set(f.threshold, n);
    out.left.set(f.left, n);
    out.right.set(f.right, n);
    out.value.set(f.value, n * first.nClasses);
    for (let i = 1; i < f.offsets.length; i++) out.offsets[++t] = n + (f.offsets[i] as number);
    n += f.feature.length;
  }
  return out;
}
