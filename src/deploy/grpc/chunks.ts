/**
 * Chunked messages over a gRPC byte stream. A message (an engine frame, a control message) is
 * cut into chunks of at most `chunkBytes`; each chunk travels as one gRPC stream message with a
 * header, in one of three layouts:
 *
 * ```
 * byte 0      kind: 1 = header and bytes, 3 = header only (bytes follow), 4 = padded header
 * bytes 1-4   message id, u32 big-endian (unique among the sender's messages in flight)
 * bytes 5-8   total message length, u32 big-endian
 * bytes 9-12  offset of this chunk in the message, u32 big-endian
 * kind 1      bytes 13-  the chunk's bytes
 * kind 3      nothing more: the very next gRPC message on the stream is the chunk's bytes, raw
 * kind 4      bytes 13-18 zero, bytes 19-  the chunk's bytes
 * ```
 * Why three: the sender must not copy a 100 MB frame into chunk buffers only to have grpc-js
 * copy each chunk again when it frames it. A header-only chunk lets the bytes go out as a view
 * of the message (kind 3: grpc-js's framing copy is the only one). A message that fits in one
 * chunk is instead sent as kind 4: grpc-js hands the receiver each message 5 bytes into a fresh
 * buffer, so the 19-byte header puts the bytes on an 8-byte boundary and the codec can view the
 * tensors of a small frame in place instead of copying each of them. Kind 1 is the original
 * layout, still accepted.
 *
 * Chunks of different messages may interleave (a heartbeat is not stuck behind 100 MB of
 * weights), but a kind-3 header and its bytes are always adjacent; a message's own chunks
 * arrive in order, as a gRPC stream keeps order. The receiver enforces the size cap from the
 * first chunk's declared length, bounds the messages in flight, and drops a message whose next
 * chunk does not arrive within the progress timeout, so a timeout measures progress, never the
 * whole transfer.
 */
import { VflareError } from '../../runtime/core/index.js';

export const CHUNK_HEADER_BYTES = 13;
/** Header of a kind-4 chunk: its bytes start 8-aligned in grpc-js's receive buffer. */
export const PADDED_HEADER_BYTES = 19;
const KIND_CHUNK = 1;
const KIND_HEAD = 3;
const KIND_PADDED = 4;
/**
 * Chunks smaller than this are copied behind their header (one gRPC message) rather than sent
 * as a header and a view (two): below it, a second message costs more than the copy.
 */
const VIEW_MIN_BYTES = 64 * 1024;
/** Hard ceiling of one message: the u32 length field. */
export const MAX_MESSAGE_LIMIT = 0xffff_ffff;

export function encodeChunkHeader(
  target: Uint8Array,
  id: number,
  total: number,
  offset: number,
  kind: 1 | 3 | 4 = KIND_CHUNK,
): void {
  const view = new DataView(target.buffer, target.byteOffset, CHUNK_HEADER_BYTES);
  view.setUint8(0, kind);
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

/** A view of `bytes` as a Buffer (grpc-js needs Buffers), sharing its memory. */
function bufferView(bytes: Uint8Array, start: number, end: number): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start);
}

/**
 * Splits `message` into the gRPC messages that carry it, grouped in units that must be written
 * back to back (nothing else between them), without copying large chunks. A message that fits
 * in one chunk is one padded chunk (kind 4). Otherwise each chunk is a header (kind 3) and a
 * view of the chunk's bytes, or, for a chunk under 64 KiB, one kind-1 chunk. The views share
 * the message's memory, so the caller must not change the message until they are written.
 * `viewMinBytes` (default 64 KiB) is the smallest chunk sent as a view.
 */
export function* wireUnitsOf(
  message: Uint8Array,
  id: number,
  chunkBytes: number,
  viewMinBytes = VIEW_MIN_BYTES,
): Generator<readonly Buffer[]> {
  const total = message.byteLength;
  if (total <= chunkBytes) {
    const buf = Buffer.allocUnsafe(PADDED_HEADER_BYTES + total);
    encodeChunkHeader(buf, id, total, 0, KIND_PADDED);
    buf.fill(0, CHUNK_HEADER_BYTES, PADDED_HEADER_BYTES);
    buf.set(message, PADDED_HEADER_BYTES);
    yield [buf];
    return;
  }
  let offset = 0;
  while (offset < total) {
    const n = Math.min(chunkBytes, total - offset);
    if (n < viewMinBytes) {
      const buf = Buffer.allocUnsafe(CHUNK_HEADER_BYTES + n);
      encodeChunkHeader(buf, id, total, offset);
      buf.set(message.subarray(offset, offset + n), CHUNK_HEADER_BYTES);
      yield [buf];
    } else {
      const head = Buffer.allocUnsafe(CHUNK_HEADER_BYTES);
      encodeChunkHeader(head, id, total, offset, KIND_HEAD);
      yield [head, bufferView(message, offset, offset + n)];
    }
    offset += n;
  }
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

/** A kind-3 header whose bytes are the next stream message. */
interface Awaited {
  readonly id: number;
  readonly total: number;
  readonly offset: number;
}

/** A stream's receiving side: chunks in, whole messages out. One instance per stream. */
export class Reassembler {
  readonly #o: Required<ReassemblerOptions>;
  readonly #partial = new Map<number, Partial>();
  #awaited: Awaited | undefined;

  constructor(options: ReassemblerOptions) {
    this.#o = { maxInFlight: 64, ...options };
  }

  /** Messages in flight. */
  get pending(): number {
    return this.#partial.size;
  }

  /**
   * True when the next stream message is the raw bytes of a chunk whose header came before
   * (so it must not be read as a chunk or an acknowledgement by its first byte).
   */
  get awaitingBytes(): boolean {
    return this.#awaited !== undefined;
  }

  /**
   * Takes one stream message (a chunk, a header, or the bytes a header announced); returns the
   * completed message, or null while it is incomplete. Throws a `PROTOCOL_ERROR` (or
   * `MESSAGE_TOO_BIG`) naming what was wrong; the stream should then be closed, as its state can
   * no longer be trusted.
   */
  push(chunk: Uint8Array, now: number): Uint8Array | null {
    const awaited = this.#awaited;
    if (awaited !== undefined) {
      this.#awaited = undefined;
      return this.#take(awaited.id, awaited.total, awaited.offset, chunk, now);
    }
    if (chunk.byteLength < CHUNK_HEADER_BYTES) {
      throw bad(`chunk of ${chunk.byteLength} bytes is shorter than its 13-byte header`);
    }
    const view = new DataView(chunk.buffer, chunk.byteOffset, CHUNK_HEADER_BYTES);
    const kind = view.getUint8(0);
    const id = view.getUint32(1);
    const total = view.getUint32(5);
    const offset = view.getUint32(9);
    switch (kind) {
      case KIND_CHUNK:
        return this.#take(id, total, offset, chunk.subarray(CHUNK_HEADER_BYTES), now);
      case KIND_PADDED:
        if (chunk.byteLength < PADDED_HEADER_BYTES) {
          throw bad(`chunk of ${chunk.byteLength} bytes is shorter than its 19-byte header`);
        }
        return this.#take(id, total, offset, chunk.subarray(PADDED_HEADER_BYTES), now);
      case KIND_HEAD:
        if (chunk.byteLength !== CHUNK_HEADER_BYTES) {
          throw bad(`header-only chunk of ${chunk.byteLength} bytes (expected 13)`);
        }
        // Check what can be checked now, so a bad header fails before its bytes arrive.
        this.#check(id, total, offset);
        this.#awaited = { id, total, offset };
        return null;
      default:
        throw bad(`unknown chunk kind ${kind}`);
    }
  }

  /** Header checks common to every layout; returns the message's partial state, if started. */
  #check(id: number, total: number, offset: number): Partial | undefined {
    const p = this.#partial.get(id);
    if (p === undefined) {
      if (offset !== 0) throw bad(`chunk at offset ${offset} of message ${id}, never started`);
      if (total > this.#o.maxMessageBytes) {
        throw new VflareError(
          'MESSAGE_TOO_BIG',
          `incoming message of ${total} bytes exceeds the limit of ` +
            `${this.#o.maxMessageBytes} bytes`,
        );
      }
    } else if (total !== p.data.byteLength || offset !== p.received) {
      throw bad(`chunk of message ${id} out of order or with a changed length`);
    }
    return p;
  }

  #take(id: number, total: number, offset: number, body: Uint8Array, now: number) {
    if (body.byteLength > this.#o.maxChunkBytes) {
      throw bad(
        `chunk of ${body.byteLength} bytes exceeds the chunk limit ${this.#o.maxChunkBytes}`,
      );
    }
    let p = this.#check(id, total, offset);
    if (p === undefined) {
      // A one-chunk message: a plain view, no copy (the chunk buffer is ours alone).
      if (body.byteLength === total) {
        return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
      }
      if (this.#partial.size >= this.#o.maxInFlight) {
        throw bad(`more than ${this.#o.maxInFlight} messages in flight on one stream`);
      }
      // Uninitialised memory is safe here: the message is handed out only once every byte of
      // it was written from a chunk (offsets are checked to be contiguous), and a dropped
      // message is never read. Zero-filling 100 MB would cost as much as the copy itself.
      const data = new Uint8Array(Buffer.allocUnsafeSlow(total).buffer, 0, total);
      p = { data, received: 0, lastProgress: now };
      this.#partial.set(id, p);
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
    this.#awaited = undefined;
  }
}

function bad(reason: string): VflareError {
  return new VflareError('PROTOCOL_ERROR', `malformed chunk: ${reason}`);
}
