export {
  columnSums,
  recoverBatchStatistic,
  recoverDenseInputs,
  recoverLabels,
} from './analytic.js';
export {
  type InversionConfig,
  type InversionInput,
  type InversionResult,
  invertUpdate,
  labelsFromUpdate,
} from './inverter.js';
