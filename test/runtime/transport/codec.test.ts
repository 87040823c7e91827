import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isVflareError, type Payload, type VflareError } from '../../../src/runtime/core/index.js';
import {
  decodeMessage,
  encodeMessage,
  registerPayloadValidator,
  type WireMessage,
} from '../../../src/runtime/transport/index.js';

const headers = { jobId: 'job', taskName: 'train', taskId: '1-train', round: 2, numRounds: 5 };

function bytesOf(a: ArrayBufferView): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

function expectCodecError(fn: () => unknown, pattern?: RegExp): void {
  try {
    fn();
  } catch (err) {
    expect(isVflareError(err)).toBe(true);
    expect((err as VflareError).code).toBe('CODEC_FAILED');
    if (pattern) expect((err as VflareError).message).toMatch(pattern);
    return;
  }
  throw new Error('expected CODEC_FAILED');
}

function weightsMessage(): WireMessage {
  const f32 = new Float32Array([1.5, -0, Number.NaN, Number.POSITIVE_INFINITY, 3e-45]);
  // A NaN with a payload must survive bit-exactly.
  new Uint32Array(f32.buffer)[2] = 0x7fc0_1234;
  return {
    type: 'task',
    resend: false,
    task: {
      headers,
      payload: {
        kind: 'collection',
        meta: { filterHistory: ['a'] },
        items: {
          model: {
            kind: 'weights',
            meta: { numStepsCurrentRound: 12, processedAlgorithm: 'fedavg' },
            weights: {
              'layer.0': { shape: [5], data: f32 },
              'layer.1': { shape: [2, 2], data: new Float64Array([Math.PI, -0, 1e308, 5e-324]) },
              ids: { shape: [3], data: new Int32Array([-1, 0, 2 ** 31 - 1]) },
              mask: { shape: [3], data: new Uint8Array([0, 1, 255]) },
              big: { shape: [1], data: new Uint32Array([2 ** 32 - 1]) },
              empty: { shape: [0, 4], data: new Float32Array(0) },
            },
          },
          stats: { kind: 'metrics', meta: {}, metrics: { auc: 0.1 + 0.2, n: 3 } },
        },
      },
    },
  };
}

describe('codec round trip', () => {
  it('carries every tensor bit-exactly and keeps the typed-array classes', () => {
    const msg = weightsMessage();
    const back = decodeMessage(encodeMessage(msg));
    expect(back.type).toBe('task');
    const sent = (msg as { task: { payload: Payload } }).task.payload;
    const got = (back as { task: { payload: Payload } }).task.payload;
    if (sent.kind !== 'collection' || got.kind !== 'collection') throw new Error('kind');
    const a = sent.items['model'];
    const b = got.items['model'];
    if (a?.kind !== 'weights' || b?.kind !== 'weights') throw new Error('kind');
    for (const key of Object.keys(a.weights)) {
      const x = a.weights[key]!;
      const y = b.weights[key]!;
      expect(y.data.constructor).toBe(x.data.constructor);
      expect(y.shape).toEqual(x.shape);
      expect(bytesOf(y.data).equals(bytesOf(x.data))).toBe(true);
    }
    expect(b.meta).toEqual(a.meta);
    expect(got.items['stats']).toEqual(sent.items['stats']);
    expect((back as { task: { headers: unknown } }).task.headers).toEqual(headers);
  });

  it('round-trips every message type', () => {
    const messages: WireMessage[] = [
      { type: 'hello', jobId: 'j' },
      { type: 'welcome', jobId: 'j', parties: ['server', 'a'], heartbeatIntervalMs: 5 },
      { type: 'get-task', reqId: 1, waitMs: 100 },
      { type: 'no-task', reqId: 1 },
      {
        type: 'result',
        result: { headers, site: 'a', rc: 'execution-exception', payload: null, reason: 'Error' },
      },
      { type: 'heartbeat' },
      { type: 'metrics', metrics: { loss: 1 / 3 } },
      {
        type: 'peer-request',
        reqId: 'a#1',
        from: 'a',
        to: ['server', 'b'],
        topic: 't',
        payload: null,
        timeoutMs: 10,
        oneWay: false,
      },
      {
        type: 'peer-reply',
        reqId: 'a#1',
        from: 'b',
        to: 'a',
        reply: { rc: 'ok', payload: { kind: 'metrics', metrics: { x: 1 }, meta: {} } },
      },
      { type: 'abort', taskId: '1-train' },
      { type: 'bye', reason: 'done' },
      { type: 'bye' },
    ];
    for (const msg of messages) expect(decodeMessage(encodeMessage(msg))).toEqual(msg);
  });

  it('views aligned tensor bytes in place and copies unaligned ones', () => {
    const frame = encodeMessage(weightsMessage());
    const direct = decodeMessage(frame) as { task: { payload: Payload } };
    const p = direct.task.payload;
    if (p.kind !== 'collection' || p.items['model']?.kind !== 'weights') throw new Error('kind');
    expect(p.items['model'].weights['layer.1']!.data.buffer).toBe(frame.buffer);

    // The same bytes at an odd offset (e.g. a socket buffer slice).
    const shifted = new Uint8Array(frame.byteLength + 1).subarray(1);
    shifted.set(frame);
    const copy = decodeMessage(shifted) as { task: { payload: Payload } };
    const q = copy.task.payload;
    if (q.kind !== 'collection' || q.items['model']?.kind !== 'weights') throw new Error('kind');
    const t = q.items['model'].weights['layer.1']!.data;
    expect(t.byteOffset % 8).toBe(0);
    expect(Array.from(t)).toEqual([Math.PI, -0, 1e308, 5e-324]);
  });

  it('carries the other typed-array classes inside payload kinds added by modules', () => {
    const payload = {
      kind: 'test-ext',
      meta: {},
      parts: [
        new Int8Array([-128, 127]),
        new Uint16Array([65535]),
        new BigInt64Array([-(2n ** 63n)]),
      ],
      nested: { clamp: new Uint8ClampedArray([0, 255]), flag: true, name: 'x' },
    } as unknown as Payload;
    const back = decodeMessage(
      encodeMessage({
        type: 'peer-reply',
        reqId: 'r',
        from: 'a',
        to: 'b',
        reply: { rc: 'ok', payload },
      }),
    ) as { reply: { payload: Record<string, unknown> } };
    expect(back.reply.payload).toEqual(payload);
    expect((back.reply.payload['parts'] as unknown[])[2]).toBeInstanceOf(BigInt64Array);
  });

  it('round-trips random weight sets exactly (property)', () => {
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.string({ minLength: 1, maxLength: 8 }),
          fc.float32Array({ maxLength: 64 }),
          { maxKeys: 6 },
        ),
        fc.double(),
        (arrays, steps) => {
          const weights: Record<string, { shape: number[]; data: Float32Array }> = {};
          for (const [k, data] of Object.entries(arrays))
            weights[k] = { shape: [data.length], data };
          const msg: WireMessage = {
            type: 'result',
            result: {
              headers,
              site: 's',
              rc: 'ok',
              payload: { kind: 'weight-diff', weights, meta: { numStepsCurrentRound: steps } },
            },
          };
          const back = decodeMessage(encodeMessage(msg)) as typeof msg;
          const p = back.result.payload;
          if (p?.kind !== 'weight-diff') return false;
          if (!Object.is(p.meta.numStepsCurrentRound, steps) && !(steps === 0)) return false;
          return Object.entries(weights).every(([k, t]) =>
            bytesOf(p.weights[k]!.data).equals(bytesOf(t.data)),
          );
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('codec typed arrays (property)', () => {
  const CLASSES = [
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
  ] as const;

  it('round-trips every element type byte-exactly, from any offset, empty or not, into any frame offset', () => {
    const arrayArb = fc
      .record({
        cls: fc.integer({ min: 0, max: CLASSES.length - 1 }),
        // Source views start anywhere their element size allows, not only on 8-byte boundaries.
        lead: fc.integer({ min: 0, max: 7 }),
        bytes: fc.uint8Array({ maxLength: 96 }),
      })
      .map(({ cls, lead, bytes }) => {
        const Ctor = CLASSES[cls]!;
        const size = Ctor.BYTES_PER_ELEMENT;
        const n = Math.floor(bytes.length / size);
        const buf = new ArrayBuffer(lead * size + n * size + size);
        new Uint8Array(buf, lead * size, n * size).set(bytes.subarray(0, n * size));
        return new Ctor(buf, lead * size, n);
      });
    fc.assert(
      fc.property(
        fc.array(arrayArb, { maxLength: 8 }),
        fc.integer({ min: 0, max: 7 }),
        (arrays, frameShift) => {
          const payload = { kind: 'test-arrays', meta: {}, arrays } as unknown as Payload;
          const frame = encodeMessage({
            type: 'peer-reply',
            reqId: 'r',
            from: 'a',
            to: 'b',
            reply: { rc: 'ok', payload },
          });
          // The frame as a socket might hand it over: at any offset in a larger buffer.
          const placed = new Uint8Array(frame.byteLength + frameShift).subarray(frameShift);
          placed.set(frame);
          const back = decodeMessage(placed) as unknown as {
            reply: { payload: { arrays: unknown[] } };
          };
          const got = back.reply.payload.arrays;
          expect(got).toHaveLength(arrays.length);
          for (const [i, a] of arrays.entries()) {
            const b = got[i] as typeof a;
            expect(b.constructor).toBe(a.constructor);
            expect(b.length).toBe(a.length);
            expect(b.byteOffset % a.BYTES_PER_ELEMENT).toBe(0);
            expect(bytesOf(b).equals(bytesOf(a))).toBe(true);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('codec rejects malformed input', () => {
  it('rejects frames that are not vflare frames or are cut short', () => {
    const frame = encodeMessage(weightsMessage());
    expectCodecError(() => decodeMessage(new Uint8Array(0)), /prefix/);
    expectCodecError(() => decodeMessage(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9])), /prefix/);
    expectCodecError(() => decodeMessage(frame.subarray(0, 20)));
    expectCodecError(
      () => decodeMessage(frame.subarray(0, frame.byteLength - 8)),
      /past the frame/,
    );
    const wrongVersion = Uint8Array.from(frame);
    wrongVersion[2] = 9;
    expectCodecError(() => decodeMessage(wrongVersion), /version 9/);
  });

  it('rejects well-formed msgpack with the wrong structure, naming the field', () => {
    const cases: [unknown, RegExp][] = [
      [{ type: 'launch' }, /message.type/],
      [{ type: 'get-task', reqId: -1, waitMs: 5 }, /message.reqId/],
      [{ type: 'get-task', reqId: 1.5, waitMs: 5 }, /message.reqId/],
      [{ type: 'result', result: { headers, site: 's', rc: 'fine', payload: null } }, /rc/],
      [{ type: 'welcome', jobId: 'j', parties: 'all', heartbeatIntervalMs: 1 }, /parties/],
      [
        {
          type: 'result',
          result: {
            headers,
            site: 's',
            rc: 'ok',
            payload: {
              kind: 'weights',
              meta: {},
              weights: { w: { shape: [3], data: new Float32Array(2) } },
            },
          },
        },
        /data length 3 for shape \[3\]/,
      ],
      [
        {
          type: 'result',
          result: {
            headers,
            site: 's',
            rc: 'ok',
            payload: { kind: 'weights', meta: {}, weights: { w: { shape: [1], data: [1] } } },
          },
        },
        /numeric typed array/,
      ],
      [
        {
          type: 'result',
          result: {
            headers,
            site: 's',
            rc: 'ok',
            payload: { kind: 'metrics', meta: {}, metrics: { a: 'x' } },
          },
        },
        /metrics\.a/,
      ],
    ];
    for (const [msg, pattern] of cases) {
      expectCodecError(() => decodeMessage(encodeMessage(msg as WireMessage)), pattern);
    }
  });

  it('refuses to encode values that are not plain data, naming the path', () => {
    const bad = (value: unknown) =>
      ({ type: 'metrics', metrics: { x: value } }) as unknown as WireMessage;
    expectCodecError(() => encodeMessage(bad(new Map())), /message\.metrics\.x: Map/);
    expectCodecError(() => encodeMessage(bad(new DataView(new ArrayBuffer(4)))), /DataView/);
    expectCodecError(() => encodeMessage(bad(() => 1)), /function/);
  });

  it('runs validators registered for module payload kinds', () => {
    registerPayloadValidator('test-strict', (p) => {
      if (typeof p['count'] !== 'number') throw new Error('count missing');
    });
    const msg = (payload: unknown) =>
      ({
        type: 'peer-reply',
        reqId: 'r',
        from: 'a',
        to: 'b',
        reply: { rc: 'ok', payload },
      }) as WireMessage;
    expect(() =>
      decodeMessage(encodeMessage(msg({ kind: 'test-strict', meta: {}, count: 1 }))),
    ).not.toThrow();
    expectCodecError(
      () => decodeMessage(encodeMessage(msg({ kind: 'test-strict', meta: {} }))),
      /invalid "test-strict" payload/,
    );
  });

  it('never crashes on random bytes or corrupted frames (fuzz)', () => {
    const onlyCodecErrors = (bytes: Uint8Array) => {
      try {
        decodeMessage(bytes);
      } catch (err) {
        if (!(isVflareError(err) && err.code === 'CODEC_FAILED')) throw err;
      }
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), onlyCodecErrors), { numRuns: 500 });
    const valid = encodeMessage(weightsMessage());
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(valid.byteLength - 1), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 8,
        }),
        fc.nat(valid.byteLength),
        (edits, cut) => {
          const copy = Uint8Array.from(valid);
          for (const [i, b] of edits) copy[i] = b;
          onlyCodecErrors(copy);
          onlyCodecErrors(copy.subarray(0, cut));
          // Keep the prefix valid so the header parser itself is exercised.
          const prefixed = Uint8Array.from(valid);
          for (const [i, b] of edits) if (i >= 8) prefixed[i] = b;
          onlyCodecErrors(prefixed);
        },
      ),
      { numRuns: 1_000 },
    );
  });
});
