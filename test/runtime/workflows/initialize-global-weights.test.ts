import { describe, expect, it } from 'vitest';
import type { TensorMap } from '../../../src/runtime/core/index.js';
import { InitializeGlobalWeights } from '../../../src/runtime/workflows/index.js';
import { type FakeClient, FakeController } from '../fakes/controller.js';

const weightsOf =
  (v: number, delayMs: number): FakeClient =>
  async () => {
    await new Promise((r) => setTimeout(r, delayMs));
    return {
      payload: {
        kind: 'weights',
        weights: { w: { shape: [1], data: Float32Array.of(v) } },
        meta: {},
      },
    };
  };
const value = (m: TensorMap | undefined) => m?.['w']?.data[0];

describe('InitializeGlobalWeights', () => {
  it('keeps the first responder\'s weights with "first"', async () => {
    const api = new FakeController({ clients: { a: weightsOf(1, 40), b: weightsOf(2, 0) } });
    await new InitializeGlobalWeights().run(api);
    expect(value(api.jobState.get('globalModel'))).toBe(2);
  });

  it('keeps the named client\'s weights with "client"', async () => {
    const api = new FakeController({ clients: { a: weightsOf(1, 40), b: weightsOf(2, 0) } });
    await new InitializeGlobalWeights({ weightMethod: 'client', weightsClientName: 'a' }).run(api);
    expect(value(api.jobState.get('globalModel'))).toBe(1);
    expect(api.sent[0]!.targets).toEqual(['a', 'b']);
  });

  it('fails clearly on an empty or non-weights reply, naming the site', async () => {
    const empty: FakeClient = () => ({ payload: { kind: 'weights', weights: {}, meta: {} } });
    const metrics: FakeClient = () => ({ payload: { kind: 'metrics', metrics: {}, meta: {} } });
    await expect(
      new InitializeGlobalWeights().run(
        new FakeController({ clients: { a: weightsOf(1, 0), b: empty } }),
      ),
    ).rejects.toThrow('InitializeGlobalWeights: site b sent empty weights');
    await expect(
      new InitializeGlobalWeights().run(new FakeController({ clients: { a: metrics } })),
    ).rejects.toThrow(/site a sent a "metrics" payload/);
  });

  it('rejects a weightsClientName that is not in the job', async () => {
    const api = new FakeController({ clients: { a: weightsOf(1, 0) } });
    await expect(
      new InitializeGlobalWeights({ weightMethod: 'client', weightsClientName: 'zz' }).run(api),
    ).rejects.toThrow(/"zz" is not a client of the job/);
    expect(() => new InitializeGlobalWeights({ weightMethod: 'client' })).toThrow(
      /needs weightsClientName/,
    );
  });
});
