/** Split learning's component types, as job configurations name them. */
import type { ComponentDefinition } from '../runtime/core/component.js';
import { defineComponent } from '../runtime/core/component.js';
import { controllerArgsSchema, SplitNNController } from './controller.js';
import { executorArgsSchema, SplitNNExecutor } from './executor.js';

export const splitnnController = defineComponent({
  type: 'splitnn.SplitNNController',
  args: controllerArgsSchema,
  create: (args) => new SplitNNController(args),
});

export const splitnnExecutor = defineComponent({
  type: 'splitnn.SplitNNExecutor',
  args: executorArgsSchema,
  create: (args) => new SplitNNExecutor(args),
});

export const components: ComponentDefinition[] = [
  splitnnController as ComponentDefinition,
  splitnnExecutor as ComponentDefinition,
];
