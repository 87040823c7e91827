/**
 * Real deployment: provisioning (root CA, startup kits), job signing, the gRPC transport with
 * mutual TLS, the server and site processes, the job store and scheduler, role-based
 * authorisation, the admin `Session` API and POC mode. See docs/deployment.md.
 */
export { CONSOLE_HELP, parseCommand, renderText, runCommand } from './admin/console.js';
export type { AdminReply, AdminRequest, SystemStatus } from './admin/protocol.js';
export {
  type MonitorOptions,
  type MonitorOutcome,
  Session,
  type SessionOptions,
} from './admin/session.js';
export * from './authz/index.js';
export { ClientProcess, type ClientProcessOptions } from './client/client-process.js';
export { FederationClient, type FederationClientOptions } from './grpc/client.js';
export { DEFAULT_LINK_SETTINGS, type LinkSettings, linkSettings } from './grpc/link.js';
export { FederationServer, type FederationServerOptions } from './grpc/server.js';
export * from './jobstore/index.js';
export {
  type PocPrepareOptions,
  type PocStartOptions,
  type PocStopOptions,
  pocPrepare,
  pocStart,
  pocStop,
} from './poc/poc.js';
export * from './provision/index.js';
export {
  type Candidate,
  type Decision as ScheduleDecision,
  type Placement,
  place,
  ResourceLedger,
  type Resources,
  Scheduler,
  type SchedulerOptions,
} from './scheduler/index.js';
export { ServerProcess, type ServerProcessOptions } from './server/server-process.js';
export * from './signing/index.js';
