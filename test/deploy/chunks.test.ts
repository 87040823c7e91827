import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chunksOf, Reassembler } from '../../src/deploy/grpc/chunks.js';
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
});
