/**
 * The job folder's file formats as zod schemas (see docs/runtime-jobs.md):
 *
 * - `meta.json`: `{name, deployMap, minClients, mandatoryClients, resourceSpec}`;
 * - `<app>/config/server.json`: `{components, workflows, filters}`;
 * - `<app>/config/client.json`: `{components, executors, filters, sites}`.
 *
 * Unknown keys are errors (a typo must not be silently ignored).
 */
import { z } from 'zod';

/** The keyword that deploys an app to the server and every client. */
export const ALL_SITES = '@ALL';
/** The server's name in a deploy map. */
export const SERVER_SITE = 'server';

const siteName = z
  .string()
  .min(1)
  .regex(/^[A-Za-z0-9@][A-Za-z0-9._-]*$/, 'a site name uses letters, digits, ".", "_" or "-"');

/** App names are folder names inside the job: no separators, no leading dot. */
const appName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'an app name uses letters, digits, ".", "_" or "-"');

const varName = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_]*$/, 'a variable name uses letters, digits and "_"')
  .refine((n) => n !== 'site' && n !== 'job', '"site" and "job" are reserved');

export const jobMetaSchema = z.strictObject({
  name: z
    .string()
    .min(1)
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'a job name uses letters, digits, ".", "_" or "-"'),
  /** App name → sites it is deployed to (`server`, site names, or `["@ALL"]`). */
  deployMap: z.record(appName, z.array(siteName)),
  minClients: z.number().int().min(1).max(1_000_000).default(1),
  mandatoryClients: z.array(siteName).default([]),
  /** Site → {resource: amount}, e.g. {"site-1": {"gpu": 1}}. */
  resourceSpec: z.record(z.string(), z.record(z.string(), z.number().nonnegative())).default({}),
  /** Job variables: `{name}` in any string argument becomes the value (`site`, `job` reserved). */
  vars: z.record(varName, z.string()).optional(),
  /**
   * Declares that the operator may point the job at a data folder of their own
   * (`vflare simulate --data-dir DIR`): `var` becomes DIR, `set` overrides other variables, and
   * DIR must hold every file of `files`.
   */
  dataDir: z
    .strictObject({
      var: varName,
      files: z.array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'a plain file name')),
      set: z.record(varName, z.string()).default({}),
    })
    .optional(),
});
export type JobMeta = z.output<typeof jobMetaSchema>;

/** One component: a registered type (or `package#export`) with its arguments. */
export const componentSpecSchema = z.strictObject({
  /** Other components and per-site overrides refer to it by this id. */
  id: z.string().min(1).optional(),
  type: z.string().min(1),
  args: z.record(z.string(), z.unknown()).default({}),
});
export type ComponentSpec = z.output<typeof componentSpecSchema>;

/** Filters that apply to the listed tasks (all tasks when `tasks` is absent). */
export const filterGroupSchema = z.strictObject({
  tasks: z.array(z.string().min(1)).min(1).optional(),
  filters: z.array(componentSpecSchema).min(1),
});
export type FilterGroup = z.output<typeof filterGroupSchema>;

export const filtersSchema = z.strictObject({
  /** Server: data out; client: data in. */
  taskData: z.array(filterGroupSchema).default([]),
  /** Client: result out; server: result in. */
  taskResult: z.array(filterGroupSchema).default([]),
});
export type FiltersSpec = z.output<typeof filtersSchema>;

const namedComponent = componentSpecSchema.extend({ id: z.string().min(1) });

export const serverConfigSchema = z.strictObject({
  /** Helpers the workflows refer to by id (aggregators, persistors, …). */
  components: z.array(namedComponent).default([]),
  /** Run one after another. */
  workflows: z.array(componentSpecSchema).min(1),
  filters: filtersSchema.default({ taskData: [], taskResult: [] }),
});
export type ServerConfig = z.output<typeof serverConfigSchema>;

export const executorEntrySchema = z.strictObject({
  /** Tasks routed to this executor; default: every task the executor declares. */
  tasks: z.array(z.string().min(1)).min(1).optional(),
  executor: componentSpecSchema,
});
export type ExecutorEntry = z.output<typeof executorEntrySchema>;

export const clientConfigSchema = z.strictObject({
  components: z.array(namedComponent).default([]),
  executors: z.array(executorEntrySchema).min(1),
  filters: filtersSchema.default({ taskData: [], taskResult: [] }),
  /** Per-site argument overrides: site → component id → {arg: value}. */
  sites: z.record(z.string(), z.record(z.string(), z.record(z.string(), z.unknown()))).default({}),
});
export type ClientConfig = z.output<typeof clientConfigSchema>;

/** The configuration of one app: what the server and/or the clients it is deployed to run. */
export interface AppConfig {
  readonly server?: ServerConfig;
  readonly client?: ClientConfig;
}

/** A whole job: configuration only, never code. */
export interface Job {
  readonly meta: JobMeta;
  readonly apps: Readonly<Record<string, AppConfig>>;
}

/** Formats zod issues as `where: message` lines. */
export function zodProblems(where: string, error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    // A bad record key: say which key and why, not just "Invalid key in record".
    const message =
      issue.code === 'invalid_key'
        ? `invalid name "${String(issue.path.at(-1))}": ` +
          issue.issues.map((i) => i.message).join('; ')
        : issue.message;
    return `${where}${path === '' ? '' : ` ${path}`}: ${message}`;
  });
}
