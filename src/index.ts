/**
 * vflare: privacy-preserving and vertical federated learning on a typed FL runtime.
 * Sub-modules have their own entry points (`vflare/runtime`, `vflare/psi`, …); this one gathers
 * the runtime, the federated statistics of the first example, and the built-in component
 * registry (heavy modules are loaded on first use, see `src/components.ts`).
 */
export * from './components.js';
export * from './runtime/index.js';
export * from './stats/index.js';
