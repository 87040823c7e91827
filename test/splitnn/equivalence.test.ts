import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { TensorMap } from '../../src/runtime/core/messages.js';
import { JointModel } from '../../src/splitnn/joint.js';
import { LocalSplit } from '../../src/splitnn/local.js';
import type { NetworkSpecInput } from '../../src/splitnn/network.js';
import { SeededRandom } from '../../src/splitnn/random.js';
import { FeatureParty, type FeatureRows, LabelParty } from '../../src/splitnn/split.js';
import { initBackend } from '../../src/tf/index.js';

const N = 96;
const CLASSES = 3;
const OPT = { learningRate: 0.05, momentum: 0.9 };

interface PartyDef {
  readonly name: string;
  readonly rows: FeatureRows;
  readonly net: NetworkSpecInput;
}

function tabular(name: string, width: number, seed: number): PartyDef {
  const rng = new SeededRandom(seed);
  const data = Float32Array.from({ length: N * width }, () => rng.nextNormal());
  return {
    name,
    rows: { rowShape: [width], data },
    net: {
      inputShape: [width],
      layers: [
        { type: 'dense', units: 8, activation: 'relu' },
        { type: 'dense', units: 3, activation: 'tanh' },
      ],
    },
  };
}

function images(name: string, seed: number): PartyDef {
  const rng = new SeededRandom(seed);
  const data = Float32Array.from({ length: N * 8 * 8 }, () => rng.next());
  return {
    name,
    rows: { rowShape: [8, 8, 1], data },
    net: {
      inputShape: [8, 8, 1],
      layers: [
        { type: 'conv2d', filters: 4, kernelSize: 3 },
        { type: 'maxPool2d', poolSize: 2 },
        { type: 'conv2d', filters: 3, kernelSize: 3, padding: 'valid', strides: 1 },
        { type: 'flatten' },
        { type: 'dropout', rate: 0.25 },
        { type: 'dense', units: 5, activation: 'sigmoid' },
      ],
    },
  };
}

function labels(seed: number): Int32Array {
  const rng = new SeededRandom(seed);
  return Int32Array.from({ length: N }, () => rng.nextInt(CLASSES));
}

function cutWidth(def: PartyDef): number {
  const last = def.net.layers[def.net.layers.length - 1] as { units: number };
  return last.units;
}

function maxDiff(a: TensorMap, b: TensorMap): number {
  let m = 0;
  for (const [k, t] of Object.entries(a)) {
    const u = b[k];
    expect(u, k).toBeDefined();
    for (let i = 0; i < t.data.length; i++) {
      m = Math.max(m, Math.abs((t.data[i] as number) - ((u as typeof t).data[i] as number)));
    }
  }
  return m;
}

/** Builds the split federation and its joint twin; `labelOwn` gives the label party columns. */
function build(defs: PartyDef[], labelName: string, labelOwn: PartyDef | undefined) {
  const y = { labels: labels(99), numClasses: CLASSES };
  const order = [...defs.map((d) => d.name), ...(labelOwn ? [labelName] : [])];
  const all = labelOwn ? [...defs, { ...labelOwn, name: labelName }] : defs;
  const cut = all.reduce((s, d) => s + cutWidth(d), 0);
  const top = {
    network: {
      inputShape: [cut],
      layers: [
        { type: 'dense' as const, units: 6, activation: 'relu' as const },
        { type: 'dense' as const, units: CLASSES },
      ],
    },
    seed: 5,
    optimizer: OPT,
  };
  const features = defs.map(
    (d, i) => new FeatureParty(d.name, d.rows, { network: d.net, seed: 10 + i, optimizer: OPT }),
  );
  const label = new LabelParty({
    name: labelName,
    order,
    remoteWidths: Object.fromEntries(defs.map((d) => [d.name, cutWidth(d)])),
    top,
    labels: y,
    ...(labelOwn
      ? {
          ownBottom: {
            rows: labelOwn.rows,
            half: { network: labelOwn.net, seed: 50, optimizer: OPT },
          },
        }
      : {}),
  });
  const joint = new JointModel({
    bottoms: [
      ...defs.map((d, i) => ({
        name: d.name,
        rows: d.rows,
        half: { network: d.net, seed: 10 + i },
      })),
      ...(labelOwn
        ? [{ name: labelName, rows: labelOwn.rows, half: { network: labelOwn.net, seed: 50 } }]
        : []),
    ],
    labelParty: labelName,
    top,
    labels: y,
    optimizer: OPT,
  });
  return { split: new LocalSplit(label, features), joint, features, label };
}

function compare(defs: PartyDef[], labelOwn: PartyDef | undefined, steps = 12): void {
  const { split, joint, features, label } = build(defs, 'labels', labelOwn);
  const initial = features.map((f) => f.network.getWeights());
  const rng = new SeededRandom(3);
  for (let s = 0; s < steps; s++) {
    const positions = Int32Array.from({ length: 16 }, () => rng.nextInt(N));
    const mode = { training: true, dropoutSeed: 1000 + s };
    const a = split.step(positions, mode);
    const b = joint.step(positions, mode);
    expect(Math.abs(a - b), `loss at step ${s}`).toBeLessThan(1e-5);
  }
  features.forEach((f, i) => {
    // The bottoms must actually have trained (a zero cut gradient would also "match").
    expect(maxDiff(f.network.getWeights(), initial[i] as TensorMap)).toBeGreaterThan(1e-3);
    expect(
      maxDiff(
        f.network.getWeights(),
        (joint.bottoms[i] as { network: { getWeights(): TensorMap } }).network.getWeights(),
      ),
    ).toBeLessThan(1e-5);
  });
  if (label.own) {
    const jb = joint.bottoms[joint.bottoms.length - 1] as { network: { getWeights(): TensorMap } };
    expect(maxDiff(label.own.network.getWeights(), jb.network.getWeights())).toBeLessThan(1e-5);
  }
  expect(maxDiff(label.top.getWeights(), joint.top.getWeights())).toBeLessThan(1e-5);
  const all = Int32Array.from({ length: N }, (_, i) => i);
  expect(Math.abs(split.evaluate(all).loss - joint.evaluate(all).loss)).toBeLessThan(1e-5);
  split.dispose();
  joint.dispose();
}

describe('split training equals joint training of the concatenated network', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('matches losses and weights to 1e-5 with two feature parties', () => {
    compare([tabular('bank', 5, 1), tabular('insurer', 4, 2)], undefined);
  });

  it('matches with three feature parties, one of them holding images (conv, pool, dropout)', () => {
    compare([tabular('a', 5, 1), images('b', 2), tabular('c', 3, 3)], undefined);
  });

  it('matches when the label party also holds features', () => {
    compare([tabular('a', 5, 1), tabular('b', 2, 2)], tabular('own', 4, 4));
  });

  it('matches on the cpu backend too', async () => {
    await initBackend('cpu');
    compare([images('x', 7), tabular('y', 3, 8)], undefined, 6);
    await initBackend('wasm');
  });

  it('leaves every weight and optimiser slot unchanged during validation', () => {
    const { split, features, label } = build(
      [tabular('a', 5, 1), tabular('b', 4, 2)],
      'l',
      tabular('o', 3, 3),
    );
    const rng = new SeededRandom(1);
    for (let s = 0; s < 3; s++) {
      split.step(
        Int32Array.from({ length: 8 }, () => rng.nextInt(N)),
        { training: true },
      );
    }
    const snapshot = () => [
      ...features.flatMap((f) => [f.network.getWeights(), f.optimizer.getSlots()]),
      label.top.getWeights(),
      label.topOptimizer.getSlots(),
      (label.own as FeatureParty).network.getWeights(),
      (label.own as FeatureParty).optimizer.getSlots(),
    ];
    const before = snapshot();
    split.evaluate(Int32Array.from({ length: N }, (_, i) => i));
    const after = snapshot();
    before.forEach((m, i) => {
      expect(maxDiff(m, after[i] as TensorMap)).toBe(0);
    });
    split.dispose();
  });

  it('keeps the tensor count flat from step 10 to step 1,000', () => {
    const tiny = (name: string, seed: number): PartyDef => ({
      ...tabular(name, 3, seed),
      net: {
        inputShape: [3],
        layers: [
          { type: 'dropout', rate: 0.1 },
          { type: 'dense', units: 2, activation: 'relu' },
        ],
      },
    });
    const { split, joint } = build([tiny('a', 1), tiny('b', 2)], 'l', tiny('own', 3));
    joint.dispose();
    const rng = new SeededRandom(9);
    let at10 = -1;
    for (let s = 1; s <= 1000; s++) {
      split.step(
        Int32Array.from({ length: 4 }, () => rng.nextInt(N)),
        { training: true, dropoutSeed: s },
      );
      if (s % 100 === 0) split.evaluate(Int32Array.from({ length: 4 }, (_, i) => i));
      if (s === 10) at10 = tf.memory().numTensors;
    }
    expect(tf.memory().numTensors).toBe(at10);
    split.dispose();
  });
});
