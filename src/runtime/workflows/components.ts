/**
 * The job-config names of this folder's workflows, aggregators and persistors. Arguments are
 * validated by zod; references to other components of the same app config are by id.
 */
import { isAbsolute } from 'node:path';
import { z } from 'zod';
import { type ComponentDefinition, type ComponentEnv, defineComponent } from '../core/component.js';
import { VflareError } from '../core/errors.js';
import { resolveDataPath } from '../jobs/paths.js';
import type { Aggregator } from './aggregator.js';
import { WeightedFedAvgAggregator } from './aggregator.js';
import { CrossSiteModelEval } from './cross-site-eval.js';
import { InitializeGlobalWeights } from './initialize-global-weights.js';
import { FileModelPersistor, type ModelPersistor } from './persistor.js';
import { ScatterAndGather } from './scatter-and-gather.js';

const seconds = z.number().finite().nonnegative();

/** A file name inside the party's workspace: relative, no `..` segment. */
export const workspaceFile = z
  .string()
  .min(1)
  .refine(
    (p) => !isAbsolute(p) && !p.split(/[\\/]/).includes('..'),
    'expected a path inside the workspace (relative, without "..")',
  );
const count = z.number().int().nonnegative();

/** Resolves a component id and checks the instance has the methods `what` needs. */
export function resolveAs<T>(env: ComponentEnv, id: string, what: string, methods: string[]): T {
  const found = env.resolve(id) as Record<string, unknown> | undefined;
  if (
    found === undefined ||
    found === null ||
    !methods.every((m) => typeof found[m] === 'function')
  ) {
    throw new VflareError(
      'INVALID_CONFIG',
      `component "${id}" is not ${what} (it needs ${methods.join(', ')})`,
    );
  }
  return found as T;
}

const aggregatorOf = (env: ComponentEnv, id: string) =>
  resolveAs<Aggregator>(env, id, 'an aggregator', ['startRound', 'accept', 'aggregate']);
const persistorOf = (env: ComponentEnv, id: string) =>
  resolveAs<ModelPersistor>(env, id, 'a model persistor', ['load', 'save']);

export const scatterAndGather = defineComponent({
  type: 'ScatterAndGather',
  args: z.strictObject({
    aggregator: z.string(),
    persistor: z.string().optional(),
    minClients: z.number().int().min(1).default(1),
    numRounds: count.default(5),
    startRound: count.default(0),
    waitTimeAfterMinReceived: seconds.default(10),
    trainTimeout: seconds.default(0),
    ignoreResultError: z.boolean().default(false),
    allowEmptyGlobalWeights: z.boolean().default(false),
    persistEveryNRounds: count.default(1),
    trainTaskName: z.string().min(1).default('train'),
  }),
  create(args, env) {
    const { aggregator, persistor, ...rest } = args;
    return new ScatterAndGather({
      ...rest,
      aggregator: aggregatorOf(env, aggregator),
      ...(persistor === undefined ? {} : { persistor: persistorOf(env, persistor) }),
    });
  },
});

export const initializeGlobalWeights = defineComponent({
  type: 'InitializeGlobalWeights',
  args: z.strictObject({
    weightMethod: z.enum(['first', 'client']).default('first'),
    weightsClientName: z.string().optional(),
    minResponsesRequired: count.default(0),
    waitTimeAfterMinReceived: seconds.default(0),
    taskTimeout: seconds.default(0),
    taskName: z.string().min(1).default('get_weights'),
  }),
  create: (args) => new InitializeGlobalWeights(args),
});

export const crossSiteModelEval = defineComponent({
  type: 'CrossSiteModelEval',
  args: z.strictObject({
    persistor: z.string().optional(),
    includeServerModel: z.boolean().default(true),
    submitModelTimeout: seconds.default(600),
    validationTimeout: seconds.default(6000),
    submitTaskName: z.string().min(1).default('submit_model'),
    validateTaskName: z.string().min(1).default('validate'),
    fileName: workspaceFile.default('cross_site_val.json'),
    reportMetrics: z.boolean().default(true),
  }),
  create(args, env) {
    const { persistor, ...rest } = args;
    return new CrossSiteModelEval({
      ...rest,
      ...(persistor === undefined ? {} : { persistor: persistorOf(env, persistor) }),
    });
  },
});

export const weightedFedAvg = defineComponent({
  type: 'WeightedFedAvgAggregator',
  args: z.strictObject({
    expectedKind: z.enum(['weights', 'weight-diff', 'metrics']).default('weight-diff'),
    excludeVars: z.union([z.string(), z.array(z.string())]).optional(),
    aggregationWeights: z.record(z.string(), z.number().finite().nonnegative()).optional(),
    weighByLocalIter: z.boolean().default(true),
  }),
  create: (args) => new WeightedFedAvgAggregator(args),
});

export const fileModelPersistor = defineComponent({
  type: 'FileModelPersistor',
  args: z.strictObject({
    fileName: workspaceFile.default('global_model.vfm'),
    initialModel: z.string().min(1).optional(),
  }),
  create: (args, env) =>
    new FileModelPersistor({
      fileName: args.fileName,
      initialModel:
        args.initialModel === undefined ? undefined : resolveDataPath(env, args.initialModel),
      workspace: env.workspace,
      dataRoot: env.dataRoot,
    }),
});

export const components: ComponentDefinition[] = [
  scatterAndGather,
  initializeGlobalWeights,
  crossSiteModelEval,
  weightedFedAvg,
  fileModelPersistor,
] as ComponentDefinition[];
