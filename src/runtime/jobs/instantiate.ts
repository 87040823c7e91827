/**
 * Turning a validated job into the apps a party runs: the server's `ServerApp` (workflows and
 * filters) and a site's `ClientApp` (executors and filters), with per-site argument overrides
 * and `{site}` / `{job}` placeholders applied, every component's args validated by its schema.
 */
import type { ClientApp, ServerApp } from '../core/app.js';
import type { ComponentDefinition, ComponentEnv } from '../core/component.js';
import type { Workflow } from '../core/controller.js';
import { VflareError } from '../core/errors.js';
import type { Executor } from '../core/executor.js';
import type { Filter, FilterBinding, FilterChains } from '../core/filter.js';
import type { Logger } from '../core/logger.js';
import type { ComponentRegistry } from './registry.js';
import {
  type ClientConfig,
  type ComponentSpec,
  type FiltersSpec,
  type Job,
  SERVER_SITE,
  type ServerConfig,
  zodProblems,
} from './schema.js';
import { substitute } from './validate.js';

/** Where and as whom an app is instantiated. */
export interface PartyEnv {
  /** `server` or the site's name. */
  readonly site: string;
  readonly jobDir: string;
  /** This party's output folder for the job. */
  readonly workspace: string;
  /** Relative data paths resolve against it (the simulator's default: the job folder). */
  readonly dataRoot: string;
  readonly seed: number;
  readonly logger: Logger;
  readonly registry: ComponentRegistry;
  /** Job variables after the operator's overrides (default: meta.json `vars`). */
  readonly vars?: Readonly<Record<string, string>>;
  /** Folders the operator granted besides the data root (`--data-dir`). */
  readonly trustedDataDirs?: readonly string[];
}

/** Creates the components of one app config, lazily and by id, for one party. */
class Assembly {
  readonly #defs = new Map<string, ComponentDefinition>();
  readonly #byId = new Map<string, ComponentSpec>();
  readonly #made = new Map<string, unknown>();
  readonly #making = new Set<string>();
  readonly #overrides: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  readonly #where: string;
  readonly #vars: Readonly<Record<string, string>>;
  readonly env: ComponentEnv;

  constructor(
    where: string,
    job: Job,
    components: readonly ComponentSpec[],
    party: PartyEnv,
    overrides: Readonly<Record<string, Readonly<Record<string, unknown>>>> = {},
  ) {
    this.#where = where;
    this.#overrides = overrides;
    this.#vars = { ...(party.vars ?? job.meta.vars ?? {}), site: party.site, job: job.meta.name };
    for (const c of components) if (c.id !== undefined) this.#byId.set(c.id, c);
    this.env = {
      site: party.site,
      dataRoot: party.dataRoot,
      ...(party.trustedDataDirs === undefined ? {} : { trustedDataDirs: party.trustedDataDirs }),
      jobDir: party.jobDir,
      workspace: party.workspace,
      seed: party.seed,
      logger: party.logger,
      resolve: (id) => this.#resolveId(id),
    };
  }

  /** Imports every `package#export` type up front (creation itself is synchronous). */
  async prepare(specs: readonly ComponentSpec[], registry: ComponentRegistry): Promise<void> {
    for (const s of specs) {
      if (!this.#defs.has(s.type)) this.#defs.set(s.type, await registry.resolve(s.type));
    }
  }

  create(spec: ComponentSpec, path: string): unknown {
    const def = this.#defs.get(spec.type);
    if (def === undefined) throw new VflareError('INTERNAL', `type ${spec.type} not prepared`);
    const override = spec.id === undefined ? undefined : this.#overrides[spec.id];
    const raw = substitute({ ...spec.args, ...override }, this.#vars);
    const parsed = def.args.safeParse(raw);
    if (!parsed.success) {
      throw new VflareError(
        'INVALID_CONFIG',
        zodProblems(`${this.#where} ${path} (${spec.type}) args`, parsed.error).join('; '),
        { context: { site: this.env.site } },
      );
    }
    try {
      return def.create(parsed.data, this.env);
    } catch (err) {
      if (err instanceof VflareError) throw err;
      throw new VflareError(
        'INVALID_CONFIG',
        `${this.#where} ${path} (${spec.type}): could not be created`,
        { cause: err, context: { site: this.env.site } },
      );
    }
  }

  #resolveId(id: string): unknown {
    if (this.#made.has(id)) return this.#made.get(id);
    const spec = this.#byId.get(id);
    if (spec === undefined) {
      throw new VflareError('INVALID_CONFIG', `${this.#where}: no component has id "${id}"`);
    }
    if (this.#making.has(id)) {
      throw new VflareError('INVALID_CONFIG', `${this.#where}: component "${id}" refers to itself`);
    }
    this.#making.add(id);
    const made = this.create(spec, `component "${id}"`);
    this.#making.delete(id);
    this.#made.set(id, made);
    return made;
  }
}

function expect<T>(value: unknown, what: string, methods: string[], path: string): T {
  const v = value as Record<string, unknown> | null;
  if (v === null || typeof v !== 'object' || !methods.every((m) => typeof v[m] === 'function')) {
    throw new VflareError(
      'INVALID_CONFIG',
      `${path} is not ${what} (it needs ${methods.join(', ')})`,
    );
  }
  return value as T;
}

function filterChains(a: Assembly, spec: FiltersSpec, where: string): FilterChains {
  const chain = (dir: 'taskData' | 'taskResult'): FilterBinding[] =>
    spec[dir].flatMap((group, i) =>
      group.filters.map((f, j) => {
        const path = `${where} filters.${dir}[${i}].filters[${j}]`;
        const filter = expect<Filter>(a.create(f, path), 'a filter', ['process'], path);
        return group.tasks === undefined ? { filter } : { tasks: group.tasks, filter };
      }),
    );
  return { taskData: chain('taskData'), taskResult: chain('taskResult') };
}

function allComponentSpecs(cfg: ServerConfig | ClientConfig): ComponentSpec[] {
  const specs: ComponentSpec[] = [...cfg.components];
  if ('workflows' in cfg) specs.push(...cfg.workflows);
  if ('executors' in cfg) specs.push(...cfg.executors.map((e) => e.executor));
  for (const dir of ['taskData', 'taskResult'] as const) {
    for (const g of cfg.filters[dir]) specs.push(...g.filters);
  }
  return specs;
}

function configOf<K extends 'server' | 'client'>(job: Job, app: string, key: K) {
  const cfg = job.apps[app]?.[key];
  if (cfg === undefined) {
    throw new VflareError('INVALID_JOB', `job "${job.meta.name}": app "${app}" has no ${key}.json`);
  }
  return cfg;
}

export async function instantiateServerApp(
  job: Job,
  app: string,
  party: PartyEnv,
): Promise<ServerApp> {
  const cfg = configOf(job, app, 'server') as ServerConfig;
  const where = `app "${app}" server.json`;
  const a = new Assembly(where, job, cfg.components, { ...party, site: SERVER_SITE });
  await a.prepare(allComponentSpecs(cfg), party.registry);
  const workflows = cfg.workflows.map((w, i) => {
    const path = `${where} workflows[${i}]`;
    return expect<Workflow>(a.create(w, path), 'a workflow', ['run'], path);
  });
  return { workflows, filters: filterChains(a, cfg.filters, where) };
}

export async function instantiateClientApp(
  job: Job,
  app: string,
  party: PartyEnv,
): Promise<ClientApp> {
  const cfg = configOf(job, app, 'client') as ClientConfig;
  const where = `app "${app}" client.json`;
  const a = new Assembly(where, job, cfg.components, party, cfg.sites[party.site]);
  await a.prepare(allComponentSpecs(cfg), party.registry);
  const executors = cfg.executors.map((entry, i) => {
    const path = `${where} executors[${i}]`;
    const ex = expect<Executor>(a.create(entry.executor, path), 'an executor', ['execute'], path);
    if (entry.tasks === undefined) return ex;
    const own = new Set(ex.tasks);
    const foreign = entry.tasks.filter((t) => !own.has(t));
    if (foreign.length > 0) {
      throw new VflareError(
        'INVALID_CONFIG',
        `${path} (${entry.executor.type}) does not answer task(s) ${foreign.join(', ')}; ` +
          `it answers ${ex.tasks.join(', ')}`,
      );
    }
    return routed(ex, entry.tasks);
  });
  return { executors, filters: filterChains(a, cfg.filters, where) };
}

/** The same executor, answering only `tasks`. */
function routed(ex: Executor, tasks: readonly string[]): Executor {
  const view: Executor = {
    tasks,
    execute: (task, ctx) => ex.execute(task, ctx),
    ...(ex.initialize === undefined ? {} : { initialize: (ctx) => ex.initialize!(ctx) }),
    ...(ex.finalize === undefined ? {} : { finalize: (ctx) => ex.finalize!(ctx) }),
  };
  return view;
}

/** Instantiates a site's own filter chains (its privacy policy), e.g. from a `site.json`. */
export async function instantiateFilters(
  spec: FiltersSpec,
  party: PartyEnv,
  where: string,
): Promise<FilterChains> {
  const job: Job = {
    meta: { name: '', deployMap: {}, minClients: 1, mandatoryClients: [], resourceSpec: {} },
    apps: {},
  };
  const a = new Assembly(where, job, [], party);
  await a.prepare(
    [...spec.taskData, ...spec.taskResult].flatMap((g) => g.filters),
    party.registry,
  );
  return filterChains(a, spec, where);
}
