/**
 * Split learning on vertically partitioned data: feature parties hold the bottoms of a network
 * for their columns, the label party holds the top, the loss and the labels; activations and
 * cut-layer gradients travel over peer messaging after PSI aligned the records.
 */
export { type BackendName, type BackendPreference, initBackend } from '../tf/index.js';
export { digestIds, rowIndexFor, sortIdsUtf8, splitPositions, toHex } from './alignment.js';
export { components } from './components.js';
export {
  type ControllerArgs,
  type ControllerArgsInput,
  checkDigests,
  controllerArgsSchema,
  SplitNNController,
} from './controller.js';
export { type DataSpec, dataSchema, loadPartyData, type PartyData } from './data.js';
export {
  type ExecutorArgs,
  type ExecutorArgsInput,
  executorArgsSchema,
  loadHalf,
  readIntersection,
  SplitNNExecutor,
  TASK_ALIGN,
  TASK_PREDICT,
  TASK_TRAIN,
} from './executor.js';
export { fromFloat16, roundFloat16, toFloat16 } from './float16.js';
export { JointModel, type JointOptions } from './joint.js';
export { LocalSplit } from './local.js';
export type * from './messages.js';
export { accuracy, rocAuc } from './metrics.js';
export {
  type LayerSpec,
  type LayerSpecInput,
  layerSchema,
  Network,
  type NetworkSpec,
  type NetworkSpecInput,
  networkSchema,
} from './network.js';
export { MomentumSgd, type SgdOptions, sgdSchema } from './optimizer.js';
export type { TrainingPlan } from './plan.js';
export { SeededRandom } from './random.js';
export {
  type EvalResult,
  FeatureParty,
  type FeatureRows,
  type HalfOptions,
  LabelParty,
  type LabelRows,
  type StepResult,
} from './split.js';
