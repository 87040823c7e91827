/**
 * Components are what a job's configuration names: a registered type plus zod-validated
 * arguments. A job carries configuration only, never code; a site instantiates components from
 * types it has registered (vflare's own, or `package#export` from a package installed there).
 */
import type { ZodType } from 'zod';
import type { Logger } from './logger.js';

/** Where a component is being instantiated. */
export interface ComponentEnv {
  /** `server` or the site name. */
  readonly site: string;
  /** Relative data paths in arguments resolve against this folder at this site. */
  readonly dataRoot: string;
  /**
   * Folders the site's operator granted to this run besides the data root (e.g. `vflare
   * simulate --data-dir`); data paths may also resolve inside them.
   */
  readonly trustedDataDirs?: readonly string[];
  /** The job folder (configuration only). */
  readonly jobDir: string;
  /** This party's output folder for the job. */
  readonly workspace: string;
  readonly seed: number;
  readonly logger: Logger;
  /** Returns the instance of another component of the same app config, by its id. */
  resolve(id: string): unknown;
}

export interface ComponentDefinition<A = unknown, T = unknown> {
  /** Registered type name, e.g. `ScatterAndGather` or `psi.PsiExecutor`. */
  readonly type: string;
  /** Validates the component's `args` from the config. */
  readonly args: ZodType<A>;
  create(args: A, env: ComponentEnv): T;
}

/** Helper that keeps the args type inferred from the schema. */
export function defineComponent<A, T>(def: ComponentDefinition<A, T>): ComponentDefinition<A, T> {
  return def;
}
