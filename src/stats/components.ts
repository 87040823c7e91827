/** Job-config names of the federated statistics components. */
import { z } from 'zod';
import { type ComponentDefinition, defineComponent } from '../runtime/core/component.js';
import { resolveDataPath } from '../runtime/jobs/paths.js';
import { workspaceFile } from '../runtime/workflows/components.js';
import { StatsExecutor } from './executor.js';
import { FederatedStatistics } from './workflow.js';

export const statsExecutor = defineComponent({
  type: 'stats.StatsExecutor',
  args: z.strictObject({
    /** CSV path, relative to the site's data root; `{site}` is replaced by the site name. */
    data: z.string().min(1),
    features: z.array(z.string().min(1)).min(1).optional(),
    exclude: z.array(z.string()).default([]),
    minCount: z.number().int().min(1).default(10),
  }),
  create: (args, env) =>
    new StatsExecutor({
      dataPath: resolveDataPath(env, args.data),
      features: args.features,
      exclude: args.exclude,
      minCount: args.minCount,
    }),
});

export const federatedStatistics = defineComponent({
  type: 'stats.FederatedStatistics',
  args: z.strictObject({
    bins: z.number().int().min(1).max(10_000).default(10),
    taskTimeout: z.number().finite().nonnegative().default(0),
    fileName: workspaceFile.default('statistics.json'),
  }),
  create: (args) => new FederatedStatistics(args),
});

export const components: ComponentDefinition[] = [
  statsExecutor,
  federatedStatistics,
] as ComponentDefinition[];
