/**
 * Plain-SGD local training of a layers model, the FedAvg client step (McMahan et al., AISTATS
 * 2017): `epochs` passes over the local images in contiguous batches, mean softmax
 * cross-entropy, no momentum. Returns the number of optimisation steps taken, which FedAvg
 * uses as the update's weight (`numStepsCurrentRound`).
 */
import * as tf from '@tensorflow/tfjs';

export interface LocalData {
  /** Images, N × H × W × C in [0, 1]. */
  readonly images: Float32Array;
  /** Class index per image. */
  readonly labels: Int32Array;
  readonly count: number;
  readonly shape: readonly [number, number, number];
}

export interface SgdConfig {
  readonly learningRate: number;
  readonly batchSize: number;
  readonly epochs: number;
}

export function batches(count: number, batchSize: number): number {
  return Math.ceil(count / batchSize);
}

export function trainLocal(
  model: tf.LayersModel,
  data: LocalData,
  classes: number,
  cfg: SgdConfig,
): number {
  const opt = tf.train.sgd(cfg.learningRate);
  const [h, w, c] = data.shape;
  let steps = 0;
  for (let e = 0; e < cfg.epochs; e++) {
    for (let start = 0; start < data.count; start += cfg.batchSize) {
      const size = Math.min(cfg.batchSize, data.count - start);
      tf.tidy(() => {
        const xb = tf.tensor4d(
          data.images.subarray(start * h * w * c, (start + size) * h * w * c),
          [size, h, w, c],
        );
        const yb = tf.oneHot(
          tf.tensor1d(data.labels.subarray(start, start + size), 'int32'),
          classes,
        );
        opt.minimize(() => {
          const logits = model.apply(xb, { training: true }) as tf.Tensor2D;
          return tf.losses.softmaxCrossEntropy(yb, logits) as tf.Scalar;
        });
      });
      steps++;
    }
  }
  opt.dispose();
  return steps;
}

/** Accuracy of the model on labelled images, evaluated in chunks. */
export function accuracy(model: tf.LayersModel, data: LocalData, chunk = 500): number {
  const [h, w, c] = data.shape;
  let correct = 0;
  for (let start = 0; start < data.count; start += chunk) {
    const size = Math.min(chunk, data.count - start);
    const pred = tf.tidy(() => {
      const xb = tf.tensor4d(data.images.subarray(start * h * w * c, (start + size) * h * w * c), [
        size,
        h,
        w,
        c,
      ]);
      return (model.predict(xb) as tf.Tensor2D).argMax(1);
    });
    const p = pred.dataSync();
    pred.dispose();
    for (let i = 0; i < size; i++) if (p[i] === data.labels[start + i]) correct++;
  }
  return data.count === 0 ? 0 : correct / data.count;
}
