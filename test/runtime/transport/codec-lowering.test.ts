import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Payload } from '../../../src/runtime/core/index.js';
import {
  decodeMessage,
  encodeMessage,
  type WireMessage,
} from '../../../src/runtime/transport/index.js';

// The encoder hands msgpack the caller's own objects wherever nothing inside them changes
// (copy on write). These properties pin down that this is invisible: what decodes is the plain
// data the caller wrote, whatever mix of shared and rebuilt parts the encoder chose.

const headers = { jobId: 'job', taskName: 'train', taskId: '7-train', round: 1 };

/** Keys that msgpack or the object model treat specially are left out of the generator. */
const key = fc
  .string({ minLength: 1, maxLength: 6 })
  .filter((k) => !['__proto__', 'constructor', 'toJSON', 'hasOwnProperty'].includes(k));

const leaf = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.string({ maxLength: 8 }),
  fc.integer(),
  // msgpack stores -0 as the integer 0 (a documented limit), so it is not generated here.
  fc.double().map((d) => (Object.is(d, -0) ? 0 : d)),
  fc.float32Array({ maxLength: 6 }),
  fc.float64Array({ maxLength: 4 }),
  fc.int32Array({ maxLength: 4 }),
  fc.uint8Array({ maxLength: 9 }),
);

/** Plain data with `undefined` fields and null-prototype objects mixed in. */
const tree = fc.letrec<{ node: unknown }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('node'), { maxLength: 4 }),
    fc.dictionary(key, fc.option(tie('node'), { nil: undefined }), { maxKeys: 4 }),
    fc
      .dictionary(key, tie('node'), { maxKeys: 3 })
      .map((d) => Object.assign(Object.create(null) as object, d)),
  ),
})).node;

/** What the receiver should see: `undefined` fields gone, every object an ordinary one. */
function expected(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return value;
  if (Array.isArray(value)) return value.map(expected);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = expected(v);
  return out;
}

/** A deep snapshot (typed arrays copied) to check that encoding changes nothing it was given. */
function snapshot(value: unknown): unknown {
  if (ArrayBuffer.isView(value)) return (value as Uint8Array).slice();
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(snapshot);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = snapshot(v);
  return out;
}

function taskOf(body: unknown): WireMessage {
  const payload = { kind: 'x-plain', meta: {}, body } as unknown as Payload;
  return { type: 'task', resend: false, task: { headers, payload } };
}

describe('codec copy-on-write encoding (property)', () => {
  it('decodes any plain data as written minus undefined fields, leaving the input as is', () => {
    fc.assert(
      fc.property(tree, (body) => {
        const before = snapshot(body);
        const msg = taskOf(body);
        const back = decodeMessage(encodeMessage(msg));
        if (back.type !== 'task') throw new Error('wrong message type');
        const payload = back.task.payload as unknown as { body: unknown };
        expect(payload.body).toEqual(expected(body));
        expect(snapshot(body)).toEqual(before);
      }),
      { numRuns: 300 },
    );
  });

  it('writes the same bytes whether an object is shared with the caller or rebuilt', () => {
    fc.assert(
      fc.property(fc.dictionary(key, leaf, { maxKeys: 5 }), (fields) => {
        // The same fields once as they are and once with an `undefined` field in front, which
        // makes the encoder rebuild the object instead of handing it over.
        const plainFrame = encodeMessage(taskOf(fields));
        const rebuiltFrame = encodeMessage(taskOf({ zz: undefined, ...fields }));
        const withoutZz = Object.fromEntries(Object.entries(fields).filter(([k]) => k !== 'zz'));
        const reference = encodeMessage(taskOf(withoutZz));
        expect(Buffer.from(rebuiltFrame).equals(Buffer.from(reference))).toBe(true);
        if (!('zz' in fields)) {
          expect(Buffer.from(plainFrame).equals(Buffer.from(reference))).toBe(true);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('still names the path of a value that is not plain data below shared objects', () => {
    const body = { a: { b: [1, 2, { c: new Map() }] }, t: new Float32Array(2) };
    expect(() => encodeMessage(taskOf(body))).toThrow(
      /message\.task\.payload\.body\.a\.b\[2\]\.c: Map is not plain data/,
    );
  });
});

describe('codec in-place tensor decoding', () => {
  it('drops fields a tensor does not have and keeps the ones it has', () => {
    const data = new Float32Array([1, 2, 3, 4, 5, 6]);
    const tensor = { shape: [2, 3], data, note: 'extra' };
    const payload = { kind: 'weights', meta: {}, weights: { a: tensor, b: { shape: [6], data } } };
    const msg = { type: 'task', resend: false, task: { headers, payload } } as WireMessage;
    const back = decodeMessage(encodeMessage(msg));
    if (back.type !== 'task' || back.task.payload?.kind !== 'weights') throw new Error('kind');
    const { a, b } = back.task.payload.weights;
    expect(a).toEqual({ shape: [2, 3], data });
    expect(Object.keys(a ?? {})).toEqual(['shape', 'data']);
    expect(b).toEqual({ shape: [6], data });
  });

  it('rejects a tensor map entry that is not a tensor, naming it', () => {
    const payload = {
      kind: 'weights',
      meta: {},
      weights: { ok: { shape: [1], data: new Float32Array(1) }, bad: { shape: [2] } },
    };
    const msg = {
      type: 'task',
      resend: false,
      task: { headers, payload },
    } as unknown as WireMessage;
    expect(() => decodeMessage(encodeMessage(msg))).toThrow(
      /message\.task\.payload\.weights\.bad\.data: expected a numeric typed array/,
    );
  });
});
