/**
 * One gRPC bidirectional stream carrying whole messages: chunking and reassembly
 * (`chunks.ts`), the size cap at the sender, flow control with a progress timeout, and a clean
 * close with a reason. Used on both sides, for the control stream and for every job stream.
 */
import type { Duplex } from 'node:stream';
import { type Logger, VflareError } from '../../runtime/core/index.js';
import { CHUNK_HEADER_BYTES, chunksOf, MAX_MESSAGE_LIMIT, Reassembler } from './chunks.js';

export interface LinkSettings {
  /** Largest message sent or accepted; default 1 GiB. */
  readonly maxMessageBytes: number;
  /** Chunk size; default 1 MiB. */
  readonly chunkBytes: number;
  /** A transfer with no progress for this long fails; default 60 s. */
  readonly progressTimeoutMs: number;
}

export const DEFAULT_LINK_SETTINGS: LinkSettings = {
  maxMessageBytes: 1024 ** 3,
  chunkBytes: 1024 ** 2,
  progressTimeoutMs: 60_000,
};

export function linkSettings(
  partial: Readonly<Record<string, number | undefined>> | undefined,
): LinkSettings {
  const s = { ...DEFAULT_LINK_SETTINGS };
  for (const k of Object.keys(s) as (keyof LinkSettings)[]) {
    const v = partial?.[k];
    if (v !== undefined) (s as Record<string, number>)[k] = v;
  }
  if (s.maxMessageBytes > MAX_MESSAGE_LIMIT) {
    throw new VflareError('INVALID_CONFIG', `maxMessageBytes must be at most ${MAX_MESSAGE_LIMIT}`);
  }
  return s;
}

export interface LinkHandlers {
  onMessage(message: Uint8Array): void;
  /** Called once, when the stream ended for any reason. */
  onClose(reason: string): void;
}

/** The stream-ending side effect differs: servers send a status, clients cancel. */
export type Terminate = (reason: string) => void;

export class Link {
  readonly #stream: Duplex;
  readonly #settings: LinkSettings;
  readonly #log: Logger;
  readonly #handlers: LinkHandlers;
  readonly #terminate: Terminate;
  readonly #reassembler: Reassembler;
  readonly #sweeper: NodeJS.Timeout;
  #nextId = 1;
  #closed: string | undefined;

  constructor(
    stream: Duplex,
    settings: LinkSettings,
    log: Logger,
    handlers: LinkHandlers,
    terminate: Terminate,
  ) {
    this.#stream = stream;
    this.#settings = settings;
    this.#log = log;
    this.#handlers = handlers;
    this.#terminate = terminate;
    this.#reassembler = new Reassembler({
      maxMessageBytes: settings.maxMessageBytes,
      maxChunkBytes: Math.max(settings.chunkBytes, DEFAULT_LINK_SETTINGS.chunkBytes),
      progressTimeoutMs: settings.progressTimeoutMs,
    });
    stream.on('data', (chunk: Buffer) => this.#onChunk(chunk));
    stream.on('error', (err: Error & { details?: string }) =>
      this.#finish(err.details ?? err.message ?? 'stream error'),
    );
    stream.on('end', () => {
      // The peer half-closed: close our side too (after what we already wrote), then finish.
      if (this.#closed === undefined) this.#stream.end();
      this.#finish('stream ended by the peer');
    });
    stream.on('close', () => this.#finish('stream closed'));
    const period = Math.max(50, Math.min(1000, settings.progressTimeoutMs / 4));
    this.#sweeper = setInterval(() => this.#sweep(), period);
    this.#sweeper.unref();
  }

  get closed(): boolean {
    return this.#closed !== undefined;
  }

  /**
   * Sends one message. Rejects with `MESSAGE_TOO_BIG` before sending anything when it is over
   * the limit, with `PEER_FAILED` when the stream is closed, and with `TASK_TIMEOUT` when the
   * peer stops accepting data for the progress timeout (the link is closed then).
   */
  async send(message: Uint8Array): Promise<void> {
    const max = this.#settings.maxMessageBytes;
    if (message.byteLength > max) {
      throw new VflareError(
        'MESSAGE_TOO_BIG',
        `message too big: ${message.byteLength} bytes exceeds the limit of ${max} bytes ` +
          '(transport.maxMessageBytes in the startup kits)',
      );
    }
    const id = this.#nextId;
    this.#nextId = this.#nextId >= 0xffff_fffe ? 1 : this.#nextId + 1;
    for (const chunk of chunksOf(message, id, this.#settings.chunkBytes)) {
      if (this.#closed !== undefined) {
        throw new VflareError('PEER_FAILED', `link closed: ${this.#closed}`);
      }
      if (!this.#stream.write(chunk)) await this.#drained();
    }
  }

  close(reason: string): void {
    if (this.#closed !== undefined) return;
    this.#terminate(reason);
    this.#finish(reason);
  }

  #drained(): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (err?: VflareError) => {
        clearTimeout(timer);
        this.#stream.off('drain', onDrain);
        this.#stream.off('close', onClose);
        if (err) reject(err);
        else resolve();
      };
      const onDrain = () => done();
      const onClose = () => done(new VflareError('PEER_FAILED', 'link closed while sending'));
      const timer = setTimeout(() => {
        const ms = this.#settings.progressTimeoutMs;
        this.close(`no send progress for ${ms} ms`);
        done(new VflareError('TASK_TIMEOUT', `peer accepted no data for ${ms} ms; link closed`));
      }, this.#settings.progressTimeoutMs);
      this.#stream.on('drain', onDrain);
      this.#stream.on('close', onClose);
    });
  }

  #onChunk(chunk: Buffer): void {
    if (this.#closed !== undefined) return;
    let message: Uint8Array | null;
    try {
      message = this.#reassembler.push(chunk, performance.now());
    } catch (err) {
      const reason = err instanceof VflareError ? err.message : 'undecodable chunk';
      this.#log.warn({ reason }, 'refused a malformed stream message; closing this stream');
      this.close(reason);
      return;
    }
    if (message !== null) this.#handlers.onMessage(message);
  }

  #sweep(): void {
    for (const id of this.#reassembler.sweep(performance.now())) {
      this.#log.warn(
        { messageId: id, progressTimeoutMs: this.#settings.progressTimeoutMs },
        'dropped an incoming message that made no progress',
      );
    }
  }

  #finish(reason: string): void {
    if (this.#closed !== undefined) return;
    this.#closed = reason;
    clearInterval(this.#sweeper);
    this.#reassembler.clear();
    this.#handlers.onClose(reason);
  }
}

export { CHUNK_HEADER_BYTES };
