export {
  avgPoolReshape,
  type BatchStat,
  conv2dIm2col,
  type ForwardResult,
  forward,
  type LocalTrainingConfig,
  type Params,
  simulateUpdate,
  trainableNames,
} from './functional.js';
export {
  type Activation,
  buildLayersModel,
  type LayerSpec,
  type ModelSpec,
  modelWeightNames,
  shortWeightName,
  validateSpec,
  variableName,
} from './spec.js';
export { readWeights, subtractWeights, writeWeights } from './weights.js';
