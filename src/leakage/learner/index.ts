export { TfFedAvgExecutor, type TfFedAvgExecutorOptions, type TfLearnerInfo } from './executor.js';
export { accuracy, batches, type LocalData, type SgdConfig, trainLocal } from './train.js';
