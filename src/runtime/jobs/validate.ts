/**
 * Semantic checks of a job, beyond each file's schema. Every check adds to one list of problems
 * so that a user sees them all at once (`JobValidationError.problems`).
 */
import { type ComponentRegistry, packageTypeProblem } from './registry.js';
import {
  ALL_SITES,
  type ClientConfig,
  type ComponentSpec,
  type Job,
  type JobMeta,
  SERVER_SITE,
  type ServerConfig,
  zodProblems,
} from './schema.js';

/** Checks meta.json's deploy map and client counts (NVFlare's submit-time checks, typed). */
export function metaProblems(meta: JobMeta): string[] {
  const problems: string[] = [];
  const apps = Object.entries(meta.deployMap);
  if (apps.length === 0) problems.push('meta.json deployMap: no app is deployed anywhere');
  const owner = new Map<string, string>();
  let hasServer = false;
  let hasAll = false;
  const clients = new Set<string>();
  for (const [app, sites] of apps) {
    if (sites.length === 0) problems.push(`meta.json deployMap.${app}: deployed to no site`);
    if (sites.includes(ALL_SITES)) {
      hasAll = true;
      if (sites.length > 1) {
        problems.push(
          `meta.json deployMap.${app}: "@ALL" must be alone, ` +
            'it already means the server and every client',
        );
      }
    }
    for (const site of sites) {
      if (site === ALL_SITES) continue;
      if (site === SERVER_SITE) hasServer = true;
      else clients.add(site);
      const other = owner.get(site);
      if (other !== undefined && other !== app) {
        problems.push(
          `meta.json deployMap: site "${site}" is in two apps ("${other}" and "${app}")`,
        );
      } else if (other === app) {
        problems.push(`meta.json deployMap.${app}: site "${site}" is listed twice`);
      }
      owner.set(site, app);
    }
  }
  if (hasAll && apps.length > 1) {
    problems.push('meta.json deployMap: an app deployed to "@ALL" must be the only app');
  }
  if (!hasServer && !hasAll && apps.length > 0) {
    problems.push(
      'meta.json deployMap: no app is deployed to the server (add "server" to one app)',
    );
  }
  if (!hasAll) {
    if (meta.minClients > clients.size) {
      problems.push(
        `meta.json minClients (${meta.minClients}) is above ` +
          `the number of deployed clients (${clients.size})`,
      );
    }
    for (const m of meta.mandatoryClients) {
      if (!clients.has(m)) problems.push(`meta.json mandatoryClients: "${m}" is not deployed`);
    }
  }
  for (const site of Object.keys(meta.resourceSpec)) {
    if (!hasAll && site !== SERVER_SITE && !clients.has(site)) {
      problems.push(`meta.json resourceSpec: "${site}" is not deployed`);
    }
  }
  if (meta.dataDir !== undefined) {
    for (const name of [meta.dataDir.var, ...Object.keys(meta.dataDir.set)]) {
      if (!Object.hasOwn(meta.vars ?? {}, name)) {
        problems.push(`meta.json dataDir: variable "${name}" is not declared in vars`);
      }
    }
  }
  return problems;
}

/** Which configs each deployed app needs. */
export function appNeeds(meta: JobMeta, app: string): { server: boolean; client: boolean } {
  const sites = meta.deployMap[app] ?? [];
  const all = sites.includes(ALL_SITES);
  return {
    server: all || sites.includes(SERVER_SITE),
    client: all || sites.some((s) => s !== SERVER_SITE),
  };
}

/** Checks apps against the deploy map, component references and (given a registry) args. */
export function jobProblems(job: Job, registry?: ComponentRegistry): string[] {
  const problems = metaProblems(job.meta);
  for (const app of Object.keys(job.meta.deployMap)) {
    const cfg = job.apps[app];
    const needs = appNeeds(job.meta, app);
    if (needs.server && cfg?.server === undefined) {
      problems.push(`app "${app}" is deployed to the server but has no config/server.json`);
    }
    if (needs.client && cfg?.client === undefined) {
      problems.push(`app "${app}" is deployed to clients but has no config/client.json`);
    }
  }
  for (const [app, cfg] of Object.entries(job.apps)) {
    if (!(app in job.meta.deployMap)) {
      problems.push(`app "${app}" has a config but is not in meta.json deployMap`);
    }
    if (cfg.server !== undefined) {
      problems.push(...serverProblems(app, cfg.server, job.meta.vars ?? {}, registry));
    }
    if (cfg.client !== undefined) {
      problems.push(...clientProblems(app, cfg.client, job.meta, registry));
    }
  }
  return problems;
}

/** Every component type a job names. */
export function jobTypes(job: Job): string[] {
  const types = new Set<string>();
  for (const cfg of Object.values(job.apps)) {
    for (const c of [cfg.server, cfg.client]) {
      if (c !== undefined) for (const [, spec] of allSpecs(c)) types.add(spec.type);
    }
  }
  return [...types];
}

function allSpecs(cfg: ServerConfig | ClientConfig): [string, ComponentSpec][] {
  const out: [string, ComponentSpec][] = cfg.components.map((c, i) => [`components[${i}]`, c]);
  if ('workflows' in cfg) {
    for (const [i, w] of cfg.workflows.entries()) out.push([`workflows[${i}]`, w]);
  }
  if ('executors' in cfg) {
    for (const [i, e] of cfg.executors.entries()) {
      out.push([`executors[${i}].executor`, e.executor]);
    }
  }
  for (const dir of ['taskData', 'taskResult'] as const) {
    for (const [i, g] of cfg.filters[dir].entries()) {
      for (const [j, f] of g.filters.entries()) {
        out.push([`filters.${dir}[${i}].filters[${j}]`, f]);
      }
    }
  }
  return out;
}

function commonProblems(
  where: string,
  cfg: ServerConfig | ClientConfig,
  registry: ComponentRegistry | undefined,
  vars: Readonly<Record<string, string>>,
): string[] {
  const problems: string[] = [];
  const ids = new Map<string, string>();
  for (const [path, spec] of allSpecs(cfg)) {
    if (spec.id !== undefined) {
      const prev = ids.get(spec.id);
      if (prev !== undefined) {
        problems.push(`${where} ${path}: id "${spec.id}" is already used by ${prev}`);
      }
      ids.set(spec.id, path);
    }
    if (spec.type.includes('#')) {
      const problem = packageTypeProblem(spec.type);
      if (problem !== null) problems.push(`${where} ${path}: ${problem}`);
      continue;
    }
    if (registry === undefined) continue;
    // `loadJob` and `JobBuilder.buildAsync` load what a job names first; a synchronous build
    // cannot, and must not let the arguments of such a type pass unchecked.
    if (registry.isPending(spec.type)) {
      problems.push(
        `${where} ${path}: type "${spec.type}" belongs to a module that is not loaded yet; ` +
          'use JobBuilder.buildAsync, or await registry.ensureAll() before build()',
      );
      continue;
    }
    const def = registry.get(spec.type);
    if (def === undefined) {
      problems.push(
        `${where} ${path}: unknown component type "${spec.type}"${registry.hint(spec.type)}`,
      );
      continue;
    }
    // Placeholders stand for strings that are only known at a site; check with a stand-in.
    const parsed = def.args.safeParse(substitute(spec.args, { ...vars, site: 'site', job: 'job' }));
    if (!parsed.success)
      problems.push(...zodProblems(`${where} ${path} (${spec.type}) args`, parsed.error));
  }
  return problems;
}

function serverProblems(
  app: string,
  cfg: ServerConfig,
  vars: Readonly<Record<string, string>>,
  registry?: ComponentRegistry,
): string[] {
  return commonProblems(`app "${app}" server.json`, cfg, registry, vars);
}

function clientProblems(
  app: string,
  cfg: ClientConfig,
  meta: JobMeta,
  registry?: ComponentRegistry,
): string[] {
  const where = `app "${app}" client.json`;
  const problems = commonProblems(where, cfg, registry, meta.vars ?? {});
  const seen = new Map<string, number>();
  cfg.executors.forEach((e, i) => {
    for (const t of e.tasks ?? []) {
      const prev = seen.get(t);
      if (prev !== undefined) {
        problems.push(
          `${where} executors[${i}]: task "${t}" is already routed to executors[${prev}]`,
        );
      }
      seen.set(t, i);
    }
  });
  const ids = new Set(allSpecs(cfg).flatMap(([, s]) => (s.id === undefined ? [] : [s.id])));
  const sites = meta.deployMap[app] ?? [];
  const all = sites.includes(ALL_SITES);
  for (const [site, overrides] of Object.entries(cfg.sites)) {
    if (!all && !sites.includes(site)) {
      problems.push(`${where} sites.${site}: site is not deployed to app "${app}"`);
    }
    for (const id of Object.keys(overrides)) {
      if (!ids.has(id)) problems.push(`${where} sites.${site}.${id}: no component has id "${id}"`);
    }
  }
  return problems;
}

/**
 * Replaces `{site}`, `{job}` and the job's `{var}`s in every string of `value` (deeply); other
 * braces stay.
 */
export function substitute(value: unknown, vars: Readonly<Record<string, string>>): unknown {
  if (typeof value === 'string') {
    // One pass over the string: a value that itself contains `{name}` is not expanded again.
    return value.replace(/\{([A-Za-z][A-Za-z0-9_]*)\}/g, (m, name: string) =>
      Object.hasOwn(vars, name) ? (vars[name] as string) : m,
    );
  }
  if (Array.isArray(value)) return value.map((v) => substitute(v, vars));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, vars)]));
  }
  return value;
}
