/**
 * Server-side workflows (ScatterAndGather, InitializeGlobalWeights, CrossSiteModelEval),
 * aggregators (weighted FedAvg, collect-and-assemble), model persistence and the model file
 * format. See docs/runtime-jobs.md.
 */
export * from './aggregator.js';
export * from './assemble.js';
export {
  components as workflowComponents,
  crossSiteModelEval,
  fileModelPersistor,
  initializeGlobalWeights,
  resolveAs,
  scatterAndGather,
  weightedFedAvg,
} from './components.js';
export * from './cross-site-eval.js';
export * from './initialize-global-weights.js';
export * from './model-file.js';
export * from './persistor.js';
export * from './scatter-and-gather.js';
export type { CrossSiteMatrix } from './state.js';
export * from './tensors.js';
