/**
 * Data paths in job configs are relative to the site's data root, never to the job folder, and
 * cannot leave it: a job must not make a site read files its operator did not put under the
 * data root. A site that keeps data elsewhere points its data root there (site config).
 */
import { isAbsolute, relative, resolve, sep } from 'node:path';
import type { ComponentEnv } from '../core/component.js';
import { VflareError } from '../core/errors.js';

/** Resolves a data path from a component's args at the site instantiating it. */
export function resolveDataPath(
  env: Pick<ComponentEnv, 'dataRoot' | 'site' | 'trustedDataDirs'>,
  path: string,
): string {
  const root = resolve(env.dataRoot);
  const full = resolve(root, path);
  // A folder the operator granted (`--data-dir`) is trusted as given, absolute or not.
  if ((env.trustedDataDirs ?? []).some((dir) => inside(resolve(dir), full))) return full;
  if (isAbsolute(path) || !inside(root, full)) {
    throw new VflareError(
      'INVALID_CONFIG',
      `data path "${path}" leaves the data root of site ${env.site}; give a path relative to ` +
        "the data root (set the site's dataRoot to use data elsewhere)",
      { context: { site: env.site } },
    );
  }
  return full;
}

function inside(root: string, full: string): boolean {
  const rel = relative(root, full);
  return !(rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel));
}
