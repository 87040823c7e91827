/**
 * Loads @openmined/psi.js (dev dependency, installed with scripts disabled; its WASM is embedded
 * in the package, so no network is needed). Its typings declare an ES default export over a
 * CommonJS module, which NodeNext does not see as callable; the cast restores the documented
 * shape.
 */
import psiModule from '@openmined/psi.js';
import type { PSILibrary } from '@openmined/psi.js/implementation/psi.js';

export type { PSILibrary };

export function loadPsiJs(): Promise<PSILibrary> {
  type Factory = () => Promise<PSILibrary>;
  const m = psiModule as unknown as Factory | { default: Factory };
  return (typeof m === 'function' ? m : m.default)();
}
