/**
 * Split learning's payload kinds (declared into the runtime's open `PayloadKinds` union) and
 * their checks on arrival. Every peer message carries the step it belongs to, so a late or
 * replayed message is refused instead of being applied to the wrong batch.
 */
import { VflareError } from '../runtime/core/errors.js';
import type { Payload, PayloadMeta } from '../runtime/core/messages.js';
import type { TrainingPlan } from './plan.js';

/** Wire encoding of a cut-layer tensor. */
export type WireEncoding = 'float32' | 'float16';

/** A cut-layer matrix `[rows, cols]`: float32 values, or float16 bit patterns. */
export interface CutTensor {
  readonly rows: number;
  readonly cols: number;
  readonly encoding: WireEncoding;
  readonly data: Float32Array | Uint16Array;
}

/** Label party → feature party: compute activations at these aligned positions. */
export interface SplitForwardPayload {
  readonly kind: 'splitnn.forward';
  readonly phase: 'train' | 'eval';
  readonly step: number;
  readonly positions: Int32Array;
  readonly dropoutSeed: number;
  readonly meta: PayloadMeta;
}

/** Feature party → label party: cut-layer activations for a forward request. */
export interface SplitActivationsPayload {
  readonly kind: 'splitnn.activations';
  readonly step: number;
  readonly activations: CutTensor;
  readonly meta: PayloadMeta;
}

/** Label party → feature party: this party's slice of the cut-layer gradient. */
export interface SplitGradientPayload {
  readonly kind: 'splitnn.gradient';
  readonly step: number;
  readonly gradient: CutTensor;
  readonly meta: PayloadMeta;
}

/** A party's view of the aligned records: count and SHA-256 of the sorted ids. */
export interface SplitAlignmentPayload {
  readonly kind: 'splitnn.alignment';
  readonly count: number;
  readonly digest: Uint8Array;
  /** Cut-layer width of this party's bottom (0 for a label party without features). */
  readonly cutWidth: number;
  /** How many records this party's data holds (the intersection is a subset). */
  readonly records?: number;
  /**
   * How many of this party's ids are not in Unicode NFC form. PSI compares UTF-8 bytes, so the
   * same id in NFC at one party and NFD at another never matches; the count lets the server
   * explain a shrunken or empty intersection without seeing any id.
   */
  readonly nonNfcIds?: number;
  readonly meta: PayloadMeta;
}

/** Server → every party: the run plan all parties share. */
export interface SplitPlanPayload {
  readonly kind: 'splitnn.plan';
  readonly plan: TrainingPlan;
  /** Cut widths by party, filled in once every party reported its own (empty before). */
  readonly cutWidths: Readonly<Record<string, number>>;
  readonly meta: PayloadMeta;
}

/** Label party → feature parties: training is over (`ok`) or failed; stop serving. */
export interface SplitDonePayload {
  readonly kind: 'splitnn.done';
  readonly ok: boolean;
  readonly meta: PayloadMeta;
}

declare module '../runtime/core/messages.js' {
  interface PayloadKinds {
    'splitnn.forward': SplitForwardPayload;
    'splitnn.activations': SplitActivationsPayload;
    'splitnn.gradient': SplitGradientPayload;
    'splitnn.alignment': SplitAlignmentPayload;
    'splitnn.plan': SplitPlanPayload;
    'splitnn.done': SplitDonePayload;
  }
}

/** Peer topics. */
export const TOPIC_FORWARD = 'splitnn.forward';
export const TOPIC_GRADIENT = 'splitnn.gradient';
export const TOPIC_DONE = 'splitnn.done';

function protocolError(message: string, party: string): VflareError {
  return new VflareError('PROTOCOL_ERROR', message, { context: { party } });
}

/** Checks a payload's kind; `from` names the sender for the error. */
export function expectKind<K extends Payload['kind']>(
  payload: Payload | null,
  kind: K,
  from: string,
): Extract<Payload, { kind: K }> {
  if (payload === null || payload.kind !== kind) {
    throw protocolError(
      `split learning: expected a "${kind}" message from "${from}", got ` +
        `${payload === null ? 'nothing' : `"${payload.kind}"`}`,
      from,
    );
  }
  return payload as Extract<Payload, { kind: K }>;
}

/** Checks a cut tensor's shape against what this step expects, and decodes it to float32. */
export function checkCut(
  t: CutTensor,
  rows: number,
  cols: number,
  what: string,
  from: string,
): CutTensor {
  const okEncoding =
    (t.encoding === 'float32' && t.data instanceof Float32Array) ||
    (t.encoding === 'float16' && t.data instanceof Uint16Array);
  if (!okEncoding) {
    throw protocolError(`split learning: ${what} from "${from}" has a malformed encoding`, from);
  }
  if (t.rows !== rows || t.cols !== cols || t.data.length !== rows * cols) {
    throw protocolError(
      `split learning: ${what} from "${from}" has shape [${t.rows}, ${t.cols}] ` +
        `(${t.data.length} values), expected [${rows}, ${cols}]`,
      from,
    );
  }
  return t;
}

/** Checks the step number a reply carries. */
export function checkStep(got: number, expected: number, what: string, from: string): void {
  if (got !== expected) {
    throw protocolError(
      `split learning: ${what} from "${from}" is for step ${got}, expected step ${expected}`,
      from,
    );
  }
}
