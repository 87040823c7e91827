/**
 * The N-site workflow's messages, declared into the runtime's open `PayloadKinds` union, and
 * the job-state entry the workflow leaves at every site. One task name (`psi`), one task kind
 * and one reply kind, each a discriminated union over the step, so the executor's dispatch is
 * an exhaustive switch. Protocol messages travel as OpenMined v2 protobuf bytes.
 */
import type { PayloadMeta } from '../runtime/core/index.js';
import type { ContainerKind } from './sizing.js';
import type { PsiMode } from './wire.js';

export const PSI_TASK = 'psi';

/** Session options the controller hands to both parties of every pairing. */
export interface PsiSessionOptions {
  readonly mode: PsiMode;
  readonly container: ContainerKind;
  readonly fpr: number;
}

export type PsiTaskStep =
  /** Load the items (once) and report their count. */
  | { readonly step: 'prepare' }
  /** Serve: fresh key, one setup per partner size (one size in the forward pass). */
  | {
      readonly step: 'setup';
      readonly pairing: string;
      readonly session: PsiSessionOptions;
      readonly partnerCounts: number[];
    }
  /** Ask: fresh key, encrypt the current items. */
  | { readonly step: 'request'; readonly pairing: string; readonly session: PsiSessionOptions }
  /** Serve: answer every request of the pairing, in order. */
  | { readonly step: 'response'; readonly pairing: string; readonly requests: Uint8Array[] }
  /** Ask: intersect; the current items become the matches. */
  | {
      readonly step: 'intersect';
      readonly pairing: string;
      readonly setup: Uint8Array;
      readonly response: Uint8Array;
    }
  /** Save the result (the current items, or none when `empty`). */
  | { readonly step: 'finish'; readonly empty: boolean };

export type PsiReplyStep =
  | { readonly step: 'count'; readonly count: number }
  | { readonly step: 'setup'; readonly setups: Uint8Array[] }
  | { readonly step: 'request'; readonly request: Uint8Array }
  | { readonly step: 'response'; readonly responses: Uint8Array[] };

export type PsiTaskPayload = {
  readonly kind: 'psi.task';
  readonly meta: PayloadMeta;
} & PsiTaskStep;
export type PsiReplyPayload = {
  readonly kind: 'psi.reply';
  readonly meta: PayloadMeta;
} & PsiReplyStep;

declare module '../runtime/core/messages.js' {
  interface PayloadKinds {
    'psi.task': PsiTaskPayload;
    'psi.reply': PsiReplyPayload;
  }
}

declare module '../runtime/core/context.js' {
  interface JobStateEntries {
    /** The global intersection, in this site's input order (split learning reads it). */
    'psi.intersection': string[];
  }
}

export function task(step: PsiTaskStep): PsiTaskPayload {
  return { kind: 'psi.task', meta: {}, ...step };
}

export function reply(step: PsiReplyStep): PsiReplyPayload {
  return { kind: 'psi.reply', meta: {}, ...step };
}
