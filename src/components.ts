/**
 * Every component type vflare registers, by module. A job's configuration names these types;
 * each module lists its own in `src/<module>/components.ts` and adds one line here.
 *
 * Only the runtime's own workflows and the light statistics module are imported up front. The
 * other modules pull in TensorFlow.js, WebAssembly or big-integer crypto, which costs seconds
 * at start-up, so they are registered by type prefix and imported on first use of one of their
 * types (`psi.*` loads `src/psi/components.ts`, and so on): `vflare --help` or a statistics job
 * never pays for TensorFlow.js.
 */

import type { ComponentDefinition } from './runtime/core/component.js';
import {
  ComponentRegistry,
  type ComponentRegistryOptions,
  type LazyComponents,
} from './runtime/jobs/registry.js';
import { components as workflows } from './runtime/workflows/components.js';
import { components as stats } from './stats/components.js';

/** The built-in types that are always loaded (unprefixed names and `stats.*`). */
export const eagerComponents: readonly ComponentDefinition[] = [...workflows, ...stats];

/** Modules loaded on first use of a `<prefix>.*` type. One line per module. */
export const lazyComponents: readonly LazyComponents[] = [
  { prefix: 'leakage', load: async () => (await import('./leakage/components.js')).components },
  { prefix: 'psi', load: async () => (await import('./psi/components.js')).components },
  { prefix: 'splitnn', load: async () => (await import('./splitnn/components.js')).components },
  { prefix: 'tml', load: async () => (await import('./traditional-ml/components.js')).components },
];

/** Every built-in component type, importing every module (slow: seconds). */
export async function loadAllComponents(): Promise<ComponentDefinition[]> {
  const lazy = await Promise.all(lazyComponents.map((l) => l.load()));
  return [...eagerComponents, ...lazy.flat()];
}

/**
 * A registry holding every built-in component type, the heavy modules loaded on first use.
 * `options.lazy` adds more lazy modules after the built-in ones.
 */
export function defaultRegistry(options: ComponentRegistryOptions = {}): ComponentRegistry {
  return new ComponentRegistry(eagerComponents, {
    ...options,
    lazy: [...lazyComponents, ...(options.lazy ?? [])],
  });
}
