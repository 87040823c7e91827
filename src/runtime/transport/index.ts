export { decodeMessage, encodeMessage, registerPayloadValidator } from './codec.js';
export type {
  ClientEndpoint,
  ClientFrameHandlers,
  FrameSendOptions,
  ServerEndpoint,
  ServerFrameHandlers,
} from './driver.js';
export { InMemoryNetwork, type InMemoryNetworkOptions, type NetworkStats } from './memory.js';
export type * from './wire.js';
