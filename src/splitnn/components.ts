/** Split learning's component types, as job configurations name them. */
import type { ComponentDefinition, ComponentEnv } from '../runtime/core/component.js';
import { defineComponent } from '../runtime/core/component.js';
import { resolveDataPath } from '../runtime/jobs/paths.js';
import { controllerArgsSchema, SplitNNController } from './controller.js';
import type { DataSpec } from './data.js';
import { executorArgsSchema, SplitNNExecutor } from './executor.js';

/**
 * Data and saved-model paths are relative to the site's data root and may not leave it (or a
 * folder the operator trusts): resolved here, when the job is instantiated, so a bad path stops
 * the site before PSI runs.
 */
function confine(data: DataSpec, env: ComponentEnv): DataSpec {
  switch (data.format) {
    case 'csv':
      return { ...data, path: resolveDataPath(env, data.path) };
    case 'idx':
      return { ...data, dir: resolveDataPath(env, data.dir) };
    case 'cifar10':
      return { ...data, files: data.files.map((f) => resolveDataPath(env, f)) };
  }
}

export const splitnnController = defineComponent({
  type: 'splitnn.SplitNNController',
  args: controllerArgsSchema,
  create: (args) => new SplitNNController(args),
});

export const splitnnExecutor = defineComponent({
  type: 'splitnn.SplitNNExecutor',
  args: executorArgsSchema,
  create: (args, env) =>
    new SplitNNExecutor({
      ...args,
      data: confine(args.data, env),
      ...(args.model === undefined ? {} : { model: resolveDataPath(env, args.model) }),
    }),
});

export const components: ComponentDefinition[] = [
  splitnnController as ComponentDefinition,
  splitnnExecutor as ComponentDefinition,
];
