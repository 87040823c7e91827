/**
 * Split learning: time per step of split training (every party in one process, the protocol's
 * forward / step / gradient-slice exchange as function calls) against joint training of the
 * same concatenated network, same seeds, same batches. Also samples/s and the accuracy both
 * reach after the same number of steps. Networks: the flagship's tiny MLP on breast cancer,
 * the Fashion-MNIST MLP 784-256-128-10 (cut after 128) and a small CNN (cut after the
 * convolutions) on wasm with vflare's Conv2DBackpropFilter kernel.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as tf from '@tensorflow/tfjs';
import { reorderRows } from '../../src/splitnn/data.js';
import {
  accuracy,
  FeatureParty,
  type FeatureRows,
  JointModel,
  LabelParty,
  LocalSplit,
  loadPartyData,
  type NetworkSpecInput,
  rocAuc,
  rowIndexFor,
  SeededRandom,
  sortIdsUtf8,
  splitPositions,
} from '../../src/splitnn/index.js';
import { initBackend } from '../../src/tf/index.js';
import { loadIdxImageSet } from '../../src/traditional-ml/data/idx.js';
import type { Figure, Suite, SuiteOptions } from '../types.js';

interface Problem {
  readonly name: string;
  readonly parties: readonly {
    readonly name: string;
    readonly rows: FeatureRows;
    readonly net: NetworkSpecInput;
  }[];
  readonly top: NetworkSpecInput;
  readonly labels: Int32Array;
  readonly numClasses: number;
  readonly batch: number;
  readonly steps: number;
  readonly lr: number;
}

function cutOf(net: NetworkSpecInput): number {
  const last = net.layers[net.layers.length - 1] as { units?: number };
  return last.units as number;
}

function breastCancer(quick: boolean): Problem {
  const root = join(process.cwd(), 'examples/vertical-breast-cancer/data');
  const csv = (p: string, label?: string) =>
    loadPartyData(
      {
        format: 'csv',
        path: p,
        idColumn: 'id',
        standardize: true,
        ...(label ? { labelColumn: label, featureColumns: [] } : {}),
      },
      root,
      p,
    );
  const a = csv('site-1.csv');
  const b = csv('site-2.csv');
  const c = csv('site-3.csv', 'diagnosis');
  const inB = new Set(b.ids);
  const inC = new Set(c.ids);
  const sorted = sortIdsUtf8(a.ids.filter((i) => inB.has(i) && inC.has(i)));
  const bottom = (w: number): NetworkSpecInput => ({
    inputShape: [w],
    layers: [
      { type: 'dense', units: 16, activation: 'relu' },
      { type: 'dense', units: 8, activation: 'relu' },
    ],
  });
  const li = rowIndexFor(sorted, c.ids, 'site-3');
  return {
    name: 'flagship (breast cancer, 2 feature parties)',
    parties: [
      {
        name: 'site-1',
        rows: reorderRows(a.features as FeatureRows, rowIndexFor(sorted, a.ids, 'site-1')),
        net: bottom(15),
      },
      {
        name: 'site-2',
        rows: reorderRows(b.features as FeatureRows, rowIndexFor(sorted, b.ids, 'site-2')),
        net: bottom(15),
      },
    ],
    top: { inputShape: [16], layers: [{ type: 'dense', units: 2 }] },
    labels: Int32Array.from(li, (r) => c.labels?.values[r] as number),
    numClasses: 2,
    batch: 32,
    steps: quick ? 100 : 300,
    lr: 0.05,
  };
}

function fashion(dataDir: string, quick: boolean, kind: 'mlp' | 'cnn'): Problem {
  const set = loadIdxImageSet(dataDir, 't10k');
  const n = quick ? 2000 : set.count;
  const data = new Float32Array(n * 784);
  for (let i = 0; i < data.length; i++) data[i] = (set.images[i] as number) / 255;
  const mlp: NetworkSpecInput = {
    inputShape: [28, 28, 1],
    layers: [
      { type: 'flatten' },
      { type: 'dense', units: 256, activation: 'relu' },
      { type: 'dense', units: 128, activation: 'relu' },
    ],
  };
  const cnn: NetworkSpecInput = {
    inputShape: [28, 28, 1],
    layers: [
      { type: 'conv2d', filters: 8, kernelSize: 3 },
      { type: 'maxPool2d', poolSize: 2 },
      { type: 'conv2d', filters: 16, kernelSize: 3 },
      { type: 'maxPool2d', poolSize: 2 },
      { type: 'flatten' },
      { type: 'dense', units: 64, activation: 'relu' },
    ],
  };
  return {
    name:
      kind === 'mlp'
        ? 'Fashion-MNIST MLP 784-256-128 | 10'
        : 'Fashion-MNIST CNN conv8-conv16-64 | 10',
    parties: [
      { name: 'images', rows: { rowShape: [28, 28, 1], data }, net: kind === 'mlp' ? mlp : cnn },
    ],
    top: { inputShape: [kind === 'mlp' ? 128 : 64], layers: [{ type: 'dense', units: 10 }] },
    labels: Int32Array.from(set.labels.subarray(0, n)),
    numClasses: 10,
    batch: 64,
    steps: quick ? 60 : kind === 'mlp' ? 400 : 150,
    lr: 0.01,
  };
}

interface RunResult {
  readonly msPerStep: number;
  readonly accuracy: number;
  readonly auc?: number;
}

function evaluate(
  p: Problem,
  probs: Float32Array,
  validation: Int32Array,
): { accuracy: number; auc?: number } {
  const y = Int32Array.from(validation, (i) => p.labels[i] as number);
  const acc = accuracy(probs, y, p.numClasses);
  if (p.numClasses !== 2) return { accuracy: acc };
  const s = Float32Array.from({ length: y.length }, (_, i) => probs[i * 2 + 1] as number);
  return { accuracy: acc, auc: rocAuc(s, y) };
}

interface Trainer {
  step(pos: Int32Array): void;
  evaluate(pos: Int32Array): Float32Array;
  dispose(): void;
  elapsed: number;
}

function trainer(p: Problem, mode: 'split' | 'joint', float16 = false): Trainer {
  const opt = { learningRate: p.lr, momentum: 0.9 };
  const top = { network: p.top, seed: 99, optimizer: opt };
  const labels = { labels: p.labels, numClasses: p.numClasses };
  if (mode === 'split') {
    const features = p.parties.map(
      (q, i) => new FeatureParty(q.name, q.rows, { network: q.net, seed: i + 1, optimizer: opt }),
    );
    const label = new LabelParty({
      name: 'label',
      order: p.parties.map((q) => q.name),
      remoteWidths: Object.fromEntries(p.parties.map((q) => [q.name, cutOf(q.net)])),
      top,
      labels,
    });
    const split = new LocalSplit(label, features, float16);
    return {
      step: (pos) => void split.step(pos, { training: true }),
      evaluate: (pos) => split.evaluate(pos).probabilities,
      dispose: () => split.dispose(),
      elapsed: 0,
    };
  }
  const joint = new JointModel({
    bottoms: p.parties.map((q, i) => ({
      name: q.name,
      rows: q.rows,
      half: { network: q.net, seed: i + 1 },
    })),
    labelParty: 'label',
    top,
    labels,
    optimizer: opt,
  });
  return {
    step: (pos) => void joint.step(pos, { training: true }),
    evaluate: (pos) => joint.evaluate(pos).probabilities,
    dispose: () => joint.dispose(),
    elapsed: 0,
  };
}

/**
 * Trains the given trainers on the same batches, interleaved in chunks of 10 steps so that a
 * machine whose load changes during the run slows every trainer alike.
 */
function runAll(p: Problem, trainers: Trainer[]): RunResult[] {
  const { train, validation } = splitPositions(p.labels.length, 0.2, 1);
  const rng = new SeededRandom(5);
  const batches = Array.from({ length: p.steps }, () =>
    Int32Array.from({ length: p.batch }, () => train[rng.nextInt(train.length)] as number),
  );
  const warm = 10; // kernel set-up, JIT
  for (const t of trainers) for (let i = 0; i < warm; i++) t.step(batches[i] as Int32Array);
  for (let start = warm; start < p.steps; start += 10) {
    for (const t of trainers) {
      const t0 = performance.now();
      for (let i = start; i < Math.min(p.steps, start + 10); i++) t.step(batches[i] as Int32Array);
      t.elapsed += performance.now() - t0;
    }
  }
  return trainers.map((t) => {
    const probs = new Float32Array(validation.length * p.numClasses);
    for (let s = 0; s < validation.length; s += 512) {
      const chunk = validation.subarray(s, Math.min(validation.length, s + 512));
      probs.set(t.evaluate(chunk), s * p.numClasses);
    }
    t.dispose();
    return { msPerStep: t.elapsed / (p.steps - warm), ...evaluate(p, probs, validation) };
  });
}

function figures(
  p: Problem,
  backend: string,
  log: (l: string) => void,
  withF16: boolean,
): Figure[] {
  const trainers = [trainer(p, 'joint'), trainer(p, 'split')];
  if (withF16) trainers.push(trainer(p, 'split', true));
  const [joint, split, f16] = runAll(p, trainers) as [RunResult, RunResult, RunResult | undefined];
  log(
    `${p.name} [${backend}]: joint ${joint.msPerStep.toFixed(2)} ms/step acc ${joint.accuracy.toFixed(4)}; ` +
      `split ${split.msPerStep.toFixed(2)} ms/step acc ${split.accuracy.toFixed(4)}`,
  );
  const out: Figure[] = [
    {
      name: `${p.name}: time per step, split vs joint [${backend}]`,
      value: split.msPerStep,
      unit: 'ms',
      peer: 'joint training, same network and batches',
      peerValue: joint.msPerStep,
      ratio: split.msPerStep / joint.msPerStep,
      note: `ratio = split / joint; overhead ${(split.msPerStep - joint.msPerStep).toFixed(3)} ms per step; batch ${p.batch}`,
    },
    {
      name: `${p.name}: split throughput [${backend}]`,
      value: (p.batch * 1000) / split.msPerStep,
      unit: 'samples/s',
      peer: 'joint',
      peerValue: (p.batch * 1000) / joint.msPerStep,
      ratio: joint.msPerStep / split.msPerStep,
      note: 'ratio = split samples/s / joint samples/s',
    },
    {
      name: `${p.name}: validation accuracy after ${p.steps} steps`,
      value: split.accuracy,
      unit: 'accuracy',
      peer: 'joint',
      peerValue: joint.accuracy,
      ratio: split.accuracy - joint.accuracy,
      note: 'ratio field = split − joint (target: within 0.01)',
    },
  ];
  if (split.auc !== undefined && joint.auc !== undefined) {
    out.push({
      name: `${p.name}: validation AUC after ${p.steps} steps`,
      value: split.auc,
      unit: 'auc',
      peer: 'joint',
      peerValue: joint.auc,
      ratio: split.auc - joint.auc,
      note: 'ratio field = split − joint',
    });
  }
  if (f16 !== undefined) {
    out.push({
      name: `${p.name}: accuracy with float16 on the wire`,
      value: f16.accuracy,
      unit: 'accuracy',
      peer: 'split, float32 wire',
      peerValue: split.accuracy,
      ratio: f16.accuracy - split.accuracy,
      note: 'ratio field = float16 − float32',
    });
  }
  return out;
}

/**
 * A full garbage collection, so resident memory reflects live data rather than V8's lazy
 * collection (without it RSS drifts up by tens of MiB before V8 bothers to collect).
 */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

/** Resident memory and tensor count over a long split run of the flagship network. */
function memoryFigures(p: Problem, steps: number, log: (l: string) => void): Figure[] {
  const opt = { learningRate: p.lr, momentum: 0.9 };
  const features = p.parties.map(
    (q, i) => new FeatureParty(q.name, q.rows, { network: q.net, seed: i + 1, optimizer: opt }),
  );
  const label = new LabelParty({
    name: 'label',
    order: p.parties.map((q) => q.name),
    remoteWidths: Object.fromEntries(p.parties.map((q) => [q.name, cutOf(q.net)])),
    top: { network: p.top, seed: 99, optimizer: opt },
    labels: { labels: p.labels, numClasses: p.numClasses },
  });
  const split = new LocalSplit(label, features);
  const rng = new SeededRandom(3);
  const n = p.labels.length;
  const batch = () => Int32Array.from({ length: p.batch }, () => rng.nextInt(n));
  for (let i = 0; i < 500; i++) split.step(batch(), { training: true });
  collectGarbage();
  const rss0 = process.memoryUsage().rss;
  const tensors0 = tf.memory().numTensors;
  for (let i = 0; i < steps; i++) split.step(batch(), { training: true });
  collectGarbage();
  const rss1 = process.memoryUsage().rss;
  const tensors1 = tf.memory().numTensors;
  split.dispose();
  log(
    `memory: rss ${(rss0 / 2 ** 20).toFixed(1)} → ${(rss1 / 2 ** 20).toFixed(1)} MiB over ${steps} steps; tensors ${tensors0} → ${tensors1}`,
  );
  return [
    {
      name: `${p.name}: resident memory after ${steps} more split steps`,
      value: rss1 / 2 ** 20,
      unit: 'MiB',
      peer: 'after the first 500 steps',
      peerValue: rss0 / 2 ** 20,
      ratio: rss1 / rss0,
      note: `tf.memory().numTensors ${tensors0} → ${tensors1}`,
    },
  ];
}

const suite: Suite = {
  name: 'splitnn',
  description: 'split vs joint training of the same network: ms/step, samples/s, accuracy',
  async run(options: SuiteOptions): Promise<Figure[]> {
    const out: Figure[] = [];
    const backend = await initBackend('wasm');
    const flagship = breastCancer(options.quick);
    out.push(...figures(flagship, backend, options.log, true));
    out.push(...memoryFigures(flagship, options.quick ? 1000 : 10_000, options.log));
    const dir =
      options.dataDir ??
      (existsSync('examples/data/fashion-mnist')
        ? 'examples/data/fashion-mnist'
        : '/work/shared/datasets/fashion-mnist');
    out.push(...figures(fashion(dir, options.quick, 'mlp'), backend, options.log, true));
    out.push(...figures(fashion(dir, options.quick, 'cnn'), backend, options.log, false));
    await initBackend('cpu');
    const cpuMlp = { ...fashion(dir, true, 'mlp'), steps: 30 };
    out.push(...figures(cpuMlp, 'cpu', options.log, false).slice(0, 2));
    await initBackend('wasm');
    return out;
  },
};

export default suite;
