export { ClientRunner, type ClientRunnerOptions, type TaskFault } from './client.js';
export { PeerEndpoint } from './peer.js';
export { ENGINE_DEFAULTS, ServerEngine, type ServerEngineOptions } from './server.js';
