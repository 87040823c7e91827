/**
 * One gRPC bidirectional stream carrying whole messages: chunking and reassembly
 * (`chunks.ts`), the size cap at the sender, flow control with a progress timeout, and a clean
 * close with a reason. Used on both sides, for the control stream and for every job stream.
 *
 * Flow control is ours, by credit: grpc-js server streams accept writes without bound (they
 * never report backpressure, so a peer that stops reading would make the sender buffer without
 * limit and never time out). The receiver acknowledges the chunk bytes it has consumed
 * (`ACK`: byte 0 = 2, bytes 1-4 = bytes consumed, u32 big-endian) at least every `ACK_EVERY`
 * bytes; the sender keeps at most `window` unacknowledged bytes in flight and fails the send
 * when no acknowledgement arrives for the progress timeout.
 */
import type { Duplex } from 'node:stream';
import { type Logger, VflareError } from '../../runtime/core/index.js';
import { CHUNK_HEADER_BYTES, MAX_MESSAGE_LIMIT, Reassembler, wireUnitsOf } from './chunks.js';

const KIND_ACK = 2;
const ACK_BYTES = 5;
/** The receiver acknowledges at least this often (bytes consumed). */
const ACK_EVERY = 1024 * 1024;

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
  /** Runs only while a message is partially received (idle links cost no timer wake-ups). */
  #sweeper: NodeJS.Timeout | undefined;
  #nextId = 1;
  #closed: string | undefined;
  /** Bytes sent and not yet acknowledged by the peer. */
  #unacked = 0;
  /** Bytes received and not yet acknowledged to the peer. */
  #toAck = 0;
  readonly #window: number;
  #creditWaiters: Array<() => void> = [];

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
    this.#window = Math.max(16 * 1024 * 1024, 4 * (settings.chunkBytes + CHUNK_HEADER_BYTES));
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
    for (const unit of wireUnitsOf(message, id, this.#settings.chunkBytes)) {
      let bytes = 0;
      for (const part of unit) bytes += part.byteLength;
      while (this.#unacked > 0 && this.#unacked + bytes > this.#window) {
        await this.#credit();
      }
      if (this.#closed !== undefined) {
        throw new VflareError('PEER_FAILED', `link closed: ${this.#closed}`);
      }
      this.#unacked += bytes;
      // A unit's parts go out back to back: no await between them, so no other message's
      // chunk can come between a header and its bytes.
      let flowing = true;
      for (const part of unit) flowing = this.#stream.write(part) && flowing;
      if (!flowing) await this.#drained();
    }
  }

  /** Waits for the peer's next acknowledgement, at most the progress timeout. */
  #credit(): Promise<void> {
    return new Promise((resolve, reject) => {
      const ms = this.#settings.progressTimeoutMs;
      const timer = setTimeout(() => {
        this.#creditWaiters = this.#creditWaiters.filter((w) => w !== wake);
        this.close(`no send progress for ${ms} ms`);
        reject(new VflareError('TASK_TIMEOUT', `peer accepted no data for ${ms} ms; link closed`));
      }, ms);
      const wake = () => {
        clearTimeout(timer);
        if (this.#closed !== undefined) {
          reject(new VflareError('PEER_FAILED', `link closed: ${this.#closed}`));
        } else resolve();
      };
      this.#creditWaiters.push(wake);
    });
  }

  #wakeSenders(): void {
    const waiters = this.#creditWaiters;
    this.#creditWaiters = [];
    for (const w of waiters) w();
  }

  #onAck(chunk: Buffer): void {
    const credit = chunk.byteLength === ACK_BYTES ? chunk.readUInt32BE(1) : -1;
    if (credit < 0 || credit > this.#unacked) {
      this.#log.warn({}, 'refused a malformed acknowledgement; closing this stream');
      this.close('malformed chunk: bad acknowledgement');
      return;
    }
    this.#unacked -= credit;
    this.#wakeSenders();
  }

  #ack(force: boolean): void {
    if (this.#toAck === 0 || (!force && this.#toAck < ACK_EVERY)) return;
    const ack = Buffer.allocUnsafe(ACK_BYTES);
    ack.writeUInt8(KIND_ACK, 0);
    ack.writeUInt32BE(this.#toAck, 1);
    this.#toAck = 0;
    this.#stream.write(ack);
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
    if (!this.#reassembler.awaitingBytes && chunk.byteLength > 0 && chunk[0] === KIND_ACK) {
      this.#onAck(chunk);
      return;
    }
    let message: Uint8Array | null;
    try {
      message = this.#reassembler.push(chunk, performance.now());
    } catch (err) {
      const reason = err instanceof VflareError ? err.message : 'undecodable chunk';
      this.#log.warn({ reason }, 'refused a malformed stream message; closing this stream');
      this.close(reason);
      return;
    }
    if (this.#reassembler.pending > 0 && this.#sweeper === undefined) {
      const period = Math.max(50, Math.min(1000, this.#settings.progressTimeoutMs / 4));
      this.#sweeper = setInterval(() => this.#sweep(), period);
      this.#sweeper.unref();
    }
    this.#toAck += chunk.byteLength;
    // Acknowledge every ACK_EVERY bytes, and at each message end so small traffic is settled.
    this.#ack(message !== null);
    if (message !== null) this.#handlers.onMessage(message);
  }

  #sweep(): void {
    if (this.#reassembler.pending === 0) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
      return;
    }
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
    this.#wakeSenders();
    clearInterval(this.#sweeper);
    this.#reassembler.clear();
    this.#handlers.onClose(reason);
  }
}

export { CHUNK_HEADER_BYTES };
