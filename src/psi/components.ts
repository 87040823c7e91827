/**
 * Job-config names of the PSI workflow's parts:
 *
 * - `psi.PsiController` (server workflow): `{ mode?: "fast" | "openmined", container?: "bloom" |
 *   "gcs" | "raw", fpr?: number (default 1e-11), taskTimeout?: seconds }`;
 * - `psi.PsiExecutor` (client executor for task `psi`): `{ path?: string, paths?: {site: path},
 *   column?: string }`; `path` may contain `{site}`; paths are relative to the site's data root
 *   and may not leave it (`resolveDataPath`); `column` picks a CSV column by header for `.csv`
 *   files.
 */
import { z } from 'zod';
import { type ComponentDefinition, defineComponent, VflareError } from '../runtime/core/index.js';
import { resolveDataPath } from '../runtime/jobs/paths.js';
import { PsiExecutor } from './executor.js';
import { PsiController } from './workflow.js';

export const psiController = defineComponent({
  type: 'psi.PsiController',
  args: z.strictObject({
    mode: z.enum(['fast', 'openmined']).default('fast'),
    container: z.enum(['bloom', 'gcs', 'raw']).default('bloom'),
    fpr: z.number().gt(0).lt(1).default(1e-11),
    taskTimeout: z.number().finite().nonnegative().default(0),
  }),
  create(args) {
    return new PsiController({
      mode: args.mode,
      container: args.container,
      fpr: args.fpr,
      taskTimeoutMs: args.taskTimeout * 1000,
    });
  },
});

export const psiExecutor = defineComponent({
  type: 'psi.PsiExecutor',
  args: z.strictObject({
    path: z.string().min(1).optional(),
    paths: z.record(z.string(), z.string().min(1)).optional(),
    column: z.string().min(1).optional(),
  }),
  create(args, env) {
    const path = args.paths?.[env.site] ?? args.path?.replaceAll('{site}', env.site);
    if (path === undefined) {
      throw new VflareError(
        'INVALID_CONFIG',
        `psi.PsiExecutor at site "${env.site}": give "path" or an entry for this site in "paths"`,
      );
    }
    // Resolved (and confined) here, so a bad path stops the site before the workflow starts.
    const file = resolveDataPath(env, path);
    return new PsiExecutor({
      items: { path: file, ...(args.column === undefined ? {} : { column: args.column }) },
    });
  },
});

export const components: ComponentDefinition[] = [
  psiController as ComponentDefinition,
  psiExecutor as ComponentDefinition,
];
