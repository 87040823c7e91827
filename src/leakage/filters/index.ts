export { applyFilters } from './chain.js';
export { ExcludeVars, type ExcludeVarsOptions } from './exclude-vars.js';
export { clipL2, GaussianMechanism, type GaussianMechanismOptions } from './gaussian.js';
export {
  EpsilonLedger,
  type GaussianPrivacyLedger,
  type LedgerEntry,
} from './ledger.js';
export {
  PercentilePrivacy,
  type PercentilePrivacyOptions,
  percentileTruncate,
} from './percentile.js';
export { RelativeNoise, type RelativeNoiseOptions } from './relative-noise.js';
export { type SvtOptions, type SvtParams, SvtPrivacy, sparseVector } from './svt.js';
export { flatten, percentileSorted, unflatten } from './vector.js';
