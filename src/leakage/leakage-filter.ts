/**
 * The leakage filter (after NVFlare's RelativeDataLeakageValueFilter, re-designed): on the
 * client, before an update leaves, it attacks the update with `invertUpdate`, scores the
 * reconstructions against the site's real training images with RDLV, saves the score, and
 * withholds the update (empties its weights, zero steps) with a warning when RDLV exceeds
 * `threshold`. Configure it after the noise filters so it scores what actually leaves.
 *
 * It reads the learner's spec, hyper-parameters and data from the site context
 * (`leakage.learner`, published by `TfFedAvgExecutor`) and the global model from the filter
 * context. Output per scored round: `<site workspace>/leakage/rdlv_round<N>.json`, and with
 * `saveImages` a PNG of original | prior | best reconstruction per image (site-local files).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type Filter,
  type FilterContext,
  fail,
  type Payload,
  VflareError,
} from '../runtime/core/index.js';
import { type InversionConfig, type InversionResult, invertUpdate } from './inversion/index.js';
import { image, type RdlvResult, relativeDataLeakage } from './metrics/index.js';
import { writeGreyPng } from './png.js';

export interface LeakageFilterOptions {
  /** Score when `round % frequency === 0`; default 1. */
  readonly frequency?: number;
  /** First round scored; default 0. */
  readonly startRound?: number;
  /** Withhold the update when RDLV exceeds this; default 1.0 (NVFlare's default). */
  readonly threshold?: number;
  /** The attacker's prior image (H×W×C in [0, 1]). */
  readonly prior: Float32Array;
  readonly inversion?: InversionConfig;
  /** SSIM window; default 7 (scikit-image's). */
  readonly winSize?: number;
  /** RDLV denominator floor; default 0.01. */
  readonly priorFloor?: number;
  /** Skip scoring (with a warning) above this many local images; default 64. */
  readonly maxImages?: number;
  /** Save PNGs of originals, prior and reconstructions in the site workspace; default false. */
  readonly saveImages?: boolean;
}

/** What a scored round records (also the JSON file's content). */
export interface LeakageScore {
  readonly site: string;
  readonly round: number;
  readonly rdlv: number;
  readonly threshold: number;
  readonly withheld: boolean;
  readonly numImages: number;
  readonly method: InversionResult['method'];
  readonly iterations: number;
  readonly updateDistance: number;
  readonly seconds: number;
  /** Filters the update went through before this one. */
  readonly filterHistory: readonly string[];
  readonly recoveredLabels: readonly number[] | null;
  /**
   * The RDLV a reconstruction equal to the mean of the site's own images would score (with
   * several images): what recovering only the batch's average appearance, no single image,
   * already gets against this prior. An RDLV at or below it says the attack found no more than
   * that. Null for a single image (its mean is the image itself).
   */
  readonly batchMeanRdlv: number | null;
  /**
   * What the site's Gaussian mechanism has spent after this round, read from its ledger
   * (`leakage.gaussianLedger`); `epsilon` null when unbounded (noise multiplier 0). Null
   * without a Gaussian mechanism.
   */
  readonly privacy: {
    readonly epsilon: number | null;
    readonly delta: number;
    readonly rounds: number;
  } | null;
  readonly perImage: Pick<
    RdlvResult,
    'bestPerImage' | 'bestReconstruction' | 'priorSsim' | 'priorClamped' | 'pairs' | 'ssim'
  >;
}

declare module '../runtime/core/context.js' {
  interface SiteContextEntries {
    /** Every leakage score of this site so far, oldest first. */
    'leakage.scores': LeakageScore[];
  }
}

export class LeakageFilter implements Filter {
  readonly name = 'LeakageFilter';
  readonly #o: Required<Omit<LeakageFilterOptions, 'inversion'>> & { inversion: InversionConfig };

  constructor(options: LeakageFilterOptions) {
    const o = {
      frequency: options.frequency ?? 1,
      startRound: options.startRound ?? 0,
      threshold: options.threshold ?? 1,
      prior: options.prior,
      inversion: options.inversion ?? {},
      winSize: options.winSize ?? 7,
      priorFloor: options.priorFloor ?? 0.01,
      maxImages: options.maxImages ?? 64,
      saveImages: options.saveImages ?? false,
    };
    if (!Number.isInteger(o.frequency) || o.frequency < 1) {
      fail('LeakageFilter frequency', 'an integer ≥ 1', String(o.frequency));
    }
    if (!Number.isInteger(o.startRound) || o.startRound < 0) {
      fail('LeakageFilter startRound', 'an integer ≥ 0', String(o.startRound));
    }
    if (!Number.isFinite(o.threshold))
      fail('LeakageFilter threshold', 'a finite number', String(o.threshold));
    this.#o = o;
  }

  /** Whether `round` is scored. */
  scores(round: number): boolean {
    return round >= this.#o.startRound && round % this.#o.frequency === 0;
  }

  async process(payload: Payload, ctx: FilterContext): Promise<Payload> {
    if (payload.kind !== 'weight-diff') return payload;
    const round = ctx.round ?? 0;
    if (!this.scores(round)) return payload;
    const learner = ctx.siteContext.get('leakage.learner');
    if (learner === undefined) {
      throw new VflareError(
        'FILTER_FAILED',
        'LeakageFilter needs a learner that publishes "leakage.learner" to the site context ' +
          '(TfFedAvgExecutor does)',
      );
    }
    if (ctx.globalModel?.kind !== 'weights') {
      throw new VflareError(
        'FILTER_FAILED',
        'LeakageFilter needs the global model the task carried',
      );
    }
    const data = learner.trainingData();
    if (data.count > this.#o.maxImages) {
      ctx.logger.warn(
        { round, images: data.count, maxImages: this.#o.maxImages },
        'LeakageFilter: too many local images to attack; round not scored',
      );
      return payload;
    }
    const [h, w, c] = learner.spec.inputShape;
    const px = h * w * c;
    const started = performance.now();
    const result = await invertUpdate(
      {
        spec: learner.spec,
        global: ctx.globalModel.weights,
        update: payload.weights,
        training: learner.training,
        numImages: data.count,
        prior: this.#o.prior,
      },
      this.#o.inversion,
    );
    const originals = Array.from({ length: data.count }, (_, i) =>
      data.images.subarray(i * px, (i + 1) * px),
    );
    const asImage = (x: Float32Array) => image(x, h, w, c);
    const rd = relativeDataLeakage(
      originals.map(asImage),
      result.images.map(asImage),
      asImage(this.#o.prior),
      { dataRange: 1, winSize: this.#o.winSize, priorFloor: this.#o.priorFloor },
    );
    const batchMeanRdlv =
      data.count === 1
        ? null
        : relativeDataLeakage(
            originals.map(asImage),
            [asImage(meanOf(originals))],
            asImage(this.#o.prior),
            {
              dataRange: 1,
              winSize: this.#o.winSize,
              priorFloor: this.#o.priorFloor,
            },
          ).rdlv;
    const withheld = rd.rdlv > this.#o.threshold;
    const score: LeakageScore = {
      site: ctx.site,
      round,
      rdlv: rd.rdlv,
      threshold: this.#o.threshold,
      withheld,
      numImages: data.count,
      method: result.method,
      iterations: result.iterations,
      updateDistance: result.distance,
      seconds: (performance.now() - started) / 1000,
      filterHistory: payload.meta.filterHistory ?? [],
      recoveredLabels: result.labels,
      batchMeanRdlv,
      privacy: spentPrivacy(ctx),
      perImage: {
        bestPerImage: rd.bestPerImage,
        bestReconstruction: rd.bestReconstruction,
        priorSsim: rd.priorSsim,
        priorClamped: rd.priorClamped,
        pairs: rd.pairs,
        ssim: rd.ssim,
      },
    };
    const dir = join(ctx.workspace, 'leakage');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, `rdlv_round${round}.json`), `${JSON.stringify(score, null, 2)}\n`);
    if (this.#o.saveImages) {
      for (let i = 0; i < data.count; i++) {
        const best = result.images[rd.bestReconstruction[i]!]!;
        await writeGreyPng(
          join(dir, `round${round}_image${i}_original_prior_reconstruction.png`),
          [originals[i]!, this.#o.prior, best],
          h,
          w,
        );
      }
    }
    const scores = ctx.siteContext.get('leakage.scores') ?? [];
    scores.push(score);
    ctx.siteContext.set('leakage.scores', scores);
    if (!withheld) return payload;
    ctx.logger.warn(
      { round, rdlv: Number(rd.rdlv.toFixed(4)), threshold: this.#o.threshold },
      'LeakageFilter: relative data leakage above the threshold; update withheld',
    );
    return {
      kind: 'weight-diff',
      weights: {},
      meta: { ...payload.meta, numStepsCurrentRound: 0 },
    };
  }
}

/** The Gaussian ledger's spent (ε, δ) when the site has one (JSON has no Infinity: null). */
function spentPrivacy(ctx: FilterContext): LeakageScore['privacy'] {
  const ledger = ctx.siteContext.get('leakage.gaussianLedger');
  if (ledger === undefined) return null;
  const s = ledger.spent();
  return {
    epsilon: Number.isFinite(s.epsilon) ? s.epsilon : null,
    delta: s.delta,
    rounds: s.rounds,
  };
}

function meanOf(images: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(images[0]!.length);
  for (const im of images) for (let p = 0; p < out.length; p++) out[p]! += im[p]!;
  return out.map((v) => v / images.length);
}
