/**
 * The split-learning executor every party runs. Two tasks, as in the reference (one set-up task,
 * one long training task), after PSI left the intersection in the job state:
 *
 * - `splitnn.align`: sort the intersection by UTF-8 bytes, look this party's rows up by id,
 *   build its half (seeded), register its peer handlers, answer the ids' SHA-256 digest and
 *   its cut width. The controller compares digests before any training.
 * - `splitnn.train`: the label party drives every step over peer messaging; a feature party
 *   serves forward and gradient requests until the label party says it is done (or the task is
 *   aborted, or the label party goes silent for longer than the peer timeout).
 *
 * Each party saves only its own half, under `<workspace>/splitnn/`.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import type { JobState } from '../runtime/core/context.js';
import { safeMessage, VflareError } from '../runtime/core/errors.js';
import type { Executor, ExecutorContext, SiteJobContext } from '../runtime/core/executor.js';
import type { Payload, TaskData, Tensor, TensorMap } from '../runtime/core/messages.js';
import type { PeerReply, PeerRequest } from '../runtime/core/peer.js';
import { initBackend } from '../tf/index.js';
import { digestIds, rowIndexFor, sortIdsUtf8, splitPositions } from './alignment.js';
import { dataSchema, loadPartyData, type PartyData, reorderRows, type Scaling } from './data.js';
import {
  checkStep,
  expectKind,
  type SplitActivationsPayload,
  type SplitAlignmentPayload,
  type SplitPlanPayload,
  TOPIC_DONE,
  TOPIC_FORWARD,
  TOPIC_GRADIENT,
} from './messages.js';
import { accuracy, column, rocAuc } from './metrics.js';
import { Network, type NetworkSpec, networkSchema } from './network.js';
import { sgdSchema } from './optimizer.js';
import { halfSeed, type TrainingPlan } from './plan.js';
import { SeededRandom, streamOf } from './random.js';
import { FeatureParty, type FeatureRows, LabelParty, type LabelRows } from './split.js';
import { decodeCut, encodeCut } from './wire.js';

export const TASK_ALIGN = 'splitnn.align';
export const TASK_TRAIN = 'splitnn.train';
export const TASK_PREDICT = 'splitnn.predict';

export const executorArgsSchema = z.object({
  data: dataSchema,
  /** This party's bottom network (feature parties; the label party when it holds features). */
  bottom: networkSchema.optional(),
  /** The top network (label party). Its input width is the sum of the cut widths. */
  top: networkSchema.optional(),
  optimizer: sgdSchema.default({
    learningRate: 0.01,
    momentum: 0.9,
    weightDecay: 0,
    nesterov: false,
  }),
  /** Job-state entry the PSI workflow left the intersection in. */
  intersectionKey: z.string().default('psi.intersection'),
  /**
   * A half this party saved in an earlier training run (`<workspace>/<site>/splitnn/*-half.json`),
   * relative to the data root: loaded instead of a fresh seeded initialisation (inference).
   */
  model: z.string().min(1).optional(),
  /** TensorFlow.js backend preference. */
  backend: z.enum(['auto', 'tensorflow', 'wasm', 'cpu']).default('auto'),
});
export type ExecutorArgs = z.infer<typeof executorArgsSchema>;
export type ExecutorArgsInput = z.input<typeof executorArgsSchema>;

/** Reads the intersection a PSI workflow left at this site. */
export function readIntersection(jobState: JobState, key: string, site: string): string[] {
  // The key is configurable (PSI workflows of other packages may use their own), so it is looked
  // up through the store's untyped view and checked here.
  const value = (jobState as unknown as { get(k: string): unknown }).get(key);
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw new VflareError(
      'NOT_FOUND',
      `site "${site}": no PSI intersection in the job state under "${key}"; run a PSI workflow ` +
        'first in the same job',
    );
  }
  return value as string[];
}

interface Session {
  readonly plan: TrainingPlan;
  readonly count: number;
  readonly isTrain: Uint8Array;
  readonly data: PartyData;
  readonly index: Int32Array;
  readonly sorted: readonly string[];
  feature?: FeatureParty;
  /** Forward step whose gradient this feature party waits for. */
  pendingStep?: number | undefined;
  served: number;
  lastActivity: number;
  failure?: VflareError;
  done?: (ok: boolean) => void;
  finished?: boolean;
}

export class SplitNNExecutor implements Executor {
  readonly tasks = [TASK_ALIGN, TASK_TRAIN, TASK_PREDICT];
  readonly args: ExecutorArgs;
  #session: Session | undefined;
  #label: LabelParty | undefined;

  constructor(args: ExecutorArgsInput) {
    this.args = executorArgsSchema.parse(args);
  }

  async execute(task: TaskData, ctx: ExecutorContext): Promise<Payload | null> {
    switch (ctx.taskName) {
      case TASK_ALIGN:
        return this.#align(expectKind(task.payload, 'splitnn.plan', 'server'), ctx);
      case TASK_TRAIN:
        return this.#train(expectKind(task.payload, 'splitnn.plan', 'server'), ctx, true);
      case TASK_PREDICT:
        return this.#train(expectKind(task.payload, 'splitnn.plan', 'server'), ctx, false);
      default:
        throw new VflareError('INVALID_ARGUMENT', `split learning: unknown task "${ctx.taskName}"`);
    }
  }

  async finalize(ctx: SiteJobContext): Promise<void> {
    for (const topic of [TOPIC_FORWARD, TOPIC_GRADIENT, TOPIC_DONE]) {
      try {
        ctx.peers.unregister(topic);
      } catch {
        // Not registered at this party (label party, or align never ran).
      }
    }
    this.#session?.feature?.dispose();
    this.#label?.dispose();
    this.#session = undefined;
    this.#label = undefined;
  }

  async #align(p: SplitPlanPayload, ctx: ExecutorContext): Promise<SplitAlignmentPayload> {
    const { plan } = p;
    await initBackend({ preference: this.args.backend, logger: ctx.logger });
    const sorted = sortIdsUtf8(readIntersection(ctx.jobState, this.args.intersectionKey, ctx.site));
    const digest = digestIds(sorted);
    // Inference scales new records with the statistics saved at training, not their own.
    const scaling = this.args.model === undefined ? undefined : this.#savedScaling(ctx);
    const data = loadPartyData(this.args.data, ctx.dataRoot, ctx.site, scaling);
    const index = rowIndexFor(sorted, data.ids, ctx.site);
    const counts = { records: data.ids.length, nonNfcIds: countNonNfc(data.ids) };
    if (sorted.length === 0) {
      // Nothing to align: the server explains the empty intersection from every party's counts.
      this.#session?.feature?.dispose();
      this.#session = undefined;
      return { kind: 'splitnn.alignment', count: 0, digest, cutWidth: 0, ...counts, meta: {} };
    }
    const { train } = splitPositions(sorted.length, plan.validationFraction, ctx.seed);
    const isTrain = new Uint8Array(sorted.length);
    for (const t of train) isTrain[t] = 1;
    const session: Session = {
      plan,
      count: sorted.length,
      isTrain,
      data,
      index,
      sorted,
      served: 0,
      lastActivity: Date.now(),
    };
    this.#session?.feature?.dispose();
    this.#session = session;
    const inOrder = plan.order.includes(ctx.site);
    let cutWidth = 0;
    if (ctx.site === plan.labelParty) {
      if (plan.mode === 'train' && data.labels === undefined) {
        throw new VflareError(
          'INVALID_CONFIG',
          `label party "${ctx.site}": its data has no label column`,
        );
      }
      if (this.args.top === undefined) {
        throw new VflareError(
          'INVALID_CONFIG',
          `label party "${ctx.site}": no top network configured`,
        );
      }
      if (plan.mode === 'train') checkLabels(data, this.#numClasses(), ctx.site);
      if (inOrder) cutWidth = this.#ownCutWidth(ctx.site);
    } else if (inOrder) {
      session.feature = new FeatureParty(ctx.site, this.#rows(session, ctx.site), {
        network: this.#bottom(ctx.site),
        seed: halfSeed(ctx.seed, ctx.site),
        optimizer: this.args.optimizer,
      });
      cutWidth = session.feature.cutWidth;
      if (this.args.model !== undefined) {
        session.feature.network.setWeights(this.#loadHalf(ctx, 'bottom'));
      }
      this.#registerFeatureHandlers(session, ctx);
    } else {
      throw new VflareError(
        'INVALID_CONFIG',
        `site "${ctx.site}" is neither the label party nor a feature party`,
      );
    }
    return {
      kind: 'splitnn.alignment',
      count: sorted.length,
      digest,
      cutWidth,
      ...counts,
      meta: {},
    };
  }

  /** The number of classes: the width of the top network's output. */
  #numClasses(): number {
    const top = this.args.top as NonNullable<ExecutorArgs['top']>;
    const probe = new Network(top, 'probe', 0, true);
    const out = probe.outputShape;
    probe.dispose();
    return out.length === 1 ? (out[0] as number) : 0;
  }

  #savedScaling(ctx: ExecutorContext): Scaling | undefined {
    const path = resolve(ctx.dataRoot, this.args.model as string);
    return readHalfDoc(path, ctx.site)['scaling'] as Scaling | undefined;
  }

  #loadHalf(ctx: ExecutorContext, part: 'bottom' | 'top'): TensorMap {
    const path = resolve(ctx.dataRoot, this.args.model as string);
    const spec = part === 'top' ? this.args.top : this.#bottom(ctx.site);
    return loadHalf(path, ctx.site, part, spec);
  }

  #bottom(site: string) {
    if (this.args.bottom === undefined) {
      throw new VflareError('INVALID_CONFIG', `party "${site}": no bottom network configured`);
    }
    return this.args.bottom;
  }

  #rows(session: Session, site: string): FeatureRows {
    if (session.data.features === undefined) {
      throw new VflareError('INVALID_CONFIG', `party "${site}": its data has no feature columns`);
    }
    return reorderRows(session.data.features, session.index);
  }

  #ownCutWidth(site: string): number {
    const net = new Network(this.#bottom(site), 'probe', 0);
    const width = net.outputShape.reduce((a, b) => a * b, 1);
    net.dispose();
    return width;
  }

  #registerFeatureHandlers(session: Session, ctx: ExecutorContext): void {
    const peers = ctx.peers;
    for (const topic of [TOPIC_FORWARD, TOPIC_GRADIENT, TOPIC_DONE]) {
      try {
        peers.unregister(topic);
      } catch {
        // First registration.
      }
    }
    const guard =
      <T>(fn: (req: PeerRequest) => T) =>
      (req: PeerRequest): T => {
        session.lastActivity = Date.now();
        if (req.from !== session.plan.labelParty) {
          throw new VflareError(
            'PROTOCOL_ERROR',
            `split learning: "${req.from}" is not the label party`,
          );
        }
        try {
          return fn(req);
        } catch (err) {
          // The label party sees the reason in its reply; this party's task fails with it too.
          const e =
            err instanceof VflareError
              ? err
              : new VflareError('INTERNAL', safeMessage(err), { cause: err });
          session.failure ??= e;
          session.done?.(false);
          throw e;
        }
      };
    peers.register(
      TOPIC_FORWARD,
      guard((req): SplitActivationsPayload => {
        const f = expectKind(req.payload, 'splitnn.forward', req.from);
        const feature = session.feature as FeatureParty;
        checkPositions(f.positions, session, f.phase, ctx.site);
        const b = f.positions.length;
        let acts: Float32Array;
        if (f.phase === 'train') {
          acts = feature.forward(f.positions, { training: true, dropoutSeed: f.dropoutSeed });
          session.pendingStep = f.step;
        } else {
          acts = feature.evaluate(f.positions);
        }
        const encoding = session.plan.float16 ? 'float16' : 'float32';
        return {
          kind: 'splitnn.activations',
          step: f.step,
          activations: encodeCut(acts, b, feature.cutWidth, encoding),
          meta: {},
        };
      }),
    );
    peers.register(
      TOPIC_GRADIENT,
      guard((req): Payload => {
        const g = expectKind(req.payload, 'splitnn.gradient', req.from);
        const feature = session.feature as FeatureParty;
        if (session.pendingStep === undefined) {
          throw new VflareError(
            'PROTOCOL_ERROR',
            `split learning: a gradient for step ${g.step} arrived with no forward pending`,
          );
        }
        checkStep(g.step, session.pendingStep, 'gradient', req.from);
        const rows = g.gradient.rows;
        feature.applyGradient(
          decodeCut(g.gradient, rows, feature.cutWidth, 'cut-layer gradient', req.from),
        );
        session.pendingStep = undefined;
        session.served++;
        return { kind: 'metrics', metrics: { step: g.step }, meta: {} };
      }),
    );
    peers.register(
      TOPIC_DONE,
      guard((req): null => {
        const d = expectKind(req.payload, 'splitnn.done', req.from);
        session.finished = true;
        session.done?.(d.ok);
        return null;
      }),
    );
  }

  async #train(p: SplitPlanPayload, ctx: ExecutorContext, training: boolean): Promise<Payload> {
    const session = this.#session;
    if (session === undefined) {
      throw new VflareError(
        'PROTOCOL_ERROR',
        `site "${ctx.site}": ${ctx.taskName} before alignment`,
      );
    }
    if (ctx.site === p.plan.labelParty) {
      return training ? this.#drive(session, p, ctx) : this.#predict(session, p, ctx);
    }
    return this.#serve(session, ctx, training);
  }

  #labelParty(
    session: Session,
    p: SplitPlanPayload,
    ctx: ExecutorContext,
    labels: LabelRows,
  ): LabelParty {
    const { plan } = p;
    const remoteWidths: Record<string, number> = {};
    for (const q of plan.order.filter((o) => o !== ctx.site)) {
      const w = p.cutWidths[q];
      if (w === undefined || !Number.isInteger(w) || w <= 0) {
        throw new VflareError(
          'PROTOCOL_ERROR',
          `label party: no cut width for feature party "${q}"`,
        );
      }
      remoteWidths[q] = w;
    }
    this.#label?.dispose();
    const label = new LabelParty({
      name: ctx.site,
      order: plan.order,
      remoteWidths,
      top: {
        network: this.args.top as NonNullable<ExecutorArgs['top']>,
        seed: halfSeed(ctx.seed, 'top'),
        optimizer: this.args.optimizer,
      },
      labels,
      ...(plan.order.includes(ctx.site)
        ? {
            ownBottom: {
              rows: this.#rows(session, ctx.site),
              half: {
                network: this.#bottom(ctx.site),
                seed: halfSeed(ctx.seed, ctx.site),
                optimizer: this.args.optimizer,
              },
            },
          }
        : {}),
    });
    this.#label = label;
    if (this.args.model !== undefined) {
      label.top.setWeights(this.#loadHalf(ctx, 'top'));
      label.own?.network.setWeights(this.#loadHalf(ctx, 'bottom'));
    }
    return label;
  }

  /** Label party, inference: class probabilities for every aligned record, written as CSV. */
  async #predict(session: Session, p: SplitPlanPayload, ctx: ExecutorContext): Promise<Payload> {
    const numClasses = this.#numClasses();
    const label = this.#labelParty(session, p, ctx, {
      labels: new Int32Array(session.count),
      numClasses,
    });
    const driver = new Driver(label, p.plan, p.cutWidths, ctx);
    const all = Int32Array.from({ length: session.count }, (_, i) => i);
    const probs = await driver.probabilities(0, all, numClasses);
    ctx.peers.fireAndForget(label.remoteParties, TOPIC_DONE, {
      kind: 'splitnn.done',
      ok: true,
      meta: {},
    });
    const dir = join(ctx.workspace, 'splitnn');
    mkdirSync(dir, { recursive: true });
    const header = ['id', 'class', ...Array.from({ length: numClasses }, (_, c) => `p${c}`)];
    const lines = session.sorted.map((id, i) => {
      const row = Array.from(probs.subarray(i * numClasses, (i + 1) * numClasses));
      const best = row.indexOf(Math.max(...row));
      return [csvCell(id), best, ...row.map((v) => v.toPrecision(6))].join(',');
    });
    writeFileSync(join(dir, 'predictions.csv'), `${header.join(',')}\n${lines.join('\n')}\n`);
    const metrics = { predicted: session.count };
    ctx.reportMetrics(metrics);
    return { kind: 'metrics', metrics, meta: {} };
  }

  /** Feature party: serve until the label party is done, the task aborts, or it goes silent. */
  async #serve(session: Session, ctx: ExecutorContext, training: boolean): Promise<Payload> {
    const idleMs = Math.max(5_000, session.plan.peerTimeoutMs * 2);
    const ok = await new Promise<boolean>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (v: boolean) => {
        clearInterval(timer);
        ctx.signal.removeEventListener('abort', onAbort);
        resolve(v);
      };
      const onAbort = () => {
        clearInterval(timer);
        reject(new VflareError('ABORTED', `feature party "${ctx.site}": split learning aborted`));
      };
      if (session.finished === true) return resolve(session.failure === undefined);
      if (session.failure !== undefined) return resolve(false);
      session.done = finish;
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      timer = setInterval(
        () => {
          if (Date.now() - session.lastActivity > idleMs) {
            clearInterval(timer);
            ctx.signal.removeEventListener('abort', onAbort);
            reject(
              new VflareError(
                'TASK_TIMEOUT',
                `feature party "${ctx.site}": the label party sent nothing ` +
                  `for ${idleMs} ms; stopping`,
              ),
            );
          }
        },
        Math.min(1000, idleMs / 4),
      );
    });
    if (session.failure !== undefined) throw session.failure;
    if (!ok) {
      // The label party stopped early and reports why in its own result; this party just ends
      // (without saving a half-trained bottom) so that the job's error is the label party's.
      const metrics = { steps: session.served, intersection: session.count, stopped: 1 };
      ctx.reportMetrics(metrics);
      return { kind: 'metrics', metrics, meta: {} };
    }
    const feature = session.feature as FeatureParty;
    if (training) {
      saveHalf(ctx.workspace, ctx.site, 'bottom', {
        bottom: { spec: feature.network.spec, weights: feature.network.getWeights() },
        ...(session.data.scaling === undefined ? {} : { scaling: session.data.scaling }),
      });
    }
    const metrics = { steps: session.served, intersection: session.count };
    ctx.reportMetrics(metrics);
    return { kind: 'metrics', metrics, meta: {} };
  }

  /** Label party: run every step and the validations. */
  async #drive(session: Session, p: SplitPlanPayload, ctx: ExecutorContext): Promise<Payload> {
    const { plan } = p;
    const labels = session.data.labels as NonNullable<PartyData['labels']>;
    const alignedLabels = Int32Array.from(session.index, (r) => labels.values[r] as number);
    const remote = plan.order.filter((q) => q !== ctx.site);
    // The top's output width, not the largest label seen: a class may be absent from the data.
    const numClasses = this.#numClasses();
    const label = this.#labelParty(session, p, ctx, { labels: alignedLabels, numClasses });
    const driver = new Driver(label, plan, p.cutWidths, ctx);
    const { train, validation } = splitPositions(session.count, plan.validationFraction, ctx.seed);
    if (train.length < plan.batchSize) {
      ctx.logger.warn(
        { trainRows: train.length, batchSize: plan.batchSize },
        'split learning: fewer training rows than the batch size; batches repeat rows ' +
          '(drawn with replacement) and the model will overfit',
      );
    }
    if (plan.validationFraction > 0 && validation.length === 0) {
      ctx.logger.warn(
        { intersection: session.count },
        'split learning: the intersection is too small for a validation share; no accuracy ' +
          'will be reported',
      );
    }
    const rng = new SeededRandom(ctx.seed, streamOf('splitnn.batches'));
    const started = performance.now();
    let last: Record<string, number> = {};
    let ok = false;
    try {
      for (let step = 0; step < plan.steps; step++) {
        if (ctx.signal.aborted) throw new VflareError('ABORTED', 'split learning aborted');
        const positions = new Int32Array(plan.batchSize);
        for (let i = 0; i < positions.length; i++)
          positions[i] = train[rng.nextInt(train.length)] as number;
        const dropoutSeed = (Math.imul(ctx.seed, 0x27d4eb2d) ^ step) >>> 0;
        last['loss'] = await driver.trainStep(step, positions, dropoutSeed);
        const isLast = step === plan.steps - 1;
        if (
          validation.length > 0 &&
          (isLast || (plan.validateEvery > 0 && (step + 1) % plan.validateEvery === 0))
        ) {
          const v = await driver.validate(step, validation, alignedLabels, numClasses);
          ctx.logger.info({ step: step + 1, ...v }, 'split learning validation');
          last = { ...last, ...v };
        }
      }
      ok = true;
    } finally {
      ctx.peers.fireAndForget(remote, TOPIC_DONE, { kind: 'splitnn.done', ok, meta: {} });
    }
    const seconds = (performance.now() - started) / 1000;
    const half: Record<string, unknown> = {
      top: { spec: label.top.spec, weights: label.top.getWeights() },
    };
    if (label.own !== undefined)
      half['bottom'] = { spec: label.own.network.spec, weights: label.own.network.getWeights() };
    if (session.data.scaling !== undefined) half['scaling'] = session.data.scaling;
    saveHalf(ctx.workspace, ctx.site, 'top', half);
    const metrics: Record<string, number> = {
      intersection: session.count,
      train_rows: train.length,
      validation_rows: validation.length,
      steps: plan.steps,
      train_seconds: seconds,
      samples_per_s: (plan.steps * plan.batchSize) / seconds,
      ...last,
    };
    ctx.reportMetrics(metrics);
    return { kind: 'metrics', metrics, meta: {} };
  }
}

/** The label party's side of each exchange, with every check on arrival. */
class Driver {
  constructor(
    private readonly label: LabelParty,
    private readonly plan: TrainingPlan,
    private readonly widths: Readonly<Record<string, number>>,
    private readonly ctx: ExecutorContext,
  ) {}

  async #activations(
    step: number,
    phase: 'train' | 'eval',
    positions: Int32Array,
    dropoutSeed: number,
  ) {
    const remote = this.label.remoteParties;
    const acts = new Map<string, Float32Array>();
    if (remote.length === 0) return acts;
    const replies = await this.ctx.peers.request(
      remote,
      TOPIC_FORWARD,
      { kind: 'splitnn.forward', phase, step, positions, dropoutSeed, meta: {} },
      { timeoutMs: this.plan.peerTimeoutMs, signal: this.ctx.signal },
    );
    for (const q of remote) {
      const payload = this.#ok(replies.get(q), q, `activations of step ${step}`);
      const a = expectKind(payload, 'splitnn.activations', q);
      checkStep(a.step, step, 'activations', q);
      acts.set(
        q,
        decodeCut(a.activations, positions.length, this.widths[q] as number, 'activations', q),
      );
    }
    return acts;
  }

  #ok(reply: PeerReply | undefined, party: string, what: string): Payload | null {
    if (reply === undefined) {
      throw new VflareError(
        'PEER_FAILED',
        `split learning: no reply from "${party}" for the ${what}`,
        { context: { party } },
      );
    }
    if (reply.rc === 'timeout') {
      throw new VflareError(
        'TASK_TIMEOUT',
        `split learning: feature party "${party}" did not answer the ${what} within ` +
          `${this.plan.peerTimeoutMs} ms; it stopped or is overloaded`,
        { context: { party } },
      );
    }
    if (reply.rc !== 'ok') {
      throw new VflareError(
        'PEER_FAILED',
        `split learning: feature party "${party}" failed on the ${what} (${reply.rc}` +
          `${reply.reason === undefined ? '' : `: ${reply.reason}`})`,
        { context: { party } },
      );
    }
    return reply.payload;
  }

  async trainStep(step: number, positions: Int32Array, dropoutSeed: number): Promise<number> {
    const acts = await this.#activations(step, 'train', positions, dropoutSeed);
    const result = this.label.step(positions, acts, { training: true, dropoutSeed });
    const encoding = this.plan.float16 ? 'float16' : 'float32';
    const sends = [...result.gradients].map(async ([q, g]) => {
      const width = this.widths[q] as number;
      const replies = await this.ctx.peers.request(
        q,
        TOPIC_GRADIENT,
        {
          kind: 'splitnn.gradient',
          step,
          gradient: encodeCut(g, positions.length, width, encoding),
          meta: {},
        },
        { timeoutMs: this.plan.peerTimeoutMs, signal: this.ctx.signal },
      );
      this.#ok(replies.get(q), q, `gradient of step ${step}`);
    });
    await Promise.all(sends);
    return result.loss;
  }

  async validate(
    step: number,
    validation: Int32Array,
    labels: Int32Array,
    numClasses: number,
  ): Promise<Record<string, number>> {
    const chunk = Math.max(this.plan.batchSize, 256);
    const probs = new Float32Array(validation.length * numClasses);
    let lossSum = 0;
    for (let start = 0; start < validation.length; start += chunk) {
      const positions = validation.subarray(start, Math.min(validation.length, start + chunk));
      const acts = await this.#activations(step, 'eval', positions, 0);
      const r = this.label.evaluate(positions, acts);
      probs.set(r.probabilities, start * numClasses);
      lossSum += r.loss * positions.length;
    }
    return this.#scores(probs, validation, labels, numClasses, lossSum);
  }

  /** Class probabilities at `positions`, in chunks (no labels needed). */
  async probabilities(
    step: number,
    positions: Int32Array,
    numClasses: number,
  ): Promise<Float32Array> {
    const chunk = Math.max(this.plan.batchSize, 256);
    const probs = new Float32Array(positions.length * numClasses);
    for (let start = 0; start < positions.length; start += chunk) {
      const part = positions.subarray(start, Math.min(positions.length, start + chunk));
      const acts = await this.#activations(step, 'eval', part, 0);
      probs.set(
        this.label.predict(
          part.length,
          acts,
          this.label.own === undefined ? undefined : gatherOwn(this.label.own.rows, part),
        ),
        start * numClasses,
      );
    }
    return probs;
  }

  #scores(
    probs: Float32Array,
    validation: Int32Array,
    labels: Int32Array,
    numClasses: number,
    lossSum: number,
  ): Record<string, number> {
    const y = Int32Array.from(validation, (p) => labels[p] as number);
    const out: Record<string, number> = {
      accuracy: accuracy(probs, y, numClasses),
      validation_loss: lossSum / validation.length,
    };
    if (numClasses === 2) {
      const auc = rocAuc(column(probs, 2, 1), y);
      if (!Number.isNaN(auc)) out['auc'] = auc;
    }
    return out;
  }
}

/** Counts ids that Unicode NFC normalisation would change. */
export function countNonNfc(ids: readonly string[]): number {
  let n = 0;
  for (const id of ids) if (id !== id.normalize('NFC')) n++;
  return n;
}

/**
 * Refuses labels the top network cannot predict (a class index ≥ its output width), naming the
 * count and first line, never the values.
 */
export function checkLabels(data: PartyData, numClasses: number, site: string): void {
  if (data.labels === undefined) return;
  let bad = 0;
  let first = -1;
  const values = data.labels.values;
  for (let i = 0; i < values.length; i++) {
    if ((values[i] as number) >= numClasses) {
      bad++;
      if (first < 0) first = i;
    }
  }
  if (bad > 0) {
    throw new VflareError(
      'INVALID_DATA',
      `label party "${site}": ${bad} record(s) have a class outside 0–${numClasses - 1} (the ` +
        `top network outputs ${numClasses} classes; first at data row ${first + 1}); fix the ` +
        "label column or widen the top network's last layer",
    );
  }
}

function checkPositions(
  positions: unknown,
  session: Session,
  phase: 'train' | 'eval',
  site: string,
): void {
  if (!(positions instanceof Int32Array) || positions.length === 0 || positions.length > 1 << 16) {
    throw new VflareError('PROTOCOL_ERROR', `feature party "${site}": malformed batch positions`);
  }
  for (let i = 0; i < positions.length; i++) {
    const p = positions[i] as number;
    if (p < 0 || p >= session.count) {
      throw new VflareError(
        'PROTOCOL_ERROR',
        `feature party "${site}": batch position ${i} is not one of the ` +
          `${session.count} aligned rows`,
      );
    }
    if (phase === 'train' && session.isTrain[p] !== 1) {
      throw new VflareError(
        'PROTOCOL_ERROR',
        `feature party "${site}": a training batch asks for a validation row (batch position ${i})`,
      );
    }
  }
}

/** Writes this party's own half (JSON: specs and float32 weights, base64). */
function saveHalf(
  workspace: string,
  site: string,
  role: string,
  half: Record<string, unknown>,
): string {
  const dir = join(workspace, 'splitnn');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${role}-half.json`);
  const json = JSON.stringify({ format: 'vflare.splitnn.half/1', site, role, ...half }, (_k, v) =>
    v instanceof Float32Array
      ? { float32: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') }
      : v,
  );
  writeFileSync(path, json);
  return path;
}

/** The rows at `positions`, as a new row set in that order (the label party's own columns). */
function gatherOwn(rows: FeatureRows, positions: Int32Array): FeatureRows {
  return reorderRows(rows, positions);
}

function csvCell(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** Reads and checks a half file this site saved. */
function readHalfDoc(path: string, site: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new VflareError(
      'NOT_FOUND',
      `party "${site}": cannot read its saved half ${path}; give --model the workspace of a ` +
        'completed training run of this job',
      { cause: err },
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new VflareError(
      'INVALID_DATA',
      `party "${site}": its saved half ${path} is not valid JSON (damaged or truncated); ` +
        'train again, or restore the file from a backup',
      { cause: err },
    );
  }
  const doc = parsed as { format?: unknown; site?: unknown } & Record<string, unknown>;
  if (doc.format !== 'vflare.splitnn.half/1') {
    throw new VflareError(
      'INVALID_DATA',
      `party "${site}": ${path} is not a vflare split-learning half`,
    );
  }
  if (doc.site !== site) {
    throw new VflareError(
      'INVALID_DATA',
      `party "${site}": ${path} is the half of "${String(doc.site)}"; ` +
        'each party loads only its own',
    );
  }
  return doc;
}

/** A network spec in one line: input shape and layers (for error messages). */
function describeSpec(spec: NetworkSpec): string {
  const layers = spec.layers.map((l) => {
    switch (l.type) {
      case 'dense':
        return `dense ${l.units}`;
      case 'conv2d':
        return `conv2d ${l.filters}×${l.kernelSize}`;
      case 'maxPool2d':
        return `maxPool ${l.poolSize}`;
      default:
        return l.type;
    }
  });
  return `[${spec.inputShape.join('×')}] → ${layers.join(' → ')}`;
}

/**
 * Reads one part (`bottom` or `top`) of a half this site saved. `expected`: the network this job
 * configures; a half saved with another one (another job's model folder) is refused.
 */
export function loadHalf(
  path: string,
  site: string,
  part: 'bottom' | 'top',
  expected?: NetworkSpec,
): TensorMap {
  const doc = readHalfDoc(path, site);
  const entry = doc[part] as
    | { spec?: unknown; weights?: Record<string, { shape: number[]; data: { float32: string } }> }
    | undefined;
  if (entry?.weights === undefined) {
    throw new VflareError(
      'INVALID_DATA',
      `party "${site}": ${path} holds no ${part} network; give --model the workspace of a ` +
        'training run of this job',
    );
  }
  if (expected !== undefined) {
    const saved = networkSchema.safeParse(entry.spec);
    const want = networkSchema.parse(expected);
    if (!saved.success || JSON.stringify(saved.data) !== JSON.stringify(want)) {
      throw new VflareError(
        'INVALID_DATA',
        `party "${site}": the ${part} network saved in ${path} ` +
          `(${saved.success ? describeSpec(saved.data) : 'unreadable'}) is not the one this job ` +
          `configures (${describeSpec(want)}); it comes from another job: give --model the ` +
          'workspace of a training run of this job',
      );
    }
  }
  const out: Record<string, Tensor> = {};
  for (const [name, w] of Object.entries(entry.weights)) {
    const bytes = Buffer.from(w.data.float32, 'base64');
    const copy = new Uint8Array(bytes.length);
    copy.set(bytes);
    out[name] = { shape: w.shape, data: new Float32Array(copy.buffer) };
  }
  return out;
}
