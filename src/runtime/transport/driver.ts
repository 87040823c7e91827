/**
 * The transport driver contract. The engine talks to sites only through these two endpoints,
 * so a network driver (gRPC or WebSocket over mTLS) plugs in without any engine change.
 *
 * A driver moves opaque frames (`Uint8Array`, produced by `codec.ts`) between the server and
 * authenticated sites. It owns identity: every frame the server receives is tagged with the site
 * the driver authenticated (the mTLS certificate's CN on the network, the link in memory), and
 * the engine never trusts a name written inside a message. All timeouts are relative durations
 * in milliseconds, so clocks of different machines never need to agree.
 */

/** What the server engine gives a server endpoint. */
export interface ServerFrameHandlers {
  /** A frame from an authenticated site. Must not throw; bad frames are the engine's problem. */
  onFrame(site: string, frame: Uint8Array): void;
  /** The site's link closed (it may reconnect later). */
  onDisconnect?(site: string): void;
}

/** Hints for `ServerEndpoint.send`. */
export interface FrameSendOptions {
  /**
   * The sender keeps no reference to the frame and nothing else views its memory (e.g. a peer
   * message forwarded unchanged to its only target), so an in-process driver may hand the same
   * buffer over instead of copying it. This is also what a send without `shared` means: the
   * flag only documents it at call sites. Network drivers ignore it.
   */
  readonly transfer?: boolean;
  /**
   * The sender keeps the frame and may send the same bytes to other sites (a broadcast encoded
   * once for every site that gets identical data, a peer request forwarded to several targets).
   * An in-process driver must then hand every recipient its own copy, never the frame itself,
   * because decoded tensors view the frame's memory and a site may change them in place.
   * Without it, the frame is given up to its one recipient. Network drivers ignore it (writing
   * to a socket copies anyway).
   */
  readonly shared?: boolean;
}

/** The server's side of a driver: receives from and sends to sites by identity. */
export interface ServerEndpoint {
  /** Starts delivering frames to `handlers`. */
  start(handlers: ServerFrameHandlers): Promise<void>;
  /**
   * Sends a frame to a connected site. Rejects with `VflareError('PEER_FAILED')` when the site
   * is not connected, or `MESSAGE_TOO_BIG` over the driver's size limit. The frame must not be
   * modified afterwards (drivers may send it without copying).
   */
  send(site: string, frame: Uint8Array, options?: FrameSendOptions): Promise<void>;
  /** Sites connected now. */
  connectedSites(): readonly string[];
  close(): Promise<void>;
}

/** What a client runner gives a client endpoint. */
export interface ClientFrameHandlers {
  /** A frame from the server. Must not throw. */
  onFrame(frame: Uint8Array): void;
  /** The link closed (by either side, or lost). */
  onClose?(reason: string): void;
}

/** A site's side of a driver: one authenticated link to the server. */
export interface ClientEndpoint {
  /** The identity the server sees for this link (the site's name). */
  readonly identity: string;
  /** Connects; frames flow to `handlers` from then on. */
  connect(handlers: ClientFrameHandlers): Promise<void>;
  /** Sends a frame to the server; same failure modes as `ServerEndpoint.send`. */
  send(frame: Uint8Array): Promise<void>;
  close(): Promise<void>;
}
