import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { collectingLogger, type Payload, type TensorMap } from '../../../src/runtime/core/index.js';
import { WeightedFedAvgAggregator } from '../../../src/runtime/workflows/aggregator.js';
import { loadModelFile } from '../../../src/runtime/workflows/model-file.js';
import { FileModelPersistor } from '../../../src/runtime/workflows/persistor.js';
import { ScatterAndGather } from '../../../src/runtime/workflows/scatter-and-gather.js';
import { type FakeClient, FakeController, HANG } from '../fakes/controller.js';

const model = (v: number): TensorMap => ({ w: { shape: [1], data: Float32Array.of(v) } });
const value = (m: TensorMap) => m['w']!.data[0];

/** A client that sends back the received model plus `delta`, as weights, after `steps` steps. */
const trainer =
  (delta: number, steps = 1): FakeClient =>
  (task) => {
    const got = task.payload as { weights: TensorMap };
    const w = got.weights['w']?.data[0] ?? 0;
    return {
      payload: {
        kind: 'weights',
        weights: model(w + delta),
        meta: { numStepsCurrentRound: steps },
      },
    };
  };

function sag(extra: Partial<ConstructorParameters<typeof ScatterAndGather>[0]> = {}) {
  return new ScatterAndGather({
    aggregator: new WeightedFedAvgAggregator({ expectedKind: 'weights' }),
    numRounds: 2,
    minClients: 2,
    waitTimeAfterMinReceived: 0,
    ...extra,
  });
}

describe('ScatterAndGather', () => {
  it('runs every round, averages by steps and records the rounds', async () => {
    const api = new FakeController({ clients: { a: trainer(1, 1), b: trainer(4, 2) } });
    api.jobState.set('globalModel', model(0));
    const wf = sag();
    await wf.run(api);
    // Each round adds (1·1 + 4·2)/3 = 3.
    expect(value(wf.model)).toBeCloseTo(6, 6);
    expect(api.rounds).toBe(2);
    expect(api.sent.map((s) => s.round)).toEqual([0, 1]);
    expect(value(api.jobState.get('globalModel')!)).toBeCloseTo(6, 6);
  });

  it('adds an aggregated weight-diff to the model', async () => {
    const diffClient: FakeClient = () => ({
      payload: { kind: 'weight-diff', weights: model(0.5), meta: {} },
    });
    const api = new FakeController({ clients: { a: diffClient, b: diffClient } });
    api.jobState.set('globalModel', model(1));
    const wf = sag({ aggregator: new WeightedFedAvgAggregator() });
    await wf.run(api);
    expect(value(wf.model)).toBe(2);
  });

  it('fails the job on a malformed result unless ignoreResultError', async () => {
    const broken: FakeClient = () => ({
      rc: 'execution-result-error',
      payload: null,
      reason: 'not a payload',
    });
    const api = new FakeController({ clients: { a: trainer(1), b: broken } });
    api.jobState.set('globalModel', model(0));
    await expect(sag().run(api)).rejects.toMatchObject({
      code: 'TASK_FAILED',
      message: expect.stringMatching(/site b answered execution-result-error.*ignoreResultError/),
    });

    const api2 = new FakeController({ clients: { a: trainer(1), b: broken } });
    api2.jobState.set('globalModel', model(0));
    const wf = sag({ ignoreResultError: true });
    await wf.run(api2);
    expect(value(wf.model)).toBe(2);
    expect(api2.rounds).toBe(2);
  });

  it('fails with a clear aggregation error when every client reports zero steps', async () => {
    const api = new FakeController({ clients: { a: trainer(1, 0), b: trainer(2, 0) } });
    api.jobState.set('globalModel', model(0));
    await expect(sag().run(api)).rejects.toMatchObject({
      code: 'AGGREGATION_FAILED',
      message: expect.stringMatching(/total aggregation weight is 0/),
    });
  });

  it('keeps the model unchanged, and says so, when every result is empty', async () => {
    const empty: FakeClient = () => ({ payload: { kind: 'weights', weights: {}, meta: {} } });
    const wrongKind: FakeClient = () => ({ payload: { kind: 'metrics', metrics: {}, meta: {} } });
    for (const client of [empty, wrongKind]) {
      const logger = collectingLogger();
      const api = new FakeController({ clients: { a: client, b: client }, logger });
      api.jobState.set('globalModel', model(7));
      const wf = sag();
      await wf.run(api);
      expect(value(wf.model)).toBe(7);
      expect(logger.records.some((r) => /global model unchanged/.test(r.msg))).toBe(true);
    }
  });

  it('does not hang when a client drops out mid-round and minClients is still met', async () => {
    const api = new FakeController({ clients: { a: trainer(1), b: trainer(1), c: HANG } });
    api.jobState.set('globalModel', model(0));
    setTimeout(() => api.kill('c'), 50);
    const wf = sag({ minClients: 2 });
    await wf.run(api);
    expect(value(wf.model)).toBe(2);
  });

  it('fails naming the site when a drop-out leaves fewer than minClients', async () => {
    const api = new FakeController({ clients: { a: trainer(1), b: trainer(1), c: HANG } });
    api.jobState.set('globalModel', model(0));
    setTimeout(() => api.kill('c'), 50);
    await expect(sag({ minClients: 3 }).run(api)).rejects.toMatchObject({
      code: 'SITE_DEAD',
      message: expect.stringMatching(/no answer from: c$/),
    });
  });

  it('fails before a round when under minClients are alive, naming the missing sites', async () => {
    const api = new FakeController({ clients: { a: trainer(1), b: trainer(1) }, dead: ['b'] });
    api.jobState.set('globalModel', model(0));
    await expect(sag({ minClients: 2 }).run(api)).rejects.toThrow(/not responding: b/);
  });

  it('cuts off a hanging executor at trainTimeout and goes on with what arrived', async () => {
    const api = new FakeController({ clients: { a: trainer(1), b: HANG } });
    api.jobState.set('globalModel', model(0));
    const wf = sag({ minClients: 1, waitTimeAfterMinReceived: 60, trainTimeout: 0.1 });
    const t0 = Date.now();
    await wf.run(api);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(value(wf.model)).toBe(2);
  });

  it('loads the first model from the persistor, saves every n rounds and at the end', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sag-'));
    const saved: number[] = [];
    const file = new FileModelPersistor({ workspace: dir, dataRoot: dir });
    const persistor = {
      load: async () => model(10),
      save: async (w: TensorMap, round: number) => {
        saved.push(round);
        await file.save(w, round);
      },
    };
    const api = new FakeController({ clients: { a: trainer(1), b: trainer(1) } });
    await sag({ numRounds: 5, persistor, persistEveryNRounds: 2 }).run(api);
    expect(saved).toEqual([1, 3, 4]);
    const back = await loadModelFile(file.path);
    expect(back.round).toBe(4);
    expect(value(back.weights)).toBe(15);
    expect(readdirSync(dir)).toEqual(['global_model.vfm']);
  });

  it('starts at startRound and refuses to start without a model unless allowed', async () => {
    const api = new FakeController({ clients: { a: trainer(1), b: trainer(1) } });
    await expect(sag().run(api)).rejects.toThrow(/has no initial model/);
    const wf = sag({ allowEmptyGlobalWeights: true, startRound: 1, numRounds: 3 });
    await wf.run(api);
    expect(api.sent.map((s) => s.round)).toEqual([1, 2]);
    expect(value(wf.model)).toBe(2);
  });

  it('sends round and numRounds headers with the global model', async () => {
    const seen: {
      round: number | undefined;
      numRounds: number | undefined;
      payload: Payload | null;
    }[] = [];
    const spy: FakeClient = (task) => {
      seen.push({
        round: task.headers.round,
        numRounds: task.headers.numRounds,
        payload: task.payload,
      });
      return trainer(0)(task, new AbortController().signal);
    };
    const api = new FakeController({ clients: { a: spy } });
    api.jobState.set('globalModel', model(3));
    await sag({ minClients: 1 }).run(api);
    expect(seen.map((s) => [s.round, s.numRounds])).toEqual([
      [0, 2],
      [1, 2],
    ]);
    expect(seen[0]!.payload).toMatchObject({ kind: 'weights' });
  });

  it('rejects invalid options with the option named', () => {
    expect(() => sag({ minClients: 0 })).toThrow(/minClients: expected an integer ≥ 1/);
    expect(() => sag({ trainTimeout: -1 })).toThrow(/trainTimeout/);
  });
});
