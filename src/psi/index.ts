/**
 * Private set intersection: OpenMined-compatible two-party ECDH PSI, a native-speed x-only
 * mode, and the N-site workflow on the vflare runtime. See docs/psi.md.
 */
export { BloomFilter, type BloomProbing } from './bloom.js';
export { components, psiController, psiExecutor } from './components.js';
export { PsiExecutor, type PsiExecutorOptions, RESULT_FILE } from './executor.js';
export {
  countDuplicates,
  formatTextItems,
  type ItemSource,
  loadItems,
  parseCsvColumn,
  parseTextItems,
} from './loaders.js';
export { PSI_TASK, type PsiSessionOptions } from './messages.js';
export { forwardRound, type Pairing, type SiteSize, sortBySize } from './plan.js';
export { PsiPool, sharedPool } from './pool.js';
export { PsiClient, PsiServer, type SessionOptions, type SetupOptions } from './protocol.js';
export { type RunPsiOptions, type RunPsiResult, runPsi } from './run.js';
export { CONTAINER_KINDS, type ContainerKind } from './sizing.js';
export {
  decodeRequest,
  decodeResponse,
  decodeSetup,
  encodeRequest,
  encodeResponse,
  encodeSetup,
  PSI_MODES,
  type PsiMode,
  type PsiRequest,
  type PsiResponse,
  type ServerSetup,
} from './wire.js';
export { PsiController, type PsiControllerOptions } from './workflow.js';
