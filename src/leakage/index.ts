/**
 * Leakage quantification and privacy filters: gradient-inversion attacks on FedAvg updates,
 * the relative data leakage value (RDLV), the leakage filter that scores and withholds updates,
 * the privacy filters that reduce leakage (with their ε ledgers and RDP accountant), a
 * TensorFlow.js FedAvg learner, and the privacy/utility report. See docs/leakage.md.
 */
export { components } from './components.js';
export { idxSlice, meanImagePrior } from './data.js';
export { gaussian, laplace, type RandomSource, secureRandom, seededRandom } from './dp/random.js';
export {
  type GaussianRelease,
  gaussianRdp,
  RdpAccountant,
  rdpToDp,
} from './dp/rdp.js';
export * from './filters/index.js';
export * from './inversion/index.js';
export { LeakageFilter, type LeakageFilterOptions, type LeakageScore } from './leakage-filter.js';
export * from './learner/index.js';
export * from './metrics/index.js';
export * from './model/index.js';
export { writeGreyPng } from './png.js';
export * from './report/index.js';
