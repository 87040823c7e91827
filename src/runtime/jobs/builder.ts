/**
 * Building jobs in code. The builder produces exactly the `Job` that loading the equivalent
 * folder produces (same schemas, same defaults, same validation), and `writeJob` turns it into
 * that folder.
 *
 * ```ts
 * const job = new JobBuilder('fedavg')
 *   .minClients(2)
 *   .app('app', ['server', 'site-1', 'site-2'], {
 *     server: {
 *       components: [use(weightedFedAvg, { expectedKind: 'weights' }, 'aggregator')],
 *       workflows: [use(scatterAndGather, { aggregator: 'aggregator', numRounds: 3 })],
 *     },
 *     client: { executors: [{ tasks: ['train'], executor: use(myTrainer, { lr: 0.1 }) }] },
 *   })
 *   .build();
 * ```
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { z } from 'zod';
import type { ComponentDefinition } from '../core/component.js';
import { JobValidationError } from '../core/errors.js';
import { writeFileAtomic } from '../workflows/model-file.js';
import { validateJob } from './load.js';
import type { ComponentRegistry } from './registry.js';
import {
  type AppConfig,
  type ClientConfig,
  type ComponentSpec,
  clientConfigSchema,
  type Job,
  type JobMeta,
  jobMetaSchema,
  type ServerConfig,
  serverConfigSchema,
  zodProblems,
} from './schema.js';
import { jobTypes } from './validate.js';

/** A component's args as the builder accepts them (defaulted ones may be left out). */
export type ArgsInput<A> = { [K in keyof A]?: A[K] };

/** A config entry for a registered component definition, with typed args. */
export function use<A, T>(
  def: ComponentDefinition<A, T>,
  args: ArgsInput<A>,
  id: string,
): ComponentSpec & { id: string };
export function use<A, T>(def: ComponentDefinition<A, T>, args: ArgsInput<A>): ComponentSpec;
export function use<A, T>(
  def: ComponentDefinition<A, T>,
  args: ArgsInput<A>,
  id?: string,
): ComponentSpec {
  const spec = { type: def.type, args: { ...(args as Record<string, unknown>) } };
  return id === undefined ? spec : { id, ...spec };
}

export interface AppInput {
  readonly server?: z.input<typeof serverConfigSchema>;
  readonly client?: z.input<typeof clientConfigSchema>;
}

export class JobBuilder {
  readonly #meta: z.input<typeof jobMetaSchema>;
  readonly #apps: Record<string, AppInput> = {};

  constructor(name: string) {
    this.#meta = { name, deployMap: {} };
  }

  minClients(n: number): this {
    this.#meta.minClients = n;
    return this;
  }

  mandatoryClients(sites: readonly string[]): this {
    this.#meta.mandatoryClients = [...sites];
    return this;
  }

  resources(site: string, spec: Readonly<Record<string, number>>): this {
    this.#meta.resourceSpec = { ...this.#meta.resourceSpec, [site]: { ...spec } };
    return this;
  }

  /** Adds an app deployed to `sites` (`server`, site names, or `['@ALL']`). */
  app(name: string, sites: readonly string[], configs: AppInput): this {
    this.#meta.deployMap[name] = [...sites];
    this.#apps[name] = configs;
    return this;
  }

  /**
   * Like `build`, after importing the registry's lazy modules the job's types belong to (a
   * synchronous `build` refuses types of modules that are not loaded yet).
   */
  async buildAsync(registry: ComponentRegistry): Promise<Job> {
    const job = this.build();
    await registry.ensure(jobTypes(job));
    return validateJob(job, registry);
  }

  /** Parses with the folder's schemas and validates; throws a `JobValidationError` listing all. */
  build(registry?: ComponentRegistry): Job {
    const problems: string[] = [];
    const meta = jobMetaSchema.safeParse(this.#meta);
    if (!meta.success) problems.push(...zodProblems('meta', meta.error));
    const apps: Record<string, AppConfig> = {};
    for (const [name, input] of Object.entries(this.#apps)) {
      let server: ServerConfig | undefined;
      let client: ClientConfig | undefined;
      if (input.server !== undefined) {
        const r = serverConfigSchema.safeParse(input.server);
        if (r.success) server = r.data;
        else problems.push(...zodProblems(`app "${name}" server`, r.error));
      }
      if (input.client !== undefined) {
        const r = clientConfigSchema.safeParse(input.client);
        if (r.success) client = r.data;
        else problems.push(...zodProblems(`app "${name}" client`, r.error));
      }
      apps[name] = {
        ...(server === undefined ? {} : { server }),
        ...(client === undefined ? {} : { client }),
      };
    }
    if (!meta.success || problems.length > 0) {
      throw new JobValidationError(this.#meta.name, problems);
    }
    return validateJob({ meta: meta.data as JobMeta, apps }, registry);
  }
}

/** Writes a job as a folder (`meta.json`, `<app>/config/{server,client}.json`). */
export async function writeJob(job: Job, dir: string): Promise<void> {
  const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(join(dir, 'meta.json'), json(job.meta));
  for (const [app, cfg] of Object.entries(job.apps)) {
    const base = join(dir, app, 'config');
    if (cfg.server !== undefined)
      await writeFileAtomic(join(base, 'server.json'), json(cfg.server));
    if (cfg.client !== undefined)
      await writeFileAtomic(join(base, 'client.json'), json(cfg.client));
  }
}
