/**
 * Federated traditional ML against the same algorithm trained centrally on the pooled rows, in
 * one run: quality (score AUC, hard-label AUC, R², homogeneity) and wall time, at 5 and 20
 * clients (plus the examples' 3). Federated runs go through the real runtime (the in-process
 * simulator: ScatterAndGather, the aggregators, the codec); centralised runs call the same pure
 * functions on all training rows. Quality is always measured here, by the suite, on held-out rows
 * with the final global model.
 *
 * Data: the vendored Fashion-MNIST test set (pullover vs coat: 2,000 images) and the sklearn
 * sets; with `--data-dir` (or /work/shared/datasets/fashion-mnist) holding the full IDX files,
 * linear and k-means also run on the 60,000-image training set. When python3 has scikit-learn,
 * the same centralised models are trained there too (quality and time ratio); otherwise the
 * suite says it skipped them.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { NO_FILTERS, type TensorMap } from '../../src/runtime/core/index.js';
import { runSimulation } from '../../src/runtime/sim/index.js';
import {
  type Aggregator,
  CollectAndAssembleAggregator,
  ScatterAndGather,
  WeightedFedAvgAggregator,
} from '../../src/runtime/workflows/index.js';
import {
  assignClusters,
  type ClientRanges,
  clientRanges,
  clusterSeeds,
  createRng,
  type DataSpec,
  type Dataset,
  ForestAssembler,
  ForestLearner,
  forestProba,
  growForest,
  hardLabelAuc,
  homogeneity,
  KmeansAssembler,
  KmeansLearner,
  type Learner,
  LearnerExecutor,
  LinearLearner,
  leastSquares,
  libsvm,
  linearDecision,
  loadFullData,
  r2,
  rmse,
  rocAuc,
  type SplitMethod,
  SvmAssembler,
  SvmLearner,
  sgdEpoch,
  sliceRows,
  svmPredict,
  svmScores,
  tensorsToForest,
  tensorsToLinear,
  tensorsToSvm,
  trainSvm,
  zeroModel,
} from '../../src/traditional-ml/index.js';
import type { Figure, Suite, SuiteOptions } from '../types.js';

const ROOT = process.cwd();
const EX = join(ROOT, 'examples');
const FASHION_T10K = join(EX, 'data/fashion-mnist');
const SHARED_FASHION = '/work/shared/datasets/fashion-mnist';

interface Federated {
  readonly model: TensorMap;
  readonly ms: number;
}

/** Runs one federation in the simulator and returns the final global model and wall time. */
async function federate(
  clients: number,
  learner: (site: number) => Learner,
  aggregator: () => Aggregator,
  numRounds: number,
  seed = 0,
): Promise<Federated> {
  const sites = Array.from({ length: clients }, (_, i) => `site-${i + 1}`);
  const workspace = mkdtempSync(join(tmpdir(), 'vflare-bench-tml-'));
  let sag: ScatterAndGather | undefined;
  const t0 = performance.now();
  const summary = await runSimulation({
    job: 'bench',
    sites,
    workspace,
    dataRoot: ROOT,
    seed,
    server: () => {
      sag = new ScatterAndGather({
        aggregator: aggregator(),
        minClients: clients,
        numRounds,
        waitTimeAfterMinReceived: 0,
        allowEmptyGlobalWeights: true,
      });
      return { workflows: [sag], filters: NO_FILTERS };
    },
    clients: (env) => ({
      executors: [new LearnerExecutor(learner(sites.indexOf(env.site)))],
      filters: NO_FILTERS,
    }),
  });
  const ms = performance.now() - t0;
  if (summary.status !== 'completed' || sag === undefined) {
    throw new Error(`federation failed: ${summary.status} ${summary.error ?? ''}`);
  }
  return { model: sag.model, ms };
}

const f4 = (v: number): string => v.toFixed(4);
const ms0 = (v: number): string => `${v.toFixed(0)} ms`;

function time<T>(f: () => T): { value: T; ms: number } {
  const t0 = performance.now();
  const value = f();
  return { value, ms: performance.now() - t0 };
}

/** One binary problem: a data spec (file), its training rows and held-out rows. */
interface Problem {
  readonly name: string;
  readonly spec: DataSpec;
  /** Training rows [start, end) of the spec's file (after class subset and shuffle). */
  readonly train: readonly [number, number];
  readonly valid: Dataset;
}

function spec(partial: Partial<DataSpec> & { path: string }): DataSpec {
  return {
    format: 'csv',
    label: 'last',
    part: 't10k',
    shuffle: false,
    standardise: false,
    ...partial,
  };
}

function problemRanges(p: Problem, clients: number, method: SplitMethod): ClientRanges {
  const r = clientRanges(p.train[1] - p.train[0], clients, method);
  return {
    validation: r.validation,
    clients: r.clients.map((c) => ({ start: c.start + p.train[0], end: c.end + p.train[0] })),
  };
}

function trainRows(p: Problem): Dataset {
  return sliceRows(loadFullData(p.spec, ROOT), p.train[0], p.train[1]);
}

function fashionProblem(dataDir: string | undefined): {
  small: Problem;
  full: Problem | undefined;
} {
  const small: DataSpec = spec({ path: FASHION_T10K, format: 'idx', classes: [2, 4] });
  const smallAll = loadFullData(small, ROOT);
  const smallProblem: Problem = {
    name: 'fashion pullover/coat (t10k, 1,600 train / 400 valid)',
    spec: small,
    train: [400, smallAll.rows],
    valid: sliceRows(smallAll, 0, 400),
  };
  if (dataDir === undefined) return { small: smallProblem, full: undefined };
  const full: DataSpec = spec({ path: dataDir, format: 'idx', part: 'train', classes: [2, 4] });
  const fullAll = loadFullData(full, ROOT);
  return {
    small: smallProblem,
    full: {
      name: `fashion pullover/coat (60k train set: ${fullAll.rows} train / 2,000 t10k valid)`,
      spec: full,
      train: [0, fullAll.rows],
      valid: smallAll,
    },
  };
}

function ratio(
  name: string,
  unit: string,
  value: number,
  peer: string,
  peerValue: number,
  note?: string,
): Figure {
  return {
    name,
    value,
    unit,
    peer,
    peerValue,
    ratio: peerValue === 0 ? 0 : value / peerValue,
    ...(note === undefined ? {} : { note }),
  };
}

// ---------------------------------------------------------------- linear (logistic)

async function linearFigures(
  p: Problem,
  setups: readonly [number, SplitMethod][],
  rounds: number,
  log: (l: string) => void,
) {
  const figures: Figure[] = [];
  const params = {
    loss: 'log' as const,
    learningRate: 1e-3,
    alpha: 1e-4,
    fitIntercept: true,
    positiveClass: 1,
  };
  const all = trainRows(p);
  const central = time(() => {
    let m = zeroModel('log', all.cols);
    const rng = createRng(0);
    for (let e = 0; e < rounds; e++) m = sgdEpoch(m, all, params, rng);
    return m;
  });
  const score = (m: ReturnType<typeof zeroModel>) => {
    const s = linearDecision(m, p.valid.x, p.valid.cols);
    return {
      auc: rocAuc(p.valid.y, s),
      hard: hardLabelAuc(
        p.valid.y,
        s.map((v) => (v > 0 ? 1 : 0)),
      ),
    };
  };
  const c = score(central.value);
  for (const [clients, method] of setups) {
    const r = problemRanges(p, clients, method);
    const fed = await federate(
      clients,
      (i) => new LinearLearner(p.spec, { train: [r.clients[i]!.start, r.clients[i]!.end] }, params),
      () => new WeightedFedAvgAggregator({ expectedKind: 'weights' }),
      rounds,
    );
    const f = score(tensorsToLinear(fed.model, 'log'));
    const tag = `linear logistic, ${p.name}, ${clients} ${method}, ${rounds} rounds`;
    log(
      `${tag}: AUC ${f4(f.auc)} vs central ${f4(c.auc)}; ` + `${ms0(fed.ms)} vs ${ms0(central.ms)}`,
    );
    figures.push(
      ratio(
        `${tag}: score AUC`,
        'AUC',
        f.auc,
        `centralised SGD, ${rounds} epochs`,
        c.auc,
        'issue target (5 clients): within 0.015 of centralised',
      ),
      ratio(`${tag}: hard-label AUC`, 'AUC', f.hard, `centralised SGD, ${rounds} epochs`, c.hard),
      ratio(
        `${tag}: wall time`,
        'ms',
        fed.ms,
        'centralised SGD',
        central.ms,
        'federated includes the simulated runtime',
      ),
    );
  }
  return figures;
}

// ---------------------------------------------------------------- linear (regression)

async function diabetesFigures(
  setups: readonly number[],
  rounds: number,
  log: (l: string) => void,
) {
  const s = spec({
    path: join(EX, 'linear-diabetes/data/diabetes_data_raw.csv.gz'),
    format: 'diabetes',
    targetPath: join(EX, 'linear-diabetes/data/diabetes_target.csv.gz'),
    standardise: true,
  });
  const allRows = loadFullData(s, ROOT);
  const p: Problem = {
    name: 'diabetes',
    spec: s,
    train: [88, allRows.rows],
    valid: sliceRows(allRows, 0, 88),
  };
  const params = {
    loss: 'squared' as const,
    learningRate: 0.01,
    alpha: 1e-4,
    fitIntercept: true,
    positiveClass: 1,
  };
  const all = trainRows(p);
  const central = time(() => {
    let m = zeroModel('squared', all.cols);
    const rng = createRng(0);
    for (let e = 0; e < rounds; e++) m = sgdEpoch(m, all, params, rng);
    return m;
  });
  const exact = leastSquares(all);
  const quality = (m: ReturnType<typeof zeroModel>) => {
    const out = linearDecision(m, p.valid.x, p.valid.cols);
    return { r2: r2(p.valid.y, out), rmse: rmse(p.valid.y, out) };
  };
  const c = quality(central.value);
  const e = quality(exact);
  const figures: Figure[] = [
    ratio(
      'linear regression, diabetes: closed-form least squares R²',
      'R²',
      e.r2,
      `centralised SGD, ${rounds} epochs`,
      c.r2,
    ),
  ];
  for (const clients of setups) {
    const r = problemRanges(p, clients, 'uniform');
    const fed = await federate(
      clients,
      (i) => new LinearLearner(p.spec, { train: [r.clients[i]!.start, r.clients[i]!.end] }, params),
      () => new WeightedFedAvgAggregator({ expectedKind: 'weights' }),
      rounds,
    );
    const f = quality(tensorsToLinear(fed.model, 'squared'));
    const tag = `linear regression, diabetes, ${clients} uniform, ${rounds} rounds`;
    log(
      `${tag}: R² ${f4(f.r2)} (RMSE ${f.rmse.toFixed(2)}) vs central SGD ${f4(c.r2)} ` +
        `vs closed form ${f4(e.r2)}`,
    );
    figures.push(
      ratio(
        `${tag}: R²`,
        'R²',
        f.r2,
        `centralised SGD, ${rounds} epochs`,
        c.r2,
        `closed form: ${e.r2.toFixed(4)}`,
      ),
      ratio(
        `${tag}: RMSE`,
        'RMSE',
        f.rmse,
        `centralised SGD, ${rounds} epochs`,
        c.rmse,
        `closed form: ${e.rmse.toFixed(2)}`,
      ),
      ratio(`${tag}: wall time`, 'ms', fed.ms, 'centralised SGD', central.ms),
    );
  }
  return figures;
}

// ---------------------------------------------------------------- SVM

async function svmFigures(p: Problem, setups: readonly number[], log: (l: string) => void) {
  const figures: Figure[] = [];
  const params = { kernel: 'rbf' as const, C: 1, gamma: 'scale' as const };
  const central = time(() => trainSvm(libsvm, trainRows(p), params));
  const quality = (m: ReturnType<typeof trainSvm>) => ({
    auc: rocAuc(p.valid.y, svmScores(m, p.valid.x)),
    hard: hardLabelAuc(p.valid.y, svmPredict(m, p.valid.x)),
  });
  const c = quality(central.value);
  for (const clients of setups) {
    const r = problemRanges(p, clients, 'uniform');
    const fed = await federate(
      clients,
      (i) => new SvmLearner(p.spec, { train: [r.clients[i]!.start, r.clients[i]!.end] }, params),
      () => new CollectAndAssembleAggregator(new SvmAssembler(params)),
      2,
    );
    const f = quality(tensorsToSvm(fed.model));
    const tag = `svm rbf, ${p.name}, ${clients} uniform`;
    log(
      `${tag}: hard AUC ${f4(f.hard)} / AUC ${f4(f.auc)} vs central ${f4(c.hard)} / ` +
        `${f4(c.auc)}; ${ms0(fed.ms)} vs ${ms0(central.ms)}`,
    );
    figures.push(
      ratio(`${tag}: hard-label AUC`, 'AUC', f.hard, 'centralised SVC', c.hard),
      ratio(`${tag}: score AUC`, 'AUC', f.auc, 'centralised SVC', c.auc),
      ratio(`${tag}: wall time`, 'ms', fed.ms, 'centralised SVC', central.ms),
    );
  }
  return figures;
}

// ---------------------------------------------------------------- k-means

interface ClusterProblem {
  readonly name: string;
  readonly spec: DataSpec;
  readonly k: number;
  readonly valid: Dataset;
}

async function kmeansFigures(
  p: ClusterProblem,
  setups: readonly number[],
  seeds: readonly number[],
  log: (l: string) => void,
) {
  const figures: Figure[] = [];
  const all = loadFullData(p.spec, ROOT);
  const big = all.rows > 1000;
  // Centralised: k-means++ then Lloyd to convergence (10 starts on small data, 1 on large).
  const central = time(() => clusterSeeds(all.x, all.cols, p.k, 0, big ? 1 : 10, big ? 50 : 300));
  const hc = homogeneity(p.valid.y, assignClusters(p.valid.x, p.valid.cols, central.value));
  for (const clients of setups) {
    const r = clientRanges(all.rows, clients, 'uniform');
    const hs: number[] = [];
    let ms = 0;
    for (const seed of seeds) {
      const fed = await federate(
        clients,
        (i) =>
          new KmeansLearner(
            p.spec,
            { train: [r.clients[i]!.start, r.clients[i]!.end] },
            { nClusters: p.k },
          ),
        () => new CollectAndAssembleAggregator(new KmeansAssembler({ nClusters: p.k }, seed)),
        5,
        seed,
      );
      ms += fed.ms;
      const c = fed.model['centres']!;
      hs.push(
        homogeneity(p.valid.y, assignClusters(p.valid.x, p.valid.cols, Float64Array.from(c.data))),
      );
    }
    const mean = hs.reduce((a, b) => a + b, 0) / hs.length;
    const tag = `k-means, ${p.name}, ${clients} clients, 5 rounds (1 seeding + 4 steps)`;
    log(`${tag}: homogeneity ${hs.map(f4).join(' ')} (mean ${f4(mean)}) ` + `vs central ${f4(hc)}`);
    figures.push(
      ratio(
        `${tag}: homogeneity, mean of seeds ${seeds.join(',')}`,
        'homogeneity',
        mean,
        'centralised k-means',
        hc,
        `per seed: ${hs.map((h) => h.toFixed(4)).join(', ')}`,
      ),
      ratio(
        `${tag}: wall time per run`,
        'ms',
        ms / seeds.length,
        'centralised k-means',
        central.ms,
      ),
    );
  }
  return figures;
}

// ---------------------------------------------------------------- forest

async function forestFigures(
  p: Problem,
  setups: readonly [number, number][],
  log: (l: string) => void,
) {
  const figures: Figure[] = [];
  const opts = { nClasses: 2, subsample: 0.8, maxDepth: 8, minSamplesLeaf: 1, bins: 64 };
  const score = (f: ReturnType<typeof growForest>) => {
    const s = forestProba(f, p.valid.x).filter((_, i) => i % 2 === 1);
    return {
      auc: rocAuc(p.valid.y, s),
      hard: hardLabelAuc(
        p.valid.y,
        s.map((v) => (v > 0.5 ? 1 : 0)),
      ),
    };
  };
  for (const [clients, trees] of setups) {
    const total = clients * trees;
    const central = time(() => growForest(trainRows(p), { ...opts, nTrees: total }, 1));
    const c = score(central.value);
    const r = problemRanges(p, clients, 'uniform');
    const fed = await federate(
      clients,
      (i) =>
        new ForestLearner(
          p.spec,
          { train: [r.clients[i]!.start, r.clients[i]!.end] },
          { ...opts, nTrees: trees },
        ),
      () => new CollectAndAssembleAggregator(new ForestAssembler()),
      1,
    );
    const f = score(tensorsToForest(fed.model));
    const tag = `random forest, ${p.name}, ${clients} clients × ${trees} trees`;
    log(
      `${tag}: AUC ${f4(f.auc)} vs central ${total} trees ${f4(c.auc)}; ` +
        `${ms0(fed.ms)} vs ${ms0(central.ms)}`,
    );
    figures.push(
      ratio(
        `${tag}: score AUC`,
        'AUC',
        f.auc,
        `centralised forest, ${total} trees`,
        c.auc,
        'issue target (5 clients): within 0.015 of centralised',
      ),
      ratio(`${tag}: wall time`, 'ms', fed.ms, `centralised forest, ${total} trees`, central.ms),
    );
  }
  return figures;
}

// ---------------------------------------------------------------- scikit-learn peer

const PY_PEER = `
import json, sys, time
import numpy as np
from sklearn.svm import SVC
from sklearn.linear_model import SGDClassifier
from sklearn.cluster import KMeans
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score, homogeneity_score
d = sys.argv[1]
def load(name):
    a = np.loadtxt(f"{d}/{name}.csv", delimiter=",")
    return a[:, :-1], a[:, -1]
out = {}
xt, yt = load("cancer_train"); xv, yv = load("cancer_valid")
t = time.perf_counter(); m = SVC().fit(xt, yt); dt = time.perf_counter() - t
out["svm"] = {"auc": roc_auc_score(yv, m.decision_function(xv)), "ms": dt * 1000}
xt, yt = load("fashion_train"); xv, yv = load("fashion_valid")
t = time.perf_counter()
m = SGDClassifier(loss="log_loss", learning_rate="constant", eta0=1e-3, alpha=1e-4,
                  max_iter=20, tol=None, random_state=0).fit(xt, yt)
dt = time.perf_counter() - t
out["linear"] = {"auc": roc_auc_score(yv, m.decision_function(xv)), "ms": dt * 1000}
t = time.perf_counter()
m = RandomForestClassifier(n_estimators=100, max_depth=8, random_state=0).fit(xt, yt)
dt = time.perf_counter() - t
out["forest"] = {"auc": roc_auc_score(yv, m.predict_proba(xv)[:, 1]), "ms": dt * 1000}
xi, yi = load("iris")
t = time.perf_counter()
m = KMeans(n_clusters=3, n_init=10, random_state=0).fit(xi)
dt = time.perf_counter() - t
out["kmeans"] = {"homogeneity": homogeneity_score(yi, m.labels_), "ms": dt * 1000}
print(json.dumps(out))
`;

function writeCsv(path: string, ds: Dataset): void {
  const lines: string[] = [];
  for (let r = 0; r < ds.rows; r++) {
    lines.push([...ds.x.subarray(r * ds.cols, (r + 1) * ds.cols), ds.y[r]].join(','));
  }
  writeFileSync(path, `${lines.join('\n')}\n`);
}

function sklearnAvailable(): boolean {
  const r = spawnSync('python3', ['-c', 'import sklearn'], { stdio: 'ignore' });
  return r.status === 0;
}

async function sklearnFigures(
  cancer: Problem,
  fashion: Problem,
  log: (l: string) => void,
): Promise<Figure[]> {
  if (!sklearnAvailable()) {
    log('scikit-learn peer: skipped (python3 with scikit-learn not found)');
    return [
      {
        name: 'scikit-learn peer',
        value: 0,
        unit: 'skipped',
        note: 'python3 -c "import sklearn" failed on this machine: no Python peer figures',
      },
    ];
  }
  const dir = mkdtempSync(join(tmpdir(), 'vflare-bench-sk-'));
  writeCsv(join(dir, 'cancer_train.csv'), trainRows(cancer));
  writeCsv(join(dir, 'cancer_valid.csv'), cancer.valid);
  writeCsv(join(dir, 'fashion_train.csv'), trainRows(fashion));
  writeCsv(join(dir, 'fashion_valid.csv'), fashion.valid);
  writeCsv(
    join(dir, 'iris.csv'),
    loadFullData(spec({ path: join(EX, 'kmeans-iris/data/iris.csv') }), ROOT),
  );
  const script = join(dir, 'peer.py');
  writeFileSync(script, PY_PEER);
  const py = JSON.parse(execFileSync('python3', [script, dir], { encoding: 'utf8' })) as Record<
    string,
    Record<string, number>
  >;
  // Ours, centralised, on the same rows.
  const svm = time(() => trainSvm(libsvm, trainRows(cancer)));
  const fx = trainRows(fashion);
  const lin = time(() => {
    let m = zeroModel('log', fx.cols);
    const rng = createRng(0);
    for (let e = 0; e < 20; e++)
      m = sgdEpoch(m, fx, { loss: 'log', learningRate: 1e-3, alpha: 1e-4 }, rng);
    return m;
  });
  const forest = time(() =>
    growForest(fx, { nTrees: 100, nClasses: 2, maxDepth: 8, subsample: 1 }, 0),
  );
  const iris = loadFullData(spec({ path: join(EX, 'kmeans-iris/data/iris.csv') }), ROOT);
  const km = time(() => clusterSeeds(iris.x, 4, 3, 0));
  const ours = {
    svm: { auc: rocAuc(cancer.valid.y, svmScores(svm.value, cancer.valid.x)), ms: svm.ms },
    linear: {
      auc: rocAuc(fashion.valid.y, linearDecision(lin.value, fashion.valid.x, fashion.valid.cols)),
      ms: lin.ms,
    },
    forest: {
      auc: rocAuc(
        fashion.valid.y,
        forestProba(forest.value, fashion.valid.x).filter((_, i) => i % 2 === 1),
      ),
      ms: forest.ms,
    },
    kmeans: { homogeneity: homogeneity(iris.y, assignClusters(iris.x, 4, km.value)), ms: km.ms },
  } as Record<string, Record<string, number>>;
  const figures: Figure[] = [];
  for (const [algo, q] of Object.entries(ours)) {
    const peer = py[algo] ?? {};
    const metric = algo === 'kmeans' ? 'homogeneity' : 'auc';
    figures.push(
      ratio(
        `centralised ${algo} vs scikit-learn: ${metric}`,
        metric,
        q[metric] ?? 0,
        'scikit-learn',
        peer[metric] ?? 0,
      ),
      ratio(
        `centralised ${algo} vs scikit-learn: fit time`,
        'ms',
        q['ms'] ?? 0,
        'scikit-learn',
        peer['ms'] ?? 0,
      ),
    );
  }
  return figures;
}

// ---------------------------------------------------------------- suite

const suite: Suite = {
  name: 'traditional-ml',
  description:
    'federated SGD linear/logistic, two-step SVM, mini-batch k-means and random forest vs ' +
    'the same model trained centrally (quality and wall time, 5 and 20 clients)',
  async run(options: SuiteOptions): Promise<Figure[]> {
    const { quick, log } = options;
    const candidate = options.dataDir ?? (existsSync(SHARED_FASHION) ? SHARED_FASHION : undefined);
    const dataDir =
      candidate !== undefined && existsSync(join(candidate, 'train-images-idx3-ubyte.gz'))
        ? resolve(candidate)
        : undefined;
    const figures: Figure[] = [];
    if (dataDir === undefined) {
      log(
        'full Fashion-MNIST training set: absent (pass --data-dir with ' +
          'train-*-idx*-ubyte.gz); 60k runs skipped',
      );
      figures.push({
        name: 'full Fashion-MNIST 60k runs',
        value: 0,
        unit: 'skipped',
        note: 'no --data-dir with the train-* IDX files',
      });
    } else {
      log(`full Fashion-MNIST training set: ${dataDir}`);
    }
    const fashion = fashionProblem(dataDir);
    const cancerSpec = spec({ path: join(EX, 'svm-breast-cancer/data/breast_cancer.csv') });
    const cancerAll = loadFullData(cancerSpec, ROOT);
    const cancer: Problem = {
      name: 'breast cancer (example split)',
      spec: cancerSpec,
      train: [114, 569],
      valid: sliceRows(cancerAll, 0, 114),
    };
    // For 5 and 20 clients the blocks of the (label-sorted-ish) file would hold one class: shuffle.
    const cancerShuffled = spec({
      path: join(EX, 'svm-breast-cancer/data/breast_cancer.csv'),
      shuffle: 1,
    });
    const shuffledAll = loadFullData(cancerShuffled, ROOT);
    const cancerSh: Problem = {
      name: 'breast cancer (shuffled, seed 1)',
      spec: cancerShuffled,
      train: [114, 569],
      valid: sliceRows(shuffledAll, 0, 114),
    };

    const clientSetups: readonly [number, SplitMethod][] = quick
      ? [[5, 'uniform']]
      : [
          [5, 'uniform'],
          [5, 'exponential'],
          [20, 'uniform'],
          [20, 'square'],
        ];
    const counts = quick ? [5] : [5, 20];
    figures.push(...(await linearFigures(fashion.small, clientSetups, 20, log)));
    if (fashion.full !== undefined) {
      figures.push(
        ...(await linearFigures(
          fashion.full,
          quick
            ? [[5, 'uniform']]
            : [
                [5, 'uniform'],
                [20, 'uniform'],
              ],
          quick ? 5 : 20,
          log,
        )),
      );
    }
    figures.push(...(await diabetesFigures([3, ...counts], 20, log)));
    figures.push(...(await svmFigures(cancer, [3], log)));
    figures.push(...(await svmFigures(cancerSh, counts, log)));
    figures.push(...(await svmFigures(fashion.small, counts, log)));
    const irisSpec = spec({ path: join(EX, 'kmeans-iris/data/iris.csv'), shuffle: true });
    figures.push(
      ...(await kmeansFigures(
        {
          name: 'iris (shuffled by job seed)',
          spec: irisSpec,
          k: 3,
          valid: loadFullData(spec({ path: join(EX, 'kmeans-iris/data/iris.csv') }), ROOT),
        },
        [3],
        [0, 1, 2, 3, 4],
        log,
      )),
    );
    const t10kAll = spec({ path: FASHION_T10K, format: 'idx' });
    figures.push(
      ...(await kmeansFigures(
        {
          name: 'fashion t10k (10,000 × 784, k = 10)',
          spec: t10kAll,
          k: 10,
          valid: loadFullData(t10kAll, ROOT),
        },
        counts,
        [0],
        log,
      )),
    );
    if (dataDir !== undefined) {
      const train60k = spec({ path: dataDir, format: 'idx', part: 'train' });
      figures.push(
        ...(await kmeansFigures(
          {
            name: 'fashion 60k train (k = 10, homogeneity on t10k)',
            spec: train60k,
            k: 10,
            valid: loadFullData(t10kAll, ROOT),
          },
          counts,
          [0],
          log,
        )),
      );
    }
    figures.push(
      ...(await forestFigures(
        fashion.small,
        quick
          ? [[5, 20]]
          : [
              [5, 20],
              [20, 5],
            ],
        log,
      )),
    );
    figures.push(...(await forestFigures(cancer, [[5, 20]], log)));
    figures.push(...(await sklearnFigures(cancer, fashion.small, log)));
    return figures;
  },
};

export default suite;
