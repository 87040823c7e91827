import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chunksOf, Reassembler, wireUnitsOf } from '../../src/deploy/grpc/chunks.js';
import { isVflareError } from '../../src/runtime/core/index.js';

const opts = { maxMessageBytes: 4096, maxChunkBytes: 256, progressTimeoutMs: 1000 };

describe('chunked messages', () => {
  it('reassembles interleaved messages of any size to the original bytes', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 2000 }), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 1, max: 256 }),
        fc.infiniteStream(fc.nat()),
        (messages, chunkBytes, picks) => {
          const queues = messages.map((m, i) => [...chunksOf(m, i + 1, chunkBytes)]);
          const r = new Reassembler(opts);
          const out = new Map<number, Uint8Array>();
          const it = picks[Symbol.iterator]();
          while (queues.some((q) => q.length > 0)) {
            const live = queues.map((q, i) => [q, i] as const).filter(([q]) => q.length > 0);
            const [q, i] = live[it.next().value % live.length]!;
            const done = r.push(q.shift()!, 0);
            if (done !== null) out.set(i, done);
          }
          for (const [i, m] of messages.entries()) expect(out.get(i)).toEqual(m);
          expect(r.pending).toBe(0);
        },
      ),
    );
  });

  it('rejects arbitrary bytes only with a vflare error, never a crash', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }), (chunks) => {
        const r = new Reassembler(opts);
        for (const c of chunks) {
          try {
            const m = r.push(c, 0);
            if (m !== null) expect(m.byteLength).toBeLessThanOrEqual(opts.maxMessageBytes);
          } catch (err) {
            expect(isVflareError(err)).toBe(true);
            return;
          }
        }
      }),
    );
  });

  it('names what is wrong with a malformed chunk', () => {
    const r = new Reassembler(opts);
    expect(() => r.push(new Uint8Array(5), 0)).toThrow(/shorter than its 13-byte header/);
    const [first] = [...chunksOf(new Uint8Array(10_000), 7, 100)];
    expect(() => new Reassembler(opts).push(first!, 0)).toThrow(/10000 bytes exceeds the limit/);
    const chunks = [...chunksOf(new Uint8Array(600), 3, 200)];
    const r2 = new Reassembler(opts);
    r2.push(chunks[0]!, 0);
    expect(() => r2.push(chunks[2]!, 0)).toThrow(/out of order/);
    expect(() => new Reassembler(opts).push(chunks[1]!, 0)).toThrow(/never started/);
    const bad = Buffer.from(chunks[0]!);
    bad[0] = 9;
    expect(() => new Reassembler(opts).push(bad, 0)).toThrow(/unknown chunk kind 9/);
  });

  it('drops a message that stops making progress, measured from its last chunk', () => {
    const r = new Reassembler(opts);
    const chunks = [...chunksOf(new Uint8Array(600), 1, 200)];
    r.push(chunks[0]!, 0);
    r.push(chunks[1]!, 900);
    expect(r.sweep(1500)).toEqual([]);
    expect(r.sweep(1901)).toEqual([1]);
    expect(r.pending).toBe(0);
  });

  it('bounds the number of messages in flight', () => {
    const r = new Reassembler({ ...opts, maxInFlight: 2 });
    for (let id = 1; id <= 2; id++) r.push([...chunksOf(new Uint8Array(300), id, 100)][0]!, 0);
    expect(() => r.push([...chunksOf(new Uint8Array(300), 3, 100)][0]!, 0)).toThrow(
      /more than 2 messages in flight/,
    );
  });

  it('reassembles interleaved messages sent as headers and views, whatever their first bytes', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 2000 }), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 1, max: 256 }),
        fc.integer({ min: 0, max: 300 }),
        fc.infiniteStream(fc.nat()),
        (messages, chunkBytes, viewMin, picks) => {
          // A first byte of 2 looks like an acknowledgement: the bytes after a header must
          // still be taken as bytes.
          for (const m of messages) if (m.length > 0) m[0] = 2;
          const queues = messages.map((m, i) => [...wireUnitsOf(m, i + 1, chunkBytes, viewMin)]);
          const r = new Reassembler(opts);
          const out = new Map<number, Uint8Array>();
          const it = picks[Symbol.iterator]();
          while (queues.some((q) => q.length > 0)) {
            const live = queues.map((q, i) => [q, i] as const).filter(([q]) => q.length > 0);
            const [q, i] = live[it.next().value % live.length]!;
            // A unit's parts stay adjacent; units of different messages interleave.
            for (const part of q.shift()!) {
              const done = r.push(part, 0);
              if (done !== null) out.set(i, done);
            }
          }
          for (const [i, m] of messages.entries()) expect(out.get(i)).toEqual(m);
          expect(r.pending).toBe(0);
          expect(r.awaitingBytes).toBe(false);
        },
      ),
    );
  });

  it('sends large chunks as views of the message, not copies', () => {
    const message = new Uint8Array(1000).map((_, i) => i & 0xff);
    const units = [...wireUnitsOf(message, 1, 400, 100)];
    expect(units.map((u) => u.length)).toEqual([2, 2, 2]);
    const bytes = units.map((u) => u[1]!);
    expect(bytes.every((b) => b.buffer === message.buffer)).toBe(true);
    expect(bytes.map((b) => [b.byteOffset, b.byteLength])).toEqual([
      [0, 400],
      [400, 400],
      [800, 200],
    ]);
  });

  it('puts the bytes of a one-chunk message on an 8-byte boundary where grpc-js delivers it', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (message) => {
        const units = [...wireUnitsOf(message, 9, 300)];
        expect(units).toHaveLength(1);
        const [chunk] = units[0]!;
        // grpc-js hands a received message over 5 bytes into a fresh, aligned buffer.
        const framed = new Uint8Array(new ArrayBuffer(5 + chunk!.byteLength));
        framed.set(chunk!, 5);
        const got = new Reassembler(opts).push(framed.subarray(5), 0);
        expect(got).toEqual(message);
        expect(got!.byteOffset % 8).toBe(0);
      }),
    );
  });

  it('names what is wrong with a malformed header-only chunk or the bytes after it', () => {
    const units = [...wireUnitsOf(new Uint8Array(600), 3, 200, 1)];
    const [head, body] = units[0]!;
    const long = Buffer.concat([head!, Buffer.alloc(1)]);
    expect(() => new Reassembler(opts).push(long, 0)).toThrow(/header-only chunk of 14 bytes/);
    expect(() => new Reassembler(opts).push(units[1]![0]!, 0)).toThrow(/never started/);
    const r = new Reassembler(opts);
    r.push(head!, 0);
    expect(r.awaitingBytes).toBe(true);
    expect(() => r.push(new Uint8Array(300), 0)).toThrow(/exceeds the chunk limit 256/);
    const r2 = new Reassembler(opts);
    r2.push(head!, 0);
    r2.push(body!, 0);
    expect(r2.pending).toBe(1);
    expect(() => r2.push(units[2]![0]!, 0)).toThrow(/out of order/);
  });
});
