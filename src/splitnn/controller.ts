/**
 * The split-learning workflow (server side). It runs after a PSI workflow of the same job:
 *
 * 1. `splitnn.align` to every party: each answers the SHA-256 digest of its UTF-8-sorted
 *    intersection and its cut width; differing digests stop the job before any training.
 * 2. `splitnn.train` to every party: the label party drives the steps over peer messaging, the
 *    feature parties serve; the first party to fail aborts the others and ends the job with its
 *    reason.
 *
 * Unlike the reference, which accepts exactly two sites named site-1 and site-2, any number of
 * feature parties is allowed, and the label party may hold features too.
 */
import { z } from 'zod';
import type { ControllerApi, TaskHandle, Workflow } from '../runtime/core/controller.js';
import { VflareError } from '../runtime/core/errors.js';
import type { TaskResult } from '../runtime/core/messages.js';
import { toHex } from './alignment.js';
import { TASK_ALIGN, TASK_PREDICT, TASK_TRAIN } from './executor.js';
import { expectKind, type SplitAlignmentPayload } from './messages.js';
import type { TrainingPlan } from './plan.js';

export const controllerArgsSchema = z.object({
  /** `predict`: every party loads its saved half (executor arg `model`) and the label party
   * writes predictions for the aligned records. */
  mode: z.enum(['train', 'predict']).default('train'),
  labelParty: z.string().min(1),
  /** Feature parties in cut order; default: every other client, in deploy order. */
  featureParties: z.array(z.string().min(1)).optional(),
  /** Whether the label party contributes a bottom of its own (appended last in cut order). */
  labelHoldsFeatures: z.boolean().default(false),
  steps: z.number().int().positive().default(1000),
  batchSize: z.number().int().positive().max(65536).default(64),
  validationFraction: z.number().min(0).lt(1).default(0.2),
  validateEvery: z.number().int().min(0).default(0),
  float16: z.boolean().default(false),
  peerTimeoutMs: z.number().int().positive().default(60_000),
  /** Time limit of the alignment task; 0 = none. */
  alignTimeoutMs: z.number().int().min(0).default(600_000),
});
export type ControllerArgs = z.infer<typeof controllerArgsSchema>;
export type ControllerArgsInput = z.input<typeof controllerArgsSchema>;

export class SplitNNController implements Workflow {
  readonly name = 'SplitNNController';
  readonly args: ControllerArgs;

  constructor(args: ControllerArgsInput) {
    this.args = controllerArgsSchema.parse(args);
  }

  #plan(api: ControllerApi): TrainingPlan {
    const a = this.args;
    const features = a.featureParties ?? api.clients.filter((c) => c !== a.labelParty);
    for (const p of [a.labelParty, ...features]) {
      if (!api.clients.includes(p)) {
        throw new VflareError(
          'INVALID_CONFIG',
          `split learning: party "${p}" is not a client of this job ` +
            `(clients: ${api.clients.join(', ')})`,
        );
      }
    }
    if (features.includes(a.labelParty)) {
      throw new VflareError(
        'INVALID_CONFIG',
        'split learning: list the label party in labelHoldsFeatures, not among featureParties',
      );
    }
    const order = a.labelHoldsFeatures ? [...features, a.labelParty] : features;
    if (order.length === 0)
      throw new VflareError('INVALID_CONFIG', 'split learning: no feature party');
    return {
      mode: a.mode,
      labelParty: a.labelParty,
      order,
      steps: a.steps,
      batchSize: a.batchSize,
      validationFraction: a.validationFraction,
      validateEvery: a.validateEvery,
      float16: a.float16,
      peerTimeoutMs: a.peerTimeoutMs,
    };
  }

  async run(api: ControllerApi): Promise<void> {
    const plan = this.#plan(api);
    const parties = [...new Set([...plan.order, plan.labelParty])];
    const aligned = await api.broadcastAndWait(
      {
        name: TASK_ALIGN,
        data: { kind: 'splitnn.plan', plan, cutWidths: {}, meta: {} },
        timeoutMs: this.args.alignTimeoutMs,
      },
      { targets: parties, minResponses: 0 },
    );
    const views = new Map<string, SplitAlignmentPayload>();
    for (const site of parties) {
      const r = aligned.results.get(site);
      failIfBad(r, site, 'alignment', aligned.completion);
      views.set(site, expectKind((r as TaskResult).payload, 'splitnn.alignment', site));
    }
    checkDigests(views);
    for (const warning of alignmentWarnings(views, plan.mode)) api.logger.warn(warning);
    const count = (views.get(plan.labelParty) as SplitAlignmentPayload).count;
    api.logger.info({ intersection: count, parties: parties.length }, 'split learning: aligned');
    api.reportMetrics({ intersection: count });
    const cutWidths: Record<string, number> = {};
    for (const p of plan.order) cutWidths[p] = (views.get(p) as SplitAlignmentPayload).cutWidth;

    let failure: { site: string; result: TaskResult } | undefined;
    let handle: TaskHandle | undefined;
    handle = api.broadcast(
      {
        name: plan.mode === 'train' ? TASK_TRAIN : TASK_PREDICT,
        data: { kind: 'splitnn.plan', plan, cutWidths, meta: {} },
        onResult: (result) => {
          if (result.rc !== 'ok' && failure === undefined) {
            failure = { site: result.site, result };
            if (handle !== undefined) api.abortTask(handle);
          }
        },
      },
      { targets: parties, minResponses: 0 },
    );
    const outcome = await handle.done;
    if (failure !== undefined) {
      failIfBad(failure.result, failure.site, 'training', outcome.completion);
    }
    const labelResult = outcome.results.get(plan.labelParty);
    failIfBad(labelResult, plan.labelParty, 'training', outcome.completion);
    const metrics = expectKind(
      (labelResult as TaskResult).payload,
      'metrics',
      plan.labelParty,
    ).metrics;
    api.reportMetrics(metrics);
    api.reportRounds(plan.mode === 'train' ? plan.steps : 0);
  }
}

function failIfBad(
  r: TaskResult | undefined,
  site: string,
  phase: string,
  completion: string,
): void {
  if (r === undefined) {
    throw new VflareError(
      completion === 'timeout' ? 'TASK_TIMEOUT' : 'TASK_FAILED',
      `split learning ${phase}: no result from "${site}" (task ${completion})`,
      { context: { site } },
    );
  }
  if (r.rc !== 'ok') {
    throw new VflareError(
      'TASK_FAILED',
      `split learning ${phase} failed at "${site}" (${r.rc})` +
        `${r.reason === undefined ? '' : `: ${r.reason}`}`,
      { context: { site } },
    );
  }
}

/** Stops the job when the parties' sorted intersections differ. */
export function checkDigests(views: ReadonlyMap<string, SplitAlignmentPayload>): void {
  const hexes = new Map<string, string>();
  for (const [site, v] of views) hexes.set(site, toHex(v.digest));
  const distinct = new Set(hexes.values());
  if (distinct.size > 1) {
    const detail = [...views].map(
      ([s, v]) => `${s}: ${v.count} ids, digest ${(hexes.get(s) as string).slice(0, 12)}…`,
    );
    throw new VflareError(
      'PROTOCOL_ERROR',
      `split learning: the parties' intersections differ (${detail.join('; ')}); training would ` +
        'misalign rows. PSI fast modes (Bloom or GCS filters) can admit false positives: ' +
        'rerun PSI with a lower false-positive rate or in exact mode.',
    );
  }
  const first = views.values().next().value as SplitAlignmentPayload | undefined;
  if (first !== undefined && first.count === 0) {
    const detail = [...views].map(([s, v]) => `${s}: ${v.records ?? '?'} records`).join(', ');
    const hint = normalFormHint(views);
    throw new VflareError(
      'INVALID_DATA',
      'split learning: the intersection is empty: no record id is held by every party ' +
        `(${detail}); ` +
        'nothing to train on or predict. Check that every party names the same records with the ' +
        `same ids (same id column, same format)${hint === undefined ? '' : `; ${hint}`}.`,
    );
  }
}

/**
 * Explains mismatched Unicode normal forms from counts alone: PSI compares bytes, so an id
 * written in NFC at one party and NFD at another is two different ids.
 */
export function normalFormHint(
  views: ReadonlyMap<string, SplitAlignmentPayload>,
): string | undefined {
  const counts = [...views].map(([s, v]) => [s, v.nonNfcIds ?? 0] as const);
  const mixed = new Set(counts.map(([, n]) => n)).size > 1;
  if (!mixed) return undefined;
  const which = counts
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${s} has ${n}`)
    .join(', ');
  return (
    `ids differ in Unicode normal form (${which} id(s) not in NFC, other parties fewer); PSI ` +
    'compares bytes, so normalise every id column to NFC (String.prototype.normalize) first'
  );
}

/** Warnings (counts only) about records that take no part in the run. */
export function alignmentWarnings(
  views: ReadonlyMap<string, SplitAlignmentPayload>,
  mode: 'train' | 'predict',
): string[] {
  const out: string[] = [];
  const hint = normalFormHint(views);
  if (hint !== undefined) out.push(`split learning: ${hint}`);
  if (mode === 'predict') {
    for (const [site, v] of views) {
      const missing = (v.records ?? v.count) - v.count;
      if (missing > 0) {
        out.push(
          `split learning: ${missing} of the ${v.records} records at "${site}" are not held by ` +
            'every party and get no prediction; give every party the same record ids',
        );
      }
    }
  }
  return out;
}
