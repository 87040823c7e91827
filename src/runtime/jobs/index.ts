/**
 * Job folders and their components: schemas and validation, the component registry, the typed
 * builder, deployment planning, instantiation into server and client apps, and site configs.
 * See docs/runtime-jobs.md.
 */
export * from './builder.js';
export * from './deployment.js';
export * from './instantiate.js';
export * from './load.js';
export * from './paths.js';
export * from './registry.js';
export * from './schema.js';
export * from './simulate.js';
export * from './site-config.js';
export { substitute } from './validate.js';
