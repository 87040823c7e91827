/**
 * Typed task messages: what NVIDIA FLARE calls a Shareable carrying a DXO, as discriminated
 * unions. Tensors are typed arrays with a shape, never JSON numbers; the codec carries their raw
 * bytes.
 *
 * Payload kinds are an open union: other modules add their own kinds by augmenting
 * `PayloadKinds` (see `src/psi/` and `src/splitnn/`), and get exhaustive switches for free.
 */

/** Numeric typed arrays a tensor may hold. */
export type NumericArray = Float32Array | Float64Array | Int32Array | Uint8Array | Uint32Array;

/** A dense tensor: row-major data plus its shape. `data.length` equals the shape's product. */
export interface Tensor {
  readonly shape: readonly number[];
  readonly data: NumericArray;
}

/** Named tensors, e.g. a model's variables. */
export type TensorMap = Readonly<Record<string, Tensor>>;

/** Meta a payload carries besides its data (NVFlare's DXO meta, typed). */
export interface PayloadMeta {
  /** Local steps behind this update; FedAvg weighs contributions by it. */
  readonly numStepsCurrentRound?: number;
  /** Names the algorithm that produced the data; aggregators refuse to mix them. */
  readonly processedAlgorithm?: string;
  /** Filters this payload went through, in order, by name. */
  readonly filterHistory?: readonly string[];
  /** Metrics measured on the incoming global model before training. */
  readonly initialMetrics?: Readonly<Record<string, number>>;
}

export interface WeightsPayload {
  readonly kind: 'weights';
  readonly weights: TensorMap;
  readonly meta: PayloadMeta;
}

export interface WeightDiffPayload {
  readonly kind: 'weight-diff';
  readonly weights: TensorMap;
  readonly meta: PayloadMeta;
}

export interface MetricsPayload {
  readonly kind: 'metrics';
  readonly metrics: Readonly<Record<string, number>>;
  readonly meta: PayloadMeta;
}

/** Named sub-payloads (NVFlare's COLLECTION DXO). */
export interface CollectionPayload {
  readonly kind: 'collection';
  readonly items: Readonly<Record<string, Payload>>;
  readonly meta: PayloadMeta;
}

/** Named aggregate statistics (counts, sums, histograms) as tensors. */
export interface StatisticsPayload {
  readonly kind: 'statistics';
  readonly stats: TensorMap;
  readonly meta: PayloadMeta;
}

/**
 * The registry of payload kinds. Modules add kinds with declaration merging:
 * `declare module '../runtime/core/messages.js' { interface PayloadKinds { psi: PsiPayload } }`.
 */
export interface PayloadKinds {
  weights: WeightsPayload;
  'weight-diff': WeightDiffPayload;
  metrics: MetricsPayload;
  collection: CollectionPayload;
  statistics: StatisticsPayload;
}

export type PayloadKind = keyof PayloadKinds;
export type Payload = PayloadKinds[PayloadKind];

/** Return codes, a closed set (NVFlare's ReturnCode, kebab-cased). */
export const RETURN_CODES = [
  'ok',
  'execution-exception',
  'task-unknown',
  'task-data-filter-error',
  'task-result-filter-error',
  'execution-result-error',
  'task-aborted',
  'empty-result',
  'communication-error',
  'topic-unknown',
  'bad-task-data',
  'run-mismatch',
  'handler-exception',
  'message-too-big',
  'timeout',
  'error',
] as const;
export type ReturnCode = (typeof RETURN_CODES)[number];

/** Headers a task carries from the server to a client. */
export interface TaskHeaders {
  readonly jobId: string;
  readonly taskName: string;
  readonly taskId: string;
  /** Current round of a multi-round workflow, if any. */
  readonly round?: number;
  /** Total rounds of the workflow, if any. */
  readonly numRounds?: number;
}

/** A task as a client receives it. `payload` is null for tasks that need no data. */
export interface TaskData {
  readonly headers: TaskHeaders;
  readonly payload: Payload | null;
}

/** A client's answer to a task. On any code but `ok`, `payload` is null. */
export interface TaskResult {
  readonly headers: TaskHeaders;
  readonly site: string;
  readonly rc: ReturnCode;
  readonly payload: Payload | null;
  /** A safe, human-readable reason when `rc` is not `ok` (never private data). */
  readonly reason?: string;
}

export function emptyMeta(): PayloadMeta {
  return {};
}

export function tensor(data: NumericArray, shape: readonly number[] = [data.length]): Tensor {
  return { data, shape };
}

/** True when a payload of one of the kinds in `kinds` is given. */
export function isKind<K extends PayloadKind>(
  payload: Payload | null | undefined,
  ...kinds: K[]
): payload is PayloadKinds[K] {
  return payload != null && (kinds as string[]).includes(payload.kind);
}
