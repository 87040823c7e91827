/**
 * Federated "traditional" machine learning (the four algorithms of NVFlare 2.3's sklearn and
 * random-forest examples, re-implemented): SGD linear/logistic models with FedAvg, the two-step
 * SVM, mini-batch k-means and bagged random forests; datasets as typed matrices, client splits,
 * metrics, and a JSON model format with a predict API. See docs/traditional-ml.md.
 */

export { components as traditionalMlComponents } from './components.js';
export * from './data/csv.js';
export * from './data/dataset.js';
export * from './data/idx.js';
export * from './data/spec.js';
export * from './data/splits.js';
export * from './forest/federated.js';
export * from './forest/forest.js';
export * from './kmeans/federated.js';
export * from './kmeans/kmeans.js';
export * from './learner/learner.js';
export * from './learner/metrics.js';
export * from './linear/federated.js';
export * from './linear/sgd.js';
export * from './metrics/index.js';
export * from './model/format.js';
export * from './model/io.js';
export * from './model/predict.js';
export * from './random/index.js';
export * from './svm/federated.js';
export { libsvm, loadLibsvm } from './svm/libsvm.js';
export * from './svm/svm.js';
export * from './svm/tensors.js';
