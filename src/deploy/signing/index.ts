export {
  SIGNATURE_FILE,
  SIGNER_FILE,
  signJobFolder,
  type VerifyResult,
  verifyJobFolder,
} from './signing.js';
