/**
 * vflare: privacy-preserving and vertical federated learning on a typed FL runtime.
 * Sub-modules have their own entry points (`vflare/runtime`, `vflare/psi`, …); this one gathers
 * the runtime and the built-in component registry.
 */
export * from './components.js';
export * from './runtime/index.js';
