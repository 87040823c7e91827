import { beforeAll, describe, expect, it } from 'vitest';
import { Network } from '../../src/splitnn/network.js';
import { FeatureParty, LabelParty } from '../../src/splitnn/split.js';
import { initBackend } from '../../src/tf/index.js';

const rows = { rowShape: [3], data: new Float32Array(30).map((_, i) => i / 30) };
const bottom = { inputShape: [3], layers: [{ type: 'dense' as const, units: 2 }] };

describe('split parties check what arrives', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('refuses a batch position outside the aligned rows', () => {
    const f = new FeatureParty('bank', rows, { network: bottom, seed: 1 });
    expect(() => f.forward(Int32Array.from([0, 10]), { training: true })).toThrow(
      /batch position 1 is outside the 10 aligned rows/,
    );
    f.dispose();
  });

  it('refuses a gradient of the wrong size, or one with no forward pass pending', () => {
    const f = new FeatureParty('bank', rows, { network: bottom, seed: 1 });
    expect(() => f.applyGradient(new Float32Array(4))).toThrow(/no forward pass pending/);
    f.forward(Int32Array.from([1, 2]), { training: true });
    expect(() => f.applyGradient(new Float32Array(3))).toThrow(/3 values, expected 4 \(2 × 2\)/);
    f.dispose();
  });

  it('refuses activations of the wrong size at the label party', () => {
    const label = new LabelParty({
      name: 'lab',
      order: ['bank'],
      remoteWidths: { bank: 2 },
      top: { network: { inputShape: [2], layers: [{ type: 'dense', units: 2 }] }, seed: 2 },
      labels: { labels: new Int32Array(10), numClasses: 2 },
    });
    const positions = Int32Array.from([0, 1]);
    expect(() =>
      label.step(positions, new Map([['bank', new Float32Array(3)]]), { training: true }),
    ).toThrow(/activations from "bank" have 3 values, expected 4/);
    expect(() => label.step(positions, new Map(), { training: true })).toThrow(
      /from "bank" have no values/,
    );
    label.dispose();
  });

  it('explains network configurations that cannot work', () => {
    expect(
      () => new Network({ inputShape: [28, 28, 1], layers: [{ type: 'dense', units: 4 }] }, 'n', 0),
    ).toThrow(/layer 0 \(dense\): expected a flat input \(add a flatten layer first\)/);
    expect(
      () =>
        new Network(
          { inputShape: [4], layers: [{ type: 'conv2d', filters: 2, kernelSize: 3 }] },
          'n',
          0,
        ),
    ).toThrow(/expected an input of shape \[height, width, channels\]/);
    expect(() => new Network({ inputShape: [4], layers: [] }, 'n', 0)).toThrow(
      /network "n": layers/,
    );
    expect(
      () =>
        new LabelParty({
          name: 'lab',
          order: ['bank'],
          remoteWidths: { bank: 2 },
          top: { network: { inputShape: [3], layers: [{ type: 'dense', units: 2 }] }, seed: 2 },
          labels: { labels: new Int32Array(10), numClasses: 2 },
        }),
    ).toThrow(/top network input shape \[3\] must be \[2\]/);
  });
});
