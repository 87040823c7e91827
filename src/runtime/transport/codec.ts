/**
 * Binary codec for wire messages. A frame is a small msgpack header (msgpackr) followed by the
 * raw bytes of every typed array the message carries, each 8-byte aligned:
 *
 *   bytes 0-1  magic "VF"          byte 2  format version (1)     byte 3  flags (0)
 *   bytes 4-7  header length, u32 little-endian
 *   header     msgpack; a typed array appears as extension 0x56 = [dtype, offset, byteLength]
 *   padding    zeros up to the next multiple of 8
 *   blobs      the arrays' bytes, offsets relative to the start of this section, 8-aligned
 *
 * Encoding copies each array's bytes once; decoding views them in place when the frame's memory
 * is aligned for the element type (and copies otherwise), so tensor data is never converted
 * element by element and survives bit-exactly. Decoding validates the whole message and throws
 * `VflareError('CODEC_FAILED')` on any malformed input; it never returns a partly checked value.
 *
 * Byte order: typed arrays are carried in the platform's order, which is little-endian on every
 * platform Node supports in practice; the module refuses to load on a big-endian host.
 */
import { endianness } from 'node:os';
import { addExtension, Packr, Unpackr } from 'msgpackr';
import { describe } from '../core/assert.js';
import { VflareError } from '../core/errors.js';
import {
  type Payload,
  type PayloadMeta,
  RETURN_CODES,
  type ReturnCode,
  type TaskData,
  type TaskHeaders,
  type TaskResult,
  type Tensor,
  type TensorMap,
} from '../core/messages.js';
import type { PeerReply } from '../core/peer.js';
import type { WireMessage } from './wire.js';

if (endianness() !== 'LE') {
  throw new VflareError('UNSUPPORTED', 'vflare codec: big-endian hosts are not supported');
}

const MAGIC_0 = 0x56; // 'V'
const MAGIC_1 = 0x46; // 'F'
const VERSION = 1;
const PREFIX_BYTES = 8;
const BLOB_EXT = 0x56;
const MAX_DEPTH = 64;

type TypedArray =
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

type TypedArrayCtor = {
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): TypedArray;
  new (buffer: ArrayBufferLike): TypedArray;
  readonly BYTES_PER_ELEMENT: number;
  readonly name: string;
};

/** dtype code = index in this list; never reorder (it is the wire format). */
const DTYPES: readonly TypedArrayCtor[] = [
  Float32Array,
  Float64Array,
  Int32Array,
  Uint8Array,
  Uint32Array,
  Int8Array,
  Int16Array,
  Uint16Array,
  Uint8ClampedArray,
  BigInt64Array,
  BigUint64Array,
] as unknown as TypedArrayCtor[];

const NUMERIC_CTORS: ReadonlySet<TypedArrayCtor> = new Set(DTYPES.slice(0, 5));

/** Placeholder for a typed array inside the msgpack header. */
class BlobRef {
  constructor(
    readonly dtype: number,
    readonly offset: number,
    readonly byteLength: number,
  ) {}
}

/** Placeholder for an extension value that did not have the expected shape. */
class BadBlobRef {}

addExtension({
  Class: BlobRef,
  type: BLOB_EXT,
  write: (ref: BlobRef) => [ref.dtype, ref.offset, ref.byteLength],
  read: (datum: unknown) => {
    if (!Array.isArray(datum) || datum.length !== 3) return new BadBlobRef();
    const [d, o, l] = datum as unknown[];
    if (!Number.isInteger(d) || !Number.isInteger(o) || !Number.isInteger(l)) {
      return new BadBlobRef();
    }
    return new BlobRef(d as number, o as number, l as number);
  },
});

const packr = new Packr({ useRecords: false, moreTypes: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

function codecError(message: string, cause?: unknown): VflareError {
  return new VflareError('CODEC_FAILED', message, cause === undefined ? {} : { cause });
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

// ---------------------------------------------------------------------------------------------
// Encoding

interface EncodeState {
  readonly arrays: TypedArray[];
  blobBytes: number;
}

/**
 * Thrown while lowering; carries the path segments collected on the way back up, so the path
 * string is built only when a message cannot be encoded (never on the hot path).
 */
class LowerError {
  readonly segments: string[] = [];
  constructor(readonly problem: string) {}
}

function lowerChild(value: unknown, state: EncodeState, depth: number, segment: string): unknown {
  try {
    return lower(value, state, depth);
  } catch (err) {
    if (err instanceof LowerError) err.segments.push(segment);
    throw err;
  }
}

/**
 * Checks that `value` is plain data and swaps every typed array for a `BlobRef`, copying on
 * write: an object or array is rebuilt only when something inside it changes (a typed array
 * below it, or an `undefined` field to drop); everything else is handed to msgpack as it is.
 * Most of a message (headers, meta, the message envelope) has no typed array, so it costs no
 * allocation here.
 */
function lower(value: unknown, state: EncodeState, depth: number): unknown {
  if (depth > MAX_DEPTH) throw new LowerError(`nested deeper than ${MAX_DEPTH}`);
  if (value === null || typeof value !== 'object') {
    const kind = typeof value;
    if (kind === 'string' || kind === 'number' || kind === 'boolean' || kind === 'bigint') {
      return value;
    }
    if (value === null) return value;
    throw new LowerError(`${describeKind(value)} is not plain data`);
  }
  if (ArrayBuffer.isView(value)) {
    const dtype = DTYPES.indexOf(value.constructor as TypedArrayCtor);
    if (dtype < 0) throw new LowerError(`${describe(value)} is not supported`);
    const offset = state.blobBytes;
    state.arrays.push(value as TypedArray);
    state.blobBytes = align8(offset + value.byteLength);
    return new BlobRef(dtype, offset, value.byteLength);
  }
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      if (v === undefined) {
        const err = new LowerError('undefined in an array');
        err.segments.push(`[${i}]`);
        throw err;
      }
      const low = lowerChild(v, state, depth + 1, `[${i}]`);
      if (low !== v && out === undefined) out = Array.prototype.slice.call(value, 0, i);
      if (out !== undefined) out.push(low);
    }
    // An Array subclass goes out as a plain array, so msgpack never sees its class.
    return out ?? (value.constructor === Array ? value : Array.from(value));
  }
  if (isPlainObject(value)) {
    const obj = value as Record<string, unknown>;
    let out: Record<string, unknown> | undefined;
    for (const key in obj) {
      if (!Object.hasOwn(obj, key)) continue;
      const v = obj[key];
      const low = v === undefined ? undefined : lowerChild(v, state, depth + 1, `.${key}`);
      if (low !== v || v === undefined) {
        if (out === undefined) out = copyUntil(obj, key);
      }
      if (out !== undefined && low !== undefined) out[key] = low;
    }
    // A null-prototype object goes out as an ordinary one, as msgpack expects.
    return out ?? (Object.getPrototypeOf(obj) === null ? copyUntil(obj, undefined) : obj);
  }
  throw new LowerError(`${describeKind(value)} is not plain data`);
}

/** The own enumerable fields of `obj` before `stop`, minus `undefined` ones (`lower`'s copy). */
function copyUntil(
  obj: Record<string, unknown>,
  stop: string | undefined,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key in obj) {
    if (key === stop) break;
    if (!Object.hasOwn(obj, key)) continue;
    const v = obj[key];
    if (v !== undefined) out[key] = v;
  }
  return out;
}

/** `lower` over a whole message, turning a `LowerError` into `CODEC_FAILED` with its path. */
function lowerMessage(message: WireMessage, state: EncodeState): unknown {
  try {
    return lower(message, state, 0);
  } catch (err) {
    if (!(err instanceof LowerError)) throw err;
    const path = `message${err.segments.reverse().join('')}`;
    throw codecError(`cannot encode ${path}: ${err.problem}`);
  }
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function describeKind(value: unknown): string {
  if (typeof value === 'object' && value !== null) return value.constructor?.name ?? 'object';
  return typeof value;
}

/**
 * Encodes a wire message into one frame. Throws `CODEC_FAILED` for values that are not plain
 * data (class instances, Maps, functions, DataViews) and names the path of the offending field.
 */
export function encodeMessage(message: WireMessage): Uint8Array {
  const state: EncodeState = { arrays: [], blobBytes: 0 };
  const lowered = lowerMessage(message, state);
  let header: Uint8Array;
  try {
    header = packr.pack(lowered);
  } catch (err) {
    throw codecError(`cannot encode message of type "${message.type}": msgpack failed`, err);
  }
  const blobStart = align8(PREFIX_BYTES + header.byteLength);
  const total = blobStart + state.blobBytes;
  // allocUnsafe skips zero-filling the (possibly large) blob section; every byte that is not
  // copied from the message is zeroed below, so no stale process memory leaves in a frame.
  const frame = Buffer.allocUnsafe(total);
  frame[0] = MAGIC_0;
  frame[1] = MAGIC_1;
  frame[2] = VERSION;
  frame[3] = 0;
  frame.writeUInt32LE(header.byteLength, 4);
  frame.set(header, PREFIX_BYTES);
  frame.fill(0, PREFIX_BYTES + header.byteLength, blobStart);
  let offset = blobStart;
  for (const array of state.arrays) {
    frame.set(new Uint8Array(array.buffer, array.byteOffset, array.byteLength), offset);
    const end = offset + array.byteLength;
    offset = align8(end);
    frame.fill(0, end, offset);
  }
  return frame;
}

// ---------------------------------------------------------------------------------------------
// Decoding

interface DecodeState {
  readonly frame: Uint8Array;
  readonly blobStart: number;
}

function bad(path: string, expected: string, got: unknown): never {
  throw codecError(`malformed message: ${path}: expected ${expected}, got ${describeValue(got)}`);
}

/** Like `bad`, with a ready description of what arrived. */
function badAs(path: string, expected: string, got: string): never {
  throw codecError(`malformed message: ${path}: expected ${expected}, got ${got}`);
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value instanceof BlobRef || value instanceof BadBlobRef) return 'a typed array';
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    return isPlainObject(value) ? 'an object' : describeKind(value);
  }
  return describe(value);
}

function raiseBlob(ref: BlobRef, state: DecodeState, path: string): TypedArray {
  const ctor = DTYPES[ref.dtype];
  if (ctor === undefined) badAs(path, 'a known typed-array type', `dtype ${ref.dtype}`);
  const { frame, blobStart } = state;
  const size = ctor.BYTES_PER_ELEMENT;
  const { offset, byteLength } = ref;
  if (offset < 0 || byteLength < 0 || byteLength % size !== 0) {
    badAs(path, `a byte range in whole ${ctor.name} elements`, `${byteLength} bytes`);
  }
  if (blobStart + offset + byteLength > frame.byteLength) {
    badAs(path, 'a byte range inside the frame', 'a range ending past the frame');
  }
  const abs = frame.byteOffset + blobStart + offset;
  if (abs % size === 0) return new ctor(frame.buffer, abs, byteLength / size);
  // Unaligned (e.g. a Buffer slice from a socket): copy into fresh, aligned memory.
  return new ctor(frame.buffer.slice(abs, abs + byteLength));
}

/** Validates plain data of an unknown payload kind and turns blob refs into typed arrays. */
function plain(value: unknown, state: DecodeState, path: string, depth: number): unknown {
  if (depth > MAX_DEPTH) badAs(path, `nesting at most ${MAX_DEPTH} deep`, 'deeper nesting');
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number' || typeof value === 'bigint') return value;
  if (value instanceof BlobRef) return raiseBlob(value, state, path);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      value[i] = plain(value[i], state, `${path}[${i}]`, depth + 1);
    }
    return value;
  }
  if (typeof value === 'object' && isPlainObject(value)) {
    const obj = value as Record<string, unknown>;
    for (const key of Object.keys(obj)) {
      obj[key] = plain(obj[key], state, `${path}.${key}`, depth + 1);
    }
    return obj;
  }
  return bad(path, 'plain data', value);
}

function record(value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    bad(path, 'an object', value);
  }
  if (!isPlainObject(value) || value instanceof BlobRef) bad(path, 'an object', value);
  return value as Record<string, unknown>;
}

function str(value: unknown, path: string): string {
  if (typeof value !== 'string') bad(path, 'a string', value);
  return value;
}

function num(value: unknown, path: string): number {
  if (typeof value !== 'number') bad(path, 'a number', value);
  return value;
}

function int(value: unknown, path: string, min = 0): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    bad(path, `an integer ≥ ${min}`, value);
  }
  return value;
}

function bool(value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') bad(path, 'a boolean', value);
  return value;
}

function strList(value: unknown, path: string): string[] {
  if (!Array.isArray(value)) bad(path, 'a list of strings', value);
  return value.map((v, i) => str(v, `${path}[${i}]`));
}

function numRecord(value: unknown, path: string): Record<string, number> {
  const obj = record(value, path);
  for (const key of Object.keys(obj)) num(obj[key], `${path}.${key}`);
  return obj as Record<string, number>;
}

function optional<T>(
  obj: Record<string, unknown>,
  key: string,
  path: string,
  check: (v: unknown, p: string) => T,
): T | undefined {
  const v = obj[key];
  return v === undefined || v === null ? undefined : check(v, `${path}.${key}`);
}

/** Number of own enumerable keys, without the array `Object.keys` would allocate. */
function keyCount(obj: Record<string, unknown>): number {
  let n = 0;
  for (const key in obj) if (Object.hasOwn(obj, key)) n++;
  return n;
}

/**
 * A tensor is checked where msgpack left it: its shape array and, when it has no other field,
 * the object itself are kept (the blob ref swapped for its typed array), so a decoded weight set
 * allocates no second copy of its tree. Extra fields are dropped, as for every other object.
 */
function tensorOf(value: unknown, state: DecodeState, path: string): Tensor {
  const obj = record(value, path);
  const shape = obj['shape'];
  if (!Array.isArray(shape)) bad(`${path}.shape`, 'a list of integers', shape);
  let expected = 1;
  for (let i = 0; i < shape.length; i++) expected *= int(shape[i], `${path}.shape[${i}]`);
  const ref = obj['data'];
  if (!(ref instanceof BlobRef)) bad(`${path}.data`, 'a numeric typed array', ref);
  const data = raiseBlob(ref, state, `${path}.data`);
  if (!NUMERIC_CTORS.has(data.constructor as TypedArrayCtor)) {
    bad(`${path}.data`, 'a Float32/Float64/Int32/Uint8/Uint32 array', data);
  }
  if (expected !== data.length) {
    badAs(path, `data length ${expected} for shape [${shape.join(', ')}]`, `${data.length}`);
  }
  if (keyCount(obj) !== 2) return { shape: shape as number[], data: data as Tensor['data'] };
  obj['data'] = data;
  return obj as unknown as Tensor;
}

/** Checked in place: every field of a tensor map is a tensor, so nothing is left to drop. */
function tensorMap(value: unknown, state: DecodeState, path: string): TensorMap {
  const obj = record(value, path);
  for (const key in obj) {
    if (!Object.hasOwn(obj, key)) continue;
    const item = obj[key];
    const tensor = tensorOf(item, state, `${path}.${key}`);
    if (tensor !== item) obj[key] = tensor;
  }
  return obj as unknown as TensorMap;
}

function metaOf(value: unknown, path: string): PayloadMeta {
  const obj = record(value, path);
  const meta: {
    -readonly [K in keyof PayloadMeta]: PayloadMeta[K];
  } = {};
  const steps = optional(obj, 'numStepsCurrentRound', path, num);
  if (steps !== undefined) meta.numStepsCurrentRound = steps;
  const algo = optional(obj, 'processedAlgorithm', path, str);
  if (algo !== undefined) meta.processedAlgorithm = algo;
  const history = optional(obj, 'filterHistory', path, strList);
  if (history !== undefined) meta.filterHistory = history;
  const initial = optional(obj, 'initialMetrics', path, numRecord);
  if (initial !== undefined) meta.initialMetrics = initial;
  return meta;
}

/** Validators for payload kinds other modules add; see `registerPayloadValidator`. */
const extraValidators = new Map<string, (payload: Record<string, unknown>) => void>();

/**
 * Lets a module that adds a payload kind (by augmenting `PayloadKinds`) check its structure on
 * decode. The validator gets the payload with typed arrays already in place and throws (any
 * error) when it is malformed; the codec reports that as `CODEC_FAILED`. Without a validator, a
 * payload of an unknown kind is accepted when it is plain data with a string `kind`.
 */
export function registerPayloadValidator(
  kind: string,
  validate: (payload: Record<string, unknown>) => void,
): void {
  extraValidators.set(kind, validate);
}

function payloadOf(value: unknown, state: DecodeState, path: string, depth = 0): Payload | null {
  if (value === null || value === undefined) return null;
  if (depth > MAX_DEPTH) badAs(path, `nesting at most ${MAX_DEPTH} deep`, 'deeper nesting');
  const obj = record(value, path);
  const kind = str(obj['kind'], `${path}.kind`);
  const meta = metaOf(obj['meta'], `${path}.meta`);
  switch (kind) {
    case 'weights':
    case 'weight-diff':
      return { kind, weights: tensorMap(obj['weights'], state, `${path}.weights`), meta };
    case 'statistics':
      return { kind, stats: tensorMap(obj['stats'], state, `${path}.stats`), meta };
    case 'metrics':
      return { kind, metrics: numRecord(obj['metrics'], `${path}.metrics`), meta };
    case 'collection': {
      const items = record(obj['items'], `${path}.items`);
      const out: Record<string, Payload> = {};
      for (const key of Object.keys(items)) {
        const item = payloadOf(items[key], state, `${path}.items.${key}`, depth + 1);
        if (item === null) bad(`${path}.items.${key}`, 'a payload', null);
        out[key] = item;
      }
      return { kind, items: out, meta };
    }
    default: {
      const data = plain(obj, state, path, depth) as Record<string, unknown>;
      data['meta'] = meta;
      const validate = extraValidators.get(kind);
      if (validate !== undefined) {
        try {
          validate(data);
        } catch (err) {
          throw codecError(`malformed message: ${path}: invalid "${kind}" payload`, err);
        }
      }
      return data as unknown as Payload;
    }
  }
}

function headersOf(value: unknown, path: string): TaskHeaders {
  const obj = record(value, path);
  const headers: { -readonly [K in keyof TaskHeaders]: TaskHeaders[K] } = {
    jobId: str(obj['jobId'], `${path}.jobId`),
    taskName: str(obj['taskName'], `${path}.taskName`),
    taskId: str(obj['taskId'], `${path}.taskId`),
  };
  const round = optional(obj, 'round', path, int);
  if (round !== undefined) headers.round = round;
  const numRounds = optional(obj, 'numRounds', path, int);
  if (numRounds !== undefined) headers.numRounds = numRounds;
  return headers;
}

function rcOf(value: unknown, path: string): ReturnCode {
  if (!(RETURN_CODES as readonly unknown[]).includes(value)) bad(path, 'a return code', value);
  return value as ReturnCode;
}

function taskDataOf(value: unknown, state: DecodeState, path: string): TaskData {
  const obj = record(value, path);
  return {
    headers: headersOf(obj['headers'], `${path}.headers`),
    payload: payloadOf(obj['payload'], state, `${path}.payload`),
  };
}

function withReason<T extends object>(base: T, obj: Record<string, unknown>, path: string): T {
  const reason = optional(obj, 'reason', path, str);
  return reason === undefined ? base : { ...base, reason };
}

function taskResultOf(value: unknown, state: DecodeState, path: string): TaskResult {
  const obj = record(value, path);
  const base: TaskResult = {
    headers: headersOf(obj['headers'], `${path}.headers`),
    site: str(obj['site'], `${path}.site`),
    rc: rcOf(obj['rc'], `${path}.rc`),
    payload: payloadOf(obj['payload'], state, `${path}.payload`),
  };
  return withReason(base, obj, path);
}

function peerReplyOf(value: unknown, state: DecodeState, path: string): PeerReply {
  const obj = record(value, path);
  const base: PeerReply = {
    rc: rcOf(obj['rc'], `${path}.rc`),
    payload: payloadOf(obj['payload'], state, `${path}.payload`),
  };
  return withReason(base, obj, path);
}

function messageOf(raw: unknown, state: DecodeState): WireMessage {
  const m = record(raw, 'message');
  const type = m['type'];
  switch (type) {
    case 'hello':
      return { type, jobId: str(m['jobId'], 'message.jobId') };
    case 'welcome': {
      const welcome = {
        type,
        jobId: str(m['jobId'], 'message.jobId'),
        parties: strList(m['parties'], 'message.parties'),
        heartbeatIntervalMs: int(m['heartbeatIntervalMs'], 'message.heartbeatIntervalMs'),
      };
      const resultPolls = optional(m, 'resultPolls', 'message', bool);
      return resultPolls === undefined ? welcome : { ...welcome, resultPolls };
    }
    case 'get-task':
      return {
        type,
        reqId: int(m['reqId'], 'message.reqId'),
        waitMs: int(m['waitMs'], 'message.waitMs'),
      };
    case 'task':
      return {
        type,
        task: taskDataOf(m['task'], state, 'message.task'),
        resend: bool(m['resend'], 'message.resend'),
      };
    case 'no-task':
      return { type, reqId: int(m['reqId'], 'message.reqId') };
    case 'result': {
      const result = taskResultOf(m['result'], state, 'message.result');
      const next = optional(m, 'next', 'message', (v, p) => {
        const o = record(v, p);
        return { reqId: int(o['reqId'], `${p}.reqId`), waitMs: int(o['waitMs'], `${p}.waitMs`) };
      });
      return next === undefined ? { type, result } : { type, result, next };
    }
    case 'heartbeat':
      return { type };
    case 'metrics':
      return { type, metrics: numRecord(m['metrics'], 'message.metrics') };
    case 'peer-request':
      return {
        type,
        reqId: str(m['reqId'], 'message.reqId'),
        from: str(m['from'], 'message.from'),
        to: strList(m['to'], 'message.to'),
        topic: str(m['topic'], 'message.topic'),
        payload: payloadOf(m['payload'], state, 'message.payload'),
        timeoutMs: int(m['timeoutMs'], 'message.timeoutMs'),
        oneWay: bool(m['oneWay'], 'message.oneWay'),
      };
    case 'peer-reply':
      return {
        type,
        reqId: str(m['reqId'], 'message.reqId'),
        from: str(m['from'], 'message.from'),
        to: str(m['to'], 'message.to'),
        reply: peerReplyOf(m['reply'], state, 'message.reply'),
      };
    case 'abort':
      return { type, taskId: str(m['taskId'], 'message.taskId') };
    case 'bye': {
      const reason = optional(m, 'reason', 'message', str);
      return reason === undefined ? { type } : { type, reason };
    }
    default:
      return bad('message.type', 'a known message type', type);
  }
}

/**
 * Decodes and validates one frame. Typed arrays in the result may view the frame's memory, so
 * the caller must not reuse the frame's buffer afterwards. Throws `CODEC_FAILED` on anything
 * malformed (bad prefix, truncated frame, msgpack errors, wrong field types, tensors whose data
 * does not match their shape, byte ranges outside the frame).
 */
export function decodeMessage(frame: Uint8Array): WireMessage {
  if (!(frame instanceof Uint8Array)) {
    throw codecError(`malformed frame: expected bytes, got ${describeValue(frame)}`);
  }
  if (frame.byteLength < PREFIX_BYTES || frame[0] !== MAGIC_0 || frame[1] !== MAGIC_1) {
    throw codecError(`malformed frame: no vflare frame prefix (${frame.byteLength} bytes)`);
  }
  if (frame[2] !== VERSION) {
    throw codecError(`unsupported frame version ${frame[2]} (this build reads ${VERSION})`);
  }
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const headerLength = view.getUint32(4, true);
  if (headerLength === 0 || PREFIX_BYTES + headerLength > frame.byteLength) {
    throw codecError(`malformed frame: header length ${headerLength} does not fit the frame`);
  }
  let raw: unknown;
  try {
    raw = unpackr.unpack(frame.subarray(PREFIX_BYTES, PREFIX_BYTES + headerLength));
  } catch (err) {
    throw codecError('malformed frame: the header is not valid msgpack', err);
  }
  const state: DecodeState = { frame, blobStart: align8(PREFIX_BYTES + headerLength) };
  try {
    return messageOf(raw, state);
  } catch (err) {
    if (err instanceof VflareError) throw err;
    throw codecError('malformed message', err);
  }
}
