/**
 * Chunked messages over a gRPC byte stream. A message (an engine frame, a control message) is
 * cut into chunks of at most `chunkBytes`; each chunk travels as one gRPC stream message:
 *
 * ```
 * byte 0      kind (1 = chunk)
 * bytes 1-4   message id, u32 big-endian (unique among the sender's messages in flight)
 * bytes 5-8   total message length, u32 big-endian
 * bytes 9-12  offset of this chunk in the message, u32 big-endian
 * bytes 13-   the chunk's bytes
 * ```
 * Chunks of different messages may interleave (a heartbeat is not stuck behind 100 MB of
 * weights); a message's own chunks arrive in order, as a gRPC stream keeps order. The receiver
 * enforces the size cap from the first chunk's declared length, bounds the messages in flight,
 * and drops a message whose next chunk does not arrive within the progress timeout, so a timeout
 * measures progress, never the whole transfer.
 */
import { VflareError } from '../../runtime/core/index.js';

export const CHUNK_HEADER_BYTES = 13;
const KIND_CHUNK = 1;
/** Hard ceiling of one message: the u32 length field. */
export const MAX_MESSAGE_LIMIT = 0xffff_ffff;

export function encodeChunkHeader(
  target: Uint8Array,
  id: number,
  total: number,
  offset: number,
): void {
  const view = new DataView(target.buffer, target.byteOffset, CHUNK_HEADER_BYTES);
  view.setUint8(0, KIND_CHUNK);
  view.setUint32(1, id);
  view.setUint32(5, total);
  view.setUint32(9, offset);
}

/** Splits `message` into wire chunks (each a fresh Buffer: grpc-js needs Buffers). */
export function* chunksOf(message: Uint8Array, id: number, chunkBytes: number): Generator<Buffer> {
  const total = message.byteLength;
  let offset = 0;
  do {
    const n = Math.min(chunkBytes, total - offset);
    const buf = Buffer.allocUnsafe(CHUNK_HEADER_BYTES + n);
    encodeChunkHeader(buf, id, total, offset);
    buf.set(message.subarray(offset, offset + n), CHUNK_HEADER_BYTES);
    offset += n;
    yield buf;
  } while (offset < total);
}

export interface ReassemblerOptions {
  /** Largest message accepted, in bytes. */
  readonly maxMessageBytes: number;
  /** Largest chunk payload accepted, in bytes. */
  readonly maxChunkBytes: number;
  /** Messages partially received at once; default 64. */
  readonly maxInFlight?: number;
  /** A partial message with no new chunk for this long is dropped (ms). */
  readonly progressTimeoutMs: number;
}

interface Partial {
  readonly data: Uint8Array;
  received: number;
  lastProgress: number;
}

/** A stream's receiving side: chunks in, whole messages out. One instance per stream. */
export class Reassembler {
  readonly #o: Required<ReassemblerOptions>;
  readonly #partial = new Map<number, Partial>();

  constructor(options: ReassemblerOptions) {
    this.#o = { maxInFlight: 64, ...options };
  }

  /** Messages in flight. */
  get pending(): number {
    return this.#partial.size;
  }

  /**
   * Takes one chunk; returns the completed message, or null while it is incomplete. Throws a
   * `PROTOCOL_ERROR` (or `MESSAGE_TOO_BIG`) naming what was wrong; the stream should then be
   * closed, as its state can no longer be trusted.
   */
  push(chunk: Uint8Array, now: number): Uint8Array | null {
    if (chunk.byteLength < CHUNK_HEADER_BYTES) {
      throw bad(`chunk of ${chunk.byteLength} bytes is shorter than its 13-byte header`);
    }
    const view = new DataView(chunk.buffer, chunk.byteOffset, CHUNK_HEADER_BYTES);
    const kind = view.getUint8(0);
    if (kind !== KIND_CHUNK) throw bad(`unknown chunk kind ${kind}`);
    const id = view.getUint32(1);
    const total = view.getUint32(5);
    const offset = view.getUint32(9);
    const body = chunk.subarray(CHUNK_HEADER_BYTES);
    if (body.byteLength > this.#o.maxChunkBytes) {
      throw bad(
        `chunk of ${body.byteLength} bytes exceeds the chunk limit ${this.#o.maxChunkBytes}`,
      );
    }
    let p = this.#partial.get(id);
    if (p === undefined) {
      if (offset !== 0) throw bad(`chunk at offset ${offset} of message ${id}, never started`);
      if (total > this.#o.maxMessageBytes) {
        throw new VflareError(
          'MESSAGE_TOO_BIG',
          `incoming message of ${total} bytes exceeds the limit of ` +
            `${this.#o.maxMessageBytes} bytes`,
        );
      }
      // A one-chunk message: a plain view, no copy (the chunk buffer is ours alone).
      if (body.byteLength === total) {
        return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
      }
      if (this.#partial.size >= this.#o.maxInFlight) {
        throw bad(`more than ${this.#o.maxInFlight} messages in flight on one stream`);
      }
      p = { data: new Uint8Array(total), received: 0, lastProgress: now };
      this.#partial.set(id, p);
    } else if (total !== p.data.byteLength || offset !== p.received) {
      throw bad(`chunk of message ${id} out of order or with a changed length`);
    }
    if (body.byteLength === 0 || offset + body.byteLength > total) {
      throw bad(`chunk of message ${id} is empty or overruns the declared length ${total}`);
    }
    p.data.set(body, offset);
    p.received += body.byteLength;
    p.lastProgress = now;
    if (p.received < total) return null;
    this.#partial.delete(id);
    return p.data;
  }

  /** Drops messages without progress for the timeout; returns their ids. */
  sweep(now: number): number[] {
    const dropped: number[] = [];
    for (const [id, p] of this.#partial) {
      if (now - p.lastProgress > this.#o.progressTimeoutMs) {
        this.#partial.delete(id);
        dropped.push(id);
      }
    }
    return dropped;
  }

  clear(): void {
    this.#partial.clear();
  }
}

function bad(reason: string): VflareError {
  return new VflareError('PROTOCOL_ERROR', `malformed chunk: ${reason}`);
}
