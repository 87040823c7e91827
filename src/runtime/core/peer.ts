/**
 * Peer messaging (NVFlare 2.3's aux channel): any party sends a request on a topic to one, many
 * or all other parties of the same job and gets one reply per party. Split learning carries its
 * activations and gradients on it.
 */
import type { Payload, ReturnCode } from './messages.js';

/** The server's name as a peer-messaging target. */
export const SERVER = 'server';
/** Every other party of the job (the server and every other site). */
export const ALL = '@ALL';
/**
 * A site name becomes a folder name in workspaces, so it may not start with a dot (".", "..")
 * or hold a separator.
 */
export const SITE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export type PeerTarget = string | readonly string[];

export interface PeerRequest {
  /** The party that sent the request. */
  readonly from: string;
  readonly topic: string;
  readonly payload: Payload | null;
  /** Aborted when the request times out or the job stops. */
  readonly signal: AbortSignal;
}

export interface PeerReply {
  readonly rc: ReturnCode;
  readonly payload: Payload | null;
  /** Safe reason when `rc` is not `ok`. */
  readonly reason?: string;
}

export type PeerHandler = (request: PeerRequest) => Promise<Payload | null> | Payload | null;

export interface PeerRequestOptions {
  /** Per-request timeout in ms; a party that has not replied by then gets `timeout`. */
  readonly timeoutMs: number;
  /** Stops waiting early (replies not yet in are `task-aborted`). */
  readonly signal?: AbortSignal;
}

export interface PeerMessenger {
  /** This party's name. */
  readonly self: string;
  /** Registers the one handler of a topic; a second registration of the same topic throws. */
  register(topic: string, handler: PeerHandler): void;
  unregister(topic: string): void;
  /**
   * Sends `payload` on `topic` to the targets (`SERVER`, `ALL`, a site name or a list) and
   * resolves with one reply per target once all replied or timed out. An unregistered topic
   * answers `topic-unknown`; a handler that throws answers `handler-exception`.
   */
  request(
    targets: PeerTarget,
    topic: string,
    payload: Payload | null,
    options: PeerRequestOptions,
  ): Promise<ReadonlyMap<string, PeerReply>>;
  /** Sends without waiting for any reply. */
  fireAndForget(targets: PeerTarget, topic: string, payload: Payload | null): void;
}
