/**
 * In-memory driver: server and sites in one process. Frames are the codec's real bytes (the
 * engine encodes and decodes every message exactly as it will on the network); they are handed
 * over asynchronously (a microtask per frame, in order per link) so nothing re-enters the
 * sender's call stack, as with a socket.
 *
 * A link can be cut (`sever`) to simulate a site that vanished: frames in both directions are
 * silently dropped, as a dead network would, and no close is signalled.
 *
 * Isolation: decoded tensors view their frame's memory, so two parties must never receive the
 * same buffer (a site training in place would change another site's copy). The sender says how
 * it hands a frame over (`FrameSendOptions`): a frame flagged `shared` (a broadcast encoded once
 * for all its sites, a peer request forwarded to several targets) is delivered to every
 * recipient as a private copy; any other frame is handed over as it is, since the sender gives
 * it up (the driver contract: a frame is not touched after `send`). Trusting the flag instead of
 * remembering every delivered frame (a WeakSet until 2026-12) keeps the per-frame cost at a
 * queued microtask: weak-set entries cost every garbage collection.
 */
import { VflareError } from '../core/errors.js';
import type {
  ClientEndpoint,
  ClientFrameHandlers,
  ServerEndpoint,
  ServerFrameHandlers,
} from './driver.js';

export interface InMemoryNetworkOptions {
  /** Largest frame accepted, in bytes; default 2 GiB. */
  readonly maxFrameBytes?: number;
}

interface Link {
  readonly site: string;
  handlers: ClientFrameHandlers | undefined;
  severed: boolean;
}

/** Counters for tests and benchmarks. */
export interface NetworkStats {
  frames: number;
  bytes: number;
}

/** One server and any number of site links, wired in memory. */
export class InMemoryNetwork {
  readonly #links = new Map<string, Link>();
  readonly #maxFrameBytes: number;
  #server: ServerFrameHandlers | undefined;
  readonly stats: NetworkStats = { frames: 0, bytes: 0 };

  constructor(options: InMemoryNetworkOptions = {}) {
    this.#maxFrameBytes = options.maxFrameBytes ?? 2 ** 31;
  }

  /** The server endpoint (one per network). */
  server(): ServerEndpoint {
    return {
      start: async (handlers) => {
        this.#server = handlers;
      },
      send: async (site, frame, options) => {
        const link = this.#links.get(site);
        if (link?.handlers === undefined) {
          throw new VflareError('PEER_FAILED', `site "${site}" is not connected`, {
            context: { site },
          });
        }
        this.#check(frame);
        if (link.severed) return;
        const handlers = link.handlers;
        const own = options?.shared === true ? copyOf(frame) : frame;
        queueMicrotask(() => handlers.onFrame(own));
      },
      connectedSites: () =>
        [...this.#links.values()].filter((l) => l.handlers !== undefined).map((l) => l.site),
      close: async () => {
        this.#server = undefined;
        for (const link of this.#links.values()) {
          const handlers = link.handlers;
          link.handlers = undefined;
          if (handlers?.onClose) queueMicrotask(() => handlers.onClose?.('server closed'));
        }
      },
    };
  }

  /** A client endpoint authenticated as `site`. */
  client(site: string): ClientEndpoint {
    const link: Link = { site, handlers: undefined, severed: false };
    return {
      identity: site,
      connect: async (handlers) => {
        if (this.#server === undefined) {
          throw new VflareError('PEER_FAILED', `site "${site}": no server is listening`);
        }
        link.handlers = handlers;
        link.severed = false;
        this.#links.set(site, link);
      },
      send: async (frame) => {
        const server = this.#server;
        if (server === undefined || link.handlers === undefined) {
          throw new VflareError('PEER_FAILED', `site "${site}": not connected to the server`);
        }
        this.#check(frame);
        if (link.severed) return;
        queueMicrotask(() => server.onFrame(site, frame));
      },
      close: async () => {
        if (link.handlers === undefined) return;
        link.handlers = undefined;
        const server = this.#server;
        if (server?.onDisconnect && !link.severed) {
          queueMicrotask(() => server.onDisconnect?.(site));
        }
      },
    };
  }

  /** Drops every frame to and from `site` from now on, silently (a vanished site). */
  sever(site: string): void {
    const link = this.#links.get(site);
    if (link) link.severed = true;
  }

  #check(frame: Uint8Array): void {
    if (frame.byteLength > this.#maxFrameBytes) {
      throw new VflareError(
        'MESSAGE_TOO_BIG',
        `frame of ${frame.byteLength} bytes exceeds the limit of ${this.#maxFrameBytes} bytes`,
      );
    }
    this.stats.frames++;
    this.stats.bytes += frame.byteLength;
  }
}

/** A private copy (not `frame.slice()`: on a Node Buffer that is a view, not a copy). */
function copyOf(frame: Uint8Array): Uint8Array {
  return new Uint8Array(frame);
}
