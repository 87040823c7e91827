/**
 * The component registry: the types a site can instantiate from a job's configuration. A job
 * names either a registered type (vflare's own, listed in `src/components.ts`) or
 * `package#export`, an export of a package installed at the site, loaded by dynamic import.
 * File paths are refused: a job carries configuration, never code.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ComponentDefinition } from '../core/component.js';
import { VflareError } from '../core/errors.js';

/**
 * A module's components, loaded on first use: every type named `<prefix>.<Name>` comes from
 * `load()`. Loading lazily keeps a job that uses only light modules from paying for heavy ones
 * (TensorFlow.js, WebAssembly) at start-up.
 */
export interface LazyComponents {
  readonly prefix: string;
  readonly load: () => Promise<readonly ComponentDefinition[]>;
}

export interface ComponentRegistryOptions {
  /** Where `package#export` packages are looked up when vflare cannot see them; default cwd. */
  readonly resolveFrom?: string;
  /** Modules registered on first use of one of their types. */
  readonly lazy?: readonly LazyComponents[];
}

function isDefinition(value: unknown): value is ComponentDefinition {
  const v = value as Partial<ComponentDefinition> | null;
  return (
    v !== null &&
    typeof v === 'object' &&
    typeof v.type === 'string' &&
    typeof v.create === 'function' &&
    typeof (v.args as { safeParse?: unknown } | undefined)?.safeParse === 'function'
  );
}

export class ComponentRegistry {
  readonly #defs = new Map<string, ComponentDefinition>();
  readonly #resolveFrom: string;
  readonly #lazy = new Map<string, () => Promise<readonly ComponentDefinition[]>>();
  readonly #loading = new Map<string, Promise<void>>();

  constructor(defs: readonly ComponentDefinition[] = [], options: ComponentRegistryOptions = {}) {
    this.#resolveFrom = options.resolveFrom ?? process.cwd();
    for (const d of defs) this.register(d);
    for (const l of options.lazy ?? []) this.#lazy.set(l.prefix, l.load);
  }

  #prefixOf(type: string): string | undefined {
    const dot = type.indexOf('.');
    return dot > 0 && !type.includes('#') ? type.slice(0, dot) : undefined;
  }

  /** True when `type` belongs to a lazy module that is not loaded yet. */
  isPending(type: string): boolean {
    const prefix = this.#prefixOf(type);
    return prefix !== undefined && this.#lazy.has(prefix) && !this.#defs.has(type);
  }

  #load(prefix: string): Promise<void> {
    let p = this.#loading.get(prefix);
    const load = this.#lazy.get(prefix);
    if (p === undefined && load !== undefined) {
      p = load().then((defs) => {
        for (const d of defs) if (!this.#defs.has(d.type)) this.register(d);
        this.#lazy.delete(prefix);
      });
      this.#loading.set(prefix, p);
    }
    return p ?? Promise.resolve();
  }

  /**
   * Loads the lazy modules `types` need. A type that no loaded or lazy module can explain
   * loads every module, so that "unknown type" messages can suggest near misses.
   */
  async ensure(types: Iterable<string>): Promise<void> {
    const prefixes = new Set<string>();
    let all = false;
    for (const type of types) {
      if (this.#defs.has(type) || type.includes('#')) continue;
      const prefix = this.#prefixOf(type);
      if (prefix !== undefined && this.#lazy.has(prefix)) prefixes.add(prefix);
      else all = true;
    }
    if (all) for (const p of this.#lazy.keys()) prefixes.add(p);
    await Promise.all([...prefixes].map((p) => this.#load(p)));
  }

  /** Loads every lazy module (e.g. before listing all types or a synchronous build). */
  async ensureAll(): Promise<void> {
    await Promise.all([...this.#lazy.keys()].map((p) => this.#load(p)));
  }

  register(def: ComponentDefinition): void {
    if (this.#defs.has(def.type)) {
      throw new VflareError('INVALID_CONFIG', `component type "${def.type}" is registered twice`);
    }
    this.#defs.set(def.type, def);
  }

  get(type: string): ComponentDefinition | undefined {
    return this.#defs.get(type);
  }

  types(): string[] {
    return [...this.#defs.keys()].sort();
  }

  /** " (did you mean …?)" for a near-miss, else "". */
  hint(type: string): string {
    const lower = type.toLowerCase();
    const near = this.types().find(
      (t) => t.toLowerCase() === lower || t.toLowerCase().endsWith(`.${lower}`),
    );
    return near === undefined ? '' : ` (did you mean "${near}"?)`;
  }

  /** Finds a type's definition, importing `package#export` types. */
  async resolve(type: string): Promise<ComponentDefinition> {
    await this.ensure([type]);
    const known = this.#defs.get(type);
    if (known !== undefined) return known;
    const hash = type.indexOf('#');
    if (hash < 0) {
      throw new VflareError(
        'INVALID_CONFIG',
        `unknown component type "${type}"${this.hint(type)}; ` +
          `registered: ${this.types().join(', ')}`,
      );
    }
    const problem = packageTypeProblem(type);
    if (problem !== null) throw new VflareError('INVALID_CONFIG', problem);
    const pkg = type.slice(0, hash);
    const name = type.slice(hash + 1);
    const mod = await this.#import(pkg, type);
    const def = mod[name];
    if (!isDefinition(def)) {
      throw new VflareError(
        'INVALID_CONFIG',
        `component type "${type}": package "${pkg}" has no export "${name}" that is a ` +
          'component definition ({type, args: zod schema, create})',
      );
    }
    this.#defs.set(type, def);
    return def;
  }

  async #import(pkg: string, type: string): Promise<Record<string, unknown>> {
    try {
      return (await import(pkg)) as Record<string, unknown>;
    } catch (first) {
      try {
        const req = createRequire(join(this.#resolveFrom, 'noop.js'));
        return (await import(pathToFileURL(req.resolve(pkg)).href)) as Record<string, unknown>;
      } catch {
        throw new VflareError(
          'INVALID_CONFIG',
          `component type "${type}": package "${pkg}" is not installed at this site`,
          { cause: first },
        );
      }
    }
  }
}

/**
 * Why a `package#export` type cannot name an installed package, or null. Checked when a job is
 * validated, before any workspace exists, and again when the type is imported.
 */
export function packageTypeProblem(type: string): string | null {
  const hash = type.indexOf('#');
  const pkg = type.slice(0, hash);
  const name = type.slice(hash + 1);
  if (
    pkg === '' ||
    name === '' ||
    pkg.startsWith('.') ||
    pkg.startsWith('/') ||
    pkg.includes(':')
  ) {
    return (
      `component type "${type}": expected "package#export" naming an installed package ` +
      '(file paths and URLs are refused: a job carries no code)'
    );
  }
  return null;
}
