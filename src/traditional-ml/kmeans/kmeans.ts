/**
 * Federated mini-batch k-means (the recipe of NVFlare 2.3's sklearn-kmeans example, after
 * Sculley, "Web-scale k-means clustering", WWW 2010):
 *
 * - round 0: each client picks k-means++ seeds from its rows (Arthur & Vassilvitskii 2007);
 *   the server clusters the pooled seeds with a fixed seed into the initial global centres;
 * - later rounds: each client makes one full-batch Lloyd step from the global centres
 *   (ml-kmeans with the given centres and one iteration) and sends its centres and counts;
 * - the server moves each centre to the count-weighted mean of its current position (weighted by
 *   the counts accumulated so far) and the clients' centres; a centre nobody was assigned to
 *   stays where it is (NVFlare divides by zero there and gets NaN).
 *
 * Centres are row-major Float64Arrays `k × cols`.
 */
import { kmeans as mlKmeans } from 'ml-kmeans';
import { VflareError } from '../../runtime/core/index.js';
import type { Dataset, FeatureArray } from '../data/dataset.js';
import { createRng, type Rng } from '../random/index.js';

function sqDist(a: ArrayLike<number>, ao: number, b: ArrayLike<number>, bo: number, d: number) {
  let s = 0;
  for (let j = 0; j < d; j++) {
    const t = (a[ao + j] as number) - (b[bo + j] as number);
    s += t * t;
  }
  return s;
}

/** Index of the nearest centre of every row (ties go to the lower index). */
export function assignClusters(
  x: FeatureArray | Float64Array,
  cols: number,
  centres: Float64Array,
) {
  const rows = x.length / cols;
  const k = centres.length / cols;
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    let bestD = Number.POSITIVE_INFINITY;
    for (let c = 0; c < k; c++) {
      const d = sqDist(x, r * cols, centres, c * cols, cols);
      if (d < bestD) {
        bestD = d;
        best = c;
      }
    }
    out[r] = best;
  }
  return out;
}

/** Sum of squared distances of rows to their nearest centre. */
export function inertia(
  x: FeatureArray | Float64Array,
  cols: number,
  centres: Float64Array,
): number {
  const labels = assignClusters(x, cols, centres);
  let s = 0;
  for (let r = 0; r < labels.length; r++)
    s += sqDist(x, r * cols, centres, (labels[r] as number) * cols, cols);
  return s;
}

export function checkClusterCount(rows: number, k: number): void {
  if (!Number.isInteger(k) || k < 1) {
    throw new VflareError('INVALID_CONFIG', `k-means: nClusters must be an integer ≥ 1, got ${k}`);
  }
  if (rows < k) {
    throw new VflareError(
      'INVALID_DATA',
      `k-means: ${rows} local rows cannot seed ${k} clusters; each client needs at least ` +
        `nClusters rows (lower nClusters or give this client more rows)`,
    );
  }
}

/**
 * k-means++ seeding with greedy local trials (2 + ⌊ln k⌋ candidates per step, the variant
 * scikit-learn uses). Returns `k × cols` centres, each an actual row of `ds` (raw data!).
 */
export function kmeansPlusPlus(ds: Dataset, k: number, rng: Rng): Float64Array {
  checkClusterCount(ds.rows, k);
  const { x, cols, rows } = ds;
  const centres = new Float64Array(k * cols);
  const first = rng.int(rows);
  centres.set(x.subarray(first * cols, (first + 1) * cols), 0);
  const closest = new Float64Array(rows);
  for (let r = 0; r < rows; r++) closest[r] = sqDist(x, r * cols, centres, 0, cols);
  const trials = 2 + Math.floor(Math.log(k));
  for (let c = 1; c < k; c++) {
    let total = 0;
    for (let r = 0; r < rows; r++) total += closest[r] as number;
    let bestRow = -1;
    let bestPot = Number.POSITIVE_INFINITY;
    let bestDist: Float64Array | undefined;
    for (let t = 0; t < trials; t++) {
      const cand = total > 0 ? sampleByWeight(closest, total, rng) : rng.int(rows);
      const dist = new Float64Array(rows);
      let pot = 0;
      for (let r = 0; r < rows; r++) {
        dist[r] = Math.min(closest[r] as number, sqDist(x, r * cols, x, cand * cols, cols));
        pot += dist[r] as number;
      }
      if (pot < bestPot) {
        bestPot = pot;
        bestRow = cand;
        bestDist = dist;
      }
    }
    centres.set(x.subarray(bestRow * cols, (bestRow + 1) * cols), c * cols);
    closest.set(bestDist as Float64Array);
  }
  return centres;
}

function sampleByWeight(w: Float64Array, total: number, rng: Rng): number {
  let u = rng.next() * total;
  for (let i = 0; i < w.length; i++) {
    u -= w[i] as number;
    if (u < 0) return i;
  }
  return w.length - 1;
}

function toNested(x: ArrayLike<number>, cols: number): number[][] {
  const rows = x.length / cols;
  const out: number[][] = new Array(rows);
  for (let r = 0; r < rows; r++)
    out[r] = Array.from({ length: cols }, (_, j) => x[r * cols + j] as number);
  return out;
}

export interface LocalStep {
  /** New centres after one Lloyd step (an empty cluster keeps its centre). */
  readonly centres: Float64Array;
  /** Rows assigned to each centre. */
  readonly counts: Float64Array;
}

/** One full-batch Lloyd step from `centres` over the client's rows, by ml-kmeans. */
export function localStep(ds: Dataset, centres: Float64Array): LocalStep {
  const k = centres.length / ds.cols;
  if (!Number.isInteger(k) || k < 1) {
    throw new VflareError('INVALID_ARGUMENT', `k-means: centres do not have ${ds.cols} columns`);
  }
  const result = mlKmeans(toNested(ds.x, ds.cols), k, {
    initialization: toNested(centres, ds.cols),
    maxIterations: 1,
  });
  const counts = new Float64Array(k);
  for (const c of result.clusters) counts[c] = (counts[c] as number) + 1;
  return { centres: Float64Array.from(result.centroids.flat()), counts };
}

export interface ClientCentres {
  readonly centres: Float64Array;
  readonly counts: Float64Array;
}

/**
 * The server's count-weighted update: new_k = (c_k·N_k + Σᵢ c_ik·n_ik) / (N_k + Σᵢ n_ik) and
 * N_k += Σᵢ n_ik. A centre whose total is zero stays put. Pure: returns fresh arrays.
 */
export function mergeCentres(
  global: Float64Array,
  globalCounts: Float64Array,
  clients: readonly ClientCentres[],
): ClientCentres {
  const k = globalCounts.length;
  const cols = global.length / k;
  const sum = new Float64Array(global.length);
  const counts = Float64Array.from(globalCounts);
  for (let c = 0; c < k; c++) {
    for (let j = 0; j < cols; j++)
      sum[c * cols + j] = (global[c * cols + j] as number) * (globalCounts[c] as number);
  }
  for (const cl of clients) {
    if (cl.centres.length !== global.length || cl.counts.length !== k) {
      throw new VflareError(
        'AGGREGATION_FAILED',
        `k-means: a client sent ${cl.counts.length} centres of ` +
          `${cl.centres.length / Math.max(cl.counts.length, 1)} ` +
          `columns, expected ${k} of ${cols}`,
      );
    }
    for (let c = 0; c < k; c++) {
      const n = cl.counts[c] as number;
      if (!(n >= 0) || !Number.isFinite(n)) {
        throw new VflareError('AGGREGATION_FAILED', 'k-means: counts must be finite and ≥ 0');
      }
      counts[c] = (counts[c] as number) + n;
      for (let j = 0; j < cols; j++)
        sum[c * cols + j] =
          (sum[c * cols + j] as number) + (cl.centres[c * cols + j] as number) * n;
    }
  }
  const centres = Float64Array.from(global);
  for (let c = 0; c < k; c++) {
    const n = counts[c] as number;
    if (n === 0) continue;
    for (let j = 0; j < cols; j++) centres[c * cols + j] = (sum[c * cols + j] as number) / n;
  }
  return { centres, counts };
}

/**
 * Clusters the pooled k-means++ seeds into `k` initial global centres: ml-kmeans to convergence
 * from `nInit` seeded k-means++ starts, keeping the lowest inertia (scikit-learn's n_init = 10
 * did the same without a fixed seed, which made NVFlare's "deterministic" claim false).
 */
export function clusterSeeds(
  seeds: FeatureArray,
  cols: number,
  k: number,
  seed: number,
  nInit = 10,
  maxIterations = 300,
) {
  const rows = seeds.length / cols;
  checkClusterCount(rows, k);
  const data = toNested(seeds, cols);
  let best: Float64Array | undefined;
  let bestInertia = Number.POSITIVE_INFINITY;
  for (let i = 0; i < nInit; i++) {
    const init = kmeansPlusPlus(
      { x: seeds, y: new Float64Array(rows), rows, cols },
      k,
      createRng(seed * 1000 + i),
    );
    const res = mlKmeans(data, k, { initialization: toNested(init, cols), maxIterations });
    const centres = Float64Array.from(res.centroids.flat());
    const e = inertia(seeds, cols, centres);
    if (e < bestInertia) {
      bestInertia = e;
      best = centres;
    }
  }
  return best as Float64Array;
}
