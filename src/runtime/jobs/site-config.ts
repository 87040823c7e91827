/**
 * A site's own configuration for the simulator (the deployment has its own, same fields):
 * `<dir>/<site>.json` (and `<dir>/server.json` for the server) with
 *
 * ```json
 * { "dataRoot": "../data/site-1",
 *   "privacy": { "taskResult": [
 *     { "tasks": ["train"], "filters": [{ "type": "…", "args": {} }] } ] } }
 * ```
 *
 * `dataRoot` (relative to the site file's folder) replaces the default data root; `privacy`
 * names filters that run before the job's filters at that site and that no job can remove.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import type { SitePolicy } from '../core/app.js';
import { VflareError } from '../core/errors.js';
import { instantiateFilters, type PartyEnv } from './instantiate.js';
import { filtersSchema, zodProblems } from './schema.js';

export const siteConfigSchema = z.strictObject({
  dataRoot: z.string().min(1).optional(),
  privacy: filtersSchema.default({ taskData: [], taskResult: [] }),
});
export type SiteConfig = z.output<typeof siteConfigSchema> & { readonly file?: string };

/** Reads `<dir>/<site>.json`; a missing file means the defaults (no policy, default root). */
export async function readSiteConfig(dir: string, site: string): Promise<SiteConfig> {
  const file = resolve(join(dir, `${site}.json`));
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return { privacy: { taskData: [], taskResult: [] } };
    }
    throw new VflareError('INVALID_CONFIG', `site config ${file} cannot be read`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new VflareError(
      'INVALID_CONFIG',
      `site config ${file}: not valid JSON (${(err as Error).message})`,
    );
  }
  const parsed = siteConfigSchema.safeParse(json);
  if (!parsed.success) {
    throw new VflareError(
      'INVALID_CONFIG',
      zodProblems(`site config ${file}`, parsed.error).join('; '),
    );
  }
  const cfg = parsed.data;
  return {
    ...cfg,
    ...(cfg.dataRoot === undefined ? {} : { dataRoot: resolve(dirname(file), cfg.dataRoot) }),
    file,
  };
}

/** Instantiates a site config's privacy filters as the site's policy. */
export async function sitePolicy(cfg: SiteConfig, party: PartyEnv): Promise<SitePolicy> {
  const where = `site config ${cfg.file ?? party.site}`;
  return { filters: await instantiateFilters(cfg.privacy, party, where) };
}
