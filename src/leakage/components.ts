/**
 * The leakage module's component types, for job configurations: the TensorFlow.js FedAvg
 * learner, the leakage filter and the privacy filters. Data paths are relative to the site's
 * data root and may not leave it (`resolveDataPath`): a job cannot make a site read, and the
 * leakage filter then attack and save as images, files its operator did not put there. A
 * `seed` on a noise filter makes its noise reproducible: for experiments only, never for real
 * deployments (predictable noise protects nothing).
 */
import { z } from 'zod';
import { type ComponentDefinition, defineComponent } from '../runtime/core/index.js';
import { resolveDataPath } from '../runtime/jobs/paths.js';
import { idxSlice, meanImagePrior } from './data.js';
import { seededRandom } from './dp/random.js';
import {
  ExcludeVars,
  GaussianMechanism,
  PercentilePrivacy,
  RelativeNoise,
  SvtPrivacy,
} from './filters/index.js';
import { LeakageFilter } from './leakage-filter.js';
import { TfFedAvgExecutor } from './learner/index.js';
import type { ModelSpec } from './model/index.js';

const activation = z.enum(['relu', 'sigmoid', 'tanh', 'linear']);
const layer = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('dense'),
    units: z.number().int().min(1),
    activation: activation.optional(),
  }),
  z.strictObject({
    type: z.literal('conv2d'),
    filters: z.number().int().min(1),
    kernelSize: z.number().int().min(1),
    padding: z.enum(['same', 'valid']).optional(),
    activation: activation.optional(),
  }),
  z.strictObject({ type: z.literal('avgpool2d'), poolSize: z.number().int().min(1) }),
  z.strictObject({ type: z.literal('flatten') }),
  z.strictObject({
    type: z.literal('batchnorm'),
    momentum: z.number().min(0).max(1).optional(),
    epsilon: z.number().positive().optional(),
  }),
  z.strictObject({ type: z.literal('activation'), activation }),
]);
export const modelSpecSchema = z.strictObject({
  inputShape: z.tuple([z.number().int().min(1), z.number().int().min(1), z.number().int().min(1)]),
  classes: z.number().int().min(2),
  layers: z.array(layer).min(1),
});

const range = z.tuple([z.number().int().min(0), z.number().int().min(1)]);
const idxSource = z.strictObject({
  path: z.string().min(1),
  part: z.enum(['train', 't10k']).default('t10k'),
  /** Keep only these classes (relabelled 0…k−1); ranges then index that subset. */
  classes: z.array(z.number().int().min(0)).optional(),
});

export const tfFedAvgExecutor = defineComponent({
  type: 'leakage.TfFedAvgExecutor',
  args: z.strictObject({
    model: modelSpecSchema,
    learningRate: z.number().positive(),
    batchSize: z.number().int().min(1),
    epochs: z.number().int().min(1).default(1),
    data: idxSource,
    train: range,
    valid: range.optional(),
  }),
  create: (args, env) => {
    const dir = resolveDataPath(env, args.data.path);
    const valid = args.valid;
    return new TfFedAvgExecutor({
      spec: args.model as ModelSpec,
      learningRate: args.learningRate,
      batchSize: args.batchSize,
      epochs: args.epochs,
      trainData: () => idxSlice(dir, args.data.part, args.train, args.data.classes),
      ...(valid === undefined
        ? {}
        : { validData: () => idxSlice(dir, args.data.part, valid, args.data.classes) }),
    });
  },
});

const inversionSchema = z.strictObject({
  iterations: z.number().int().min(1).optional(),
  learningRate: z.number().positive().optional(),
  warmup: z.number().int().min(0).optional(),
  distance: z.enum(['cosine', 'l2']).optional(),
  tv: z.number().min(0).optional(),
  tvL2: z.number().min(0).optional(),
  l2: z.number().min(0).optional(),
  bn: z.number().min(0).optional(),
  labels: z.union([z.enum(['idlg', 'optimize']), z.array(z.number().int().min(0))]).optional(),
  analytic: z.boolean().optional(),
  seed: z.number().int().optional(),
});

export const leakageFilter = defineComponent({
  type: 'leakage.LeakageFilter',
  args: z.strictObject({
    frequency: z.number().int().min(1).default(1),
    startRound: z.number().int().min(0).default(0),
    threshold: z.number().default(1),
    /** The attacker's prior: the mean of public images, or a constant grey level. */
    prior: z.union([
      idxSource.extend({ range }),
      z.strictObject({ constant: z.number().min(0).max(1), size: z.number().int().min(1) }),
    ]),
    inversion: inversionSchema.default({}),
    winSize: z.number().int().min(3).default(7),
    priorFloor: z.number().positive().default(0.01),
    maxImages: z.number().int().min(1).default(64),
    saveImages: z.boolean().default(false),
  }),
  create: (args, env) => {
    const p = args.prior;
    const prior =
      'constant' in p
        ? new Float32Array(p.size).fill(p.constant)
        : meanImagePrior(resolveDataPath(env, p.path), p.part, p.range, p.classes);
    const { inversion, ...rest } = args;
    return new LeakageFilter({ ...rest, prior, inversion: stripUndefined(inversion) });
  },
});

type Defined<T> = { [K in keyof T]: Exclude<T[K], undefined> };

/** Drops absent optional arguments (zod yields `undefined`; the options types forbid it). */
function stripUndefined<T extends object>(o: T): Defined<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Defined<T>;
}

const seed = z.number().int().optional();
const randomOf = (s: number | undefined) => (s === undefined ? {} : { random: seededRandom(s) });

export const excludeVars = defineComponent({
  type: 'leakage.ExcludeVars',
  // Validated by the filter itself so a bad argument gets its specific message.
  args: z.strictObject({ exclude: z.unknown() }),
  create: (args) => new ExcludeVars({ exclude: args.exclude as string }),
});

export const percentilePrivacy = defineComponent({
  type: 'leakage.PercentilePrivacy',
  args: z.strictObject({ percentile: z.number().optional(), gamma: z.number().optional() }),
  create: (args) => new PercentilePrivacy(stripUndefined(args)),
});

export const svtPrivacy = defineComponent({
  type: 'leakage.SvtPrivacy',
  args: z.strictObject({
    fraction: z.number().optional(),
    epsilon: z.number().optional(),
    releaseEpsilon: z.number().optional(),
    gamma: z.number().optional(),
    tau: z.number().optional(),
    seed,
  }),
  create: ({ seed: s, ...args }) => new SvtPrivacy({ ...stripUndefined(args), ...randomOf(s) }),
});

export const gaussianMechanism = defineComponent({
  type: 'leakage.GaussianMechanism',
  args: z.strictObject({
    clipNorm: z.number(),
    noiseMultiplier: z.number(),
    delta: z.number().optional(),
    samplingRate: z.number().optional(),
    adjacency: z.enum(['replace', 'add-remove']).optional(),
    seed,
  }),
  create: ({ seed: s, ...args }) =>
    new GaussianMechanism({ ...stripUndefined(args), ...randomOf(s) }),
});

export const relativeNoise = defineComponent({
  type: 'leakage.RelativeNoise',
  args: z.strictObject({ sigma0: z.number(), percentile: z.number().optional(), seed }),
  create: ({ seed: s, ...args }) => new RelativeNoise({ ...stripUndefined(args), ...randomOf(s) }),
});

export const components: ComponentDefinition[] = [
  tfFedAvgExecutor,
  leakageFilter,
  excludeVars,
  percentilePrivacy,
  svtPrivacy,
  gaussianMechanism,
  relativeNoise,
] as ComponentDefinition[];
