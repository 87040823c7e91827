/**
 * Federated descriptive statistics (count, mean, sample std, min, max, histograms): the pure
 * math, the site executor and the server workflow. The first federation, `examples/hello-stats`.
 */

export {
  components as statsComponents,
  federatedStatistics,
  statsExecutor,
} from './components.js';
export * from './data.js';
export * from './executor.js';
export * from './math.js';
export * from './protocol.js';
export * from './workflow.js';
