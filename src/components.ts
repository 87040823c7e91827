/**
 * Every component type vflare registers, by module. A job's configuration names these types;
 * each module lists its own in `src/<module>/components.ts` and adds one line here.
 */

import { components as leakage } from './leakage/components.js';
import { components as psi } from './psi/components.js';
import type { ComponentDefinition } from './runtime/core/component.js';
import { ComponentRegistry, type ComponentRegistryOptions } from './runtime/jobs/registry.js';
import { components as workflows } from './runtime/workflows/components.js';
import { components as splitnn } from './splitnn/components.js';
import { components as stats } from './stats/components.js';
import { components as traditionalMl } from './traditional-ml/components.js';

export const allComponents: readonly ComponentDefinition[] = [
  ...workflows,
  ...leakage,
  ...psi,
  ...splitnn,
  ...stats,
  ...traditionalMl,
];

/** A registry holding every built-in component type. */
export function defaultRegistry(options: ComponentRegistryOptions = {}): ComponentRegistry {
  return new ComponentRegistry(allComponents, options);
}
