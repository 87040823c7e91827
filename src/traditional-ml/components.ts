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
import { type ComponentDefinition, defineComponent } from '../runtime/core/index.js';
import { CollectAndAssembleAggregator } from '../runtime/workflows/assemble.js';
import { dataSpecSchema, rowRangesSchema } from './data/spec.js';
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

function learnerArgs<S extends z.ZodRawShape>(params: z.ZodObject<S>) {
  return params.extend({ data: dataSpecSchema, ...rowRangesSchema, ...taskNames }).strict();
}

export const linearLearner = defineComponent({
  type: 'tml.LinearLearner',
  args: learnerArgs(linearParamsSchema),
  create({ data, train, valid, trainTask, validateTask, ...params }) {
    return new LearnerExecutor(new LinearLearner(data, { train, valid }, params), {
      trainTask,
      validateTask,
    });
  },
});

export const svmLearner = defineComponent({
  type: 'tml.SvmLearner',
  args: learnerArgs(svmParamsSchema),
  create({ data, train, valid, trainTask, validateTask, ...params }) {
    return new LearnerExecutor(new SvmLearner(data, { train, valid }, params), {
      trainTask,
      validateTask,
    });
  },
});

export const kmeansLearner = defineComponent({
  type: 'tml.KmeansLearner',
  args: learnerArgs(kmeansParamsSchema),
  create({ data, train, valid, trainTask, validateTask, ...params }) {
    return new LearnerExecutor(new KmeansLearner(data, { train, valid }, params), {
      trainTask,
      validateTask,
    });
  },
});

export const forestLearner = defineComponent({
  type: 'tml.ForestLearner',
  args: learnerArgs(forestParamsSchema),
  create({ data, train, valid, trainTask, validateTask, ...params }) {
    return new LearnerExecutor(new ForestLearner(data, { train, valid }, params), {
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
    fileName: z.string().min(1).default('global_model.json'),
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
