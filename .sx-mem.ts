import * as tf from '@tensorflow/tfjs';
import { initBackend } from './src/tf/index.js';
import { FeatureParty, LabelParty, LocalSplit, SeededRandom } from './src/splitnn/index.js';
await initBackend((process.argv[2] ?? 'wasm') as 'wasm');
const rng = new SeededRandom(1);
const n = 400;
const rows = (w: number) => ({ rowShape: [w], data: Float32Array.from({ length: n * w }, () => rng.nextNormal()) });
const net = (w: number) => ({ inputShape: [w], layers: [{ type: 'dense' as const, units: 16, activation: 'relu' as const }, { type: 'dense' as const, units: 8, activation: 'relu' as const }] });
const f1 = new FeatureParty('a', rows(15), { network: net(15), seed: 1 });
const f2 = new FeatureParty('b', rows(15), { network: net(15), seed: 2 });
const lab = new LabelParty({ name: 'l', order: ['a', 'b'], remoteWidths: { a: 8, b: 8 }, top: { network: { inputShape: [16], layers: [{ type: 'dense', units: 2 }] }, seed: 3 }, labels: { labels: Int32Array.from({ length: n }, () => rng.nextInt(2)), numClasses: 2 } });
const split = new LocalSplit(lab, [f1, f2]);
const gc = (globalThis as { gc?: () => void }).gc!;
for (let k = 0; k <= 8; k++) {
  for (let i = 0; i < 2500; i++) split.step(Int32Array.from({ length: 32 }, () => rng.nextInt(n)), { training: true });
  gc();
  const m = process.memoryUsage();
  console.log((k + 1) * 2500, 'rss', (m.rss / 2 ** 20).toFixed(1), 'heap', (m.heapUsed / 2 ** 20).toFixed(1), 'ext', (m.external / 2 ** 20).toFixed(1), 'ab', (m.arrayBuffers / 2 ** 20).toFixed(1), 'tensors', tf.memory().numTensors);
}
