export { type CertIdentity, chainProblem, identityOf, kitProblem } from './identity.js';
export {
  KIT_FILES,
  KIT_FORMAT,
  type KitConfig,
  type KitKind,
  kitConfigSchema,
  loadKit,
  type StartupKit,
  transportSettingsSchema,
  writeKit,
} from './kit.js';
export {
  ADMIN_ROLES,
  type AdminRole,
  createRootCa,
  type IssuedIdentity,
  isAdminRole,
  issueIdentity,
  loadRootCa,
  type PartyRole,
  type PartySpec,
  type RootCa,
  type ValidityOptions,
} from './pki.js';
export {
  type AdminSpec,
  type ProvisionOptions,
  type ProvisionResult,
  parseAdmins,
  parseEndpoint,
  parseSites,
  parseTransport,
  provision,
  type SiteSpec,
} from './provision.js';
