/**
 * vflare's runtime: the typed FL programming model (`core`), the task engine and client runner
 * (`engine`), the transport (codec, driver contract, in-memory driver) and the simulator.
 * Other runtime folders add one export line each below.
 */
export * from './core/index.js';
export * from './engine/index.js';
export * from './jobs/index.js';
export * from './sim/index.js';
export * from './transport/index.js';
export * from './workflows/index.js';
