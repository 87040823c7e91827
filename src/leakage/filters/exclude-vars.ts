/**
 * Removes variables from a model update before it leaves the site (NVFlare's ExcludeVars),
 * by exact names or by a regular expression searched anywhere in the name. Unlike NVFlare 2.3,
 * an empty or malformed argument is a configuration error, not a silent no-op, and a
 * selection that removes nothing is warned about.
 */
import {
  type Filter,
  type FilterContext,
  type Payload,
  type Tensor,
  VflareError,
} from '../../runtime/core/index.js';

export interface ExcludeVarsOptions {
  /** Exact variable names, or a regular expression (as a string) searched in each name. */
  readonly exclude: readonly string[] | string;
}

export class ExcludeVars implements Filter {
  readonly name = 'ExcludeVars';
  readonly #match: (name: string) => boolean;

  constructor(options: ExcludeVarsOptions) {
    const ex: unknown = options.exclude;
    if (typeof ex === 'string') {
      if (ex.length === 0) throw badArg('an empty pattern');
      let re: RegExp;
      try {
        re = new RegExp(ex);
      } catch (cause) {
        throw new VflareError(
          'INVALID_CONFIG',
          `ExcludeVars: exclude is not a valid regular expression (${(cause as Error).message})`,
          { cause },
        );
      }
      this.#match = (n) => re.test(n);
    } else if (Array.isArray(ex)) {
      if (ex.length === 0) throw badArg('an empty list');
      if (!ex.every((n) => typeof n === 'string' && n.length > 0)) {
        throw badArg('a list with a non-string or empty entry');
      }
      const set = new Set<string>(ex as string[]);
      this.#match = (n) => set.has(n);
    } else {
      throw badArg(ex === null ? 'null' : typeof ex);
    }
  }

  process(payload: Payload, ctx: FilterContext): Payload {
    if (payload.kind !== 'weights' && payload.kind !== 'weight-diff') return payload;
    const kept: Record<string, Tensor> = {};
    let removed = 0;
    for (const [n, t] of Object.entries(payload.weights)) {
      if (this.#match(n)) removed++;
      else kept[n] = t;
    }
    if (removed === 0) {
      ctx.logger.warn({ filter: this.name }, 'ExcludeVars matched no variable; nothing removed');
    }
    return { ...payload, weights: kept };
  }
}

function badArg(got: string): VflareError {
  return new VflareError(
    'INVALID_CONFIG',
    `ExcludeVars: exclude must be a non-empty list of variable names or a non-empty regular ` +
      `expression, got ${got}`,
  );
}
