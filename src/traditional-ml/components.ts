/**
 * The job-config names of this module's components. Clients name a learner (each becomes a
 * `LearnerExecutor` answering `train` and `validate`); the server names an aggregator and the
 * model persistor:
 *
 * | algorithm | client | server aggregator |
 * |---|---|---|
 * | SGD linear/logistic | `tml.LinearLearner` | `WeightedFedAvgAggregator`, kind `weights` |
 * | SVM | `tml.SvmLearner` | `tml.SvmAggregator` |
 * | k-means | `tml.KmeansLearner` | `tml.KmeansAggregator` |
 * | random forest | `tml.ForestLearner` | `tml.ForestAggregator` |
 *
 * and `tml.ModelPersistor` saves the global model as JSON (see `model/format.ts`).
 */
import { z } from 'zod';
import {
  type ComponentDefinition,
  type ComponentEnv,
  defineComponent,
} from '../runtime/core/index.js';
import { resolveDataPath } from '../runtime/jobs/paths.js';
import { CollectAndAssembleAggregator } from '../runtime/workflows/assemble.js';
import { workspaceFile } from '../runtime/workflows/components.js';
import { type DataSpec, dataSpecSchema, rowRangesSchema } from './data/spec.js';
import { ForestAssembler, ForestLearner, forestParamsSchema } from './forest/federated.js';
import { KmeansAssembler, KmeansLearner, kmeansParamsSchema } from './kmeans/federated.js';
import { LearnerExecutor } from './learner/learner.js';
import { LinearLearner, linearParamsSchema } from './linear/federated.js';
import { TmlModelPersistor } from './model/io.js';
import { SvmAssembler, SvmLearner, svmParamsSchema } from './svm/federated.js';

const taskNames = {
  trainTask: z.string().min(1).default('train'),
  validateTask: z.string().min(1).default('validate'),
};

/**
 * A job names data relative to the site's data root and may not leave it (absolute paths and
 * `..` are refused, as for every data path in a job): the site's operator decides which files a
 * job can read. Resolved here, at instantiation, so a bad path stops the site before round 0.
 */
function siteData(data: DataSpec, env: ComponentEnv): DataSpec {
  return {
    ...data,
    path: resolveDataPath(env, data.path),
    ...(data.targetPath === undefined ? {} : { targetPath: resolveDataPath(env, data.targetPath) }),
  };
}

function learnerArgs<S extends z.ZodRawShape>(params: z.ZodObject<S>) {
  return params.extend({ data: dataSpecSchema, ...rowRangesSchema, ...taskNames }).strict();
}

export const linearLearner = defineComponent({
  type: 'tml.LinearLearner',
  args: learnerArgs(linearParamsSchema),
  create({ data, train, valid, trainTask, validateTask, ...params }, env) {
    return new LearnerExecutor(new LinearLearner(siteData(data, env), { train, valid }, params), {
      trainTask,
      validateTask,
    });
  },
});

export const svmLearner = defineComponent({
  type: 'tml.SvmLearner',
  args: learnerArgs(svmParamsSchema),
  create({ data, train, valid, trainTask, validateTask, ...params }, env) {
    return new LearnerExecutor(new SvmLearner(siteData(data, env), { train, valid }, params), {
      trainTask,
      validateTask,
    });
  },
});

export const kmeansLearner = defineComponent({
  type: 'tml.KmeansLearner',
  args: learnerArgs(kmeansParamsSchema),
  create({ data, train, valid, trainTask, validateTask, ...params }, env) {
    return new LearnerExecutor(new KmeansLearner(siteData(data, env), { train, valid }, params), {
      trainTask,
      validateTask,
    });
  },
});

export const forestLearner = defineComponent({
  type: 'tml.ForestLearner',
  args: learnerArgs(forestParamsSchema),
  create({ data, train, valid, trainTask, validateTask, ...params }, env) {
    return new LearnerExecutor(new ForestLearner(siteData(data, env), { train, valid }, params), {
      trainTask,
      validateTask,
    });
  },
});

export const svmAggregator = defineComponent({
  type: 'tml.SvmAggregator',
  args: svmParamsSchema,
  create: (args) => new CollectAndAssembleAggregator(new SvmAssembler(args)),
});

export const kmeansAggregator = defineComponent({
  type: 'tml.KmeansAggregator',
  args: kmeansParamsSchema.extend({ seed: z.number().int().optional() }).strict(),
  create: ({ seed, ...args }, env) =>
    new CollectAndAssembleAggregator(new KmeansAssembler(args, seed ?? env.seed)),
});

export const forestAggregator = defineComponent({
  type: 'tml.ForestAggregator',
  args: z.strictObject({}),
  create: () => new CollectAndAssembleAggregator(new ForestAssembler()),
});

export const modelPersistor = defineComponent({
  type: 'tml.ModelPersistor',
  args: z.strictObject({
    kind: z.enum(['linear', 'svm', 'kmeans', 'forest']),
    loss: z.enum(['log', 'squared']).optional(),
    positiveClass: z.number().optional(),
    /** Inside the server's workspace (relative, no `..`). */
    fileName: workspaceFile.default('global_model.json'),
  }),
  create: ({ kind, loss, positiveClass, fileName }, env) =>
    new TmlModelPersistor({
      kind,
      fileName,
      workspace: env.workspace,
      ...(loss === undefined ? {} : { loss }),
      ...(positiveClass === undefined ? {} : { positiveClass }),
    }),
});

export const components: ComponentDefinition[] = [
  linearLearner,
  svmLearner,
  kmeansLearner,
  forestLearner,
  svmAggregator,
  kmeansAggregator,
  forestAggregator,
  modelPersistor,
] as ComponentDefinition[];
