/**
 * The workflows on the real engine (the in-process simulator): drop-outs, hanging executors,
 * malformed results, client-side initialisation and cross-site evaluation.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ClientApp, Executor, Payload, TensorMap } from '../../../src/runtime/core/index.js';
import { collectingLogger, NO_FILTERS } from '../../../src/runtime/core/index.js';
import { runSimulation, type SimulationOptions } from '../../../src/runtime/sim/index.js';
import {
  CrossSiteModelEval,
  InitializeGlobalWeights,
  ScatterAndGather,
  type ScatterAndGatherOptions,
  WeightedFedAvgAggregator,
} from '../../../src/runtime/workflows/index.js';

const model = (v: number): TensorMap => ({ w: { shape: [2], data: Float32Array.of(v, -v) } });

/** Trains by adding `delta`; offers `init` as initial weights; scores a model by its 1st value. */
function learner(delta: number, init = 0, malformed = false): Executor {
  return {
    tasks: ['train', 'get_weights', 'submit_model', 'validate'],
    async execute(task): Promise<Payload> {
      const w = (task.payload as { weights?: TensorMap } | null)?.weights?.['w']?.data[0] ?? init;
      switch (task.headers.taskName) {
        case 'train':
          if (malformed) return { nonsense: true } as unknown as Payload;
          return { kind: 'weights', weights: model(w + delta), meta: { numStepsCurrentRound: 1 } };
        case 'get_weights':
        case 'submit_model':
          return { kind: 'weights', weights: model(init), meta: {} };
        default:
          return { kind: 'metrics', metrics: { score: w * 10 + delta }, meta: {} };
      }
    },
  };
}

const app = (e: Executor): ClientApp => ({ executors: [e], filters: NO_FILTERS });

function run(
  sag: Partial<ScatterAndGatherOptions>,
  clients: Record<string, Executor>,
  extra: Partial<SimulationOptions> = {},
  before: ConstructorParameters<typeof InitializeGlobalWeights>[0] | null = null,
) {
  let wf: ScatterAndGather | undefined;
  const summary = runSimulation({
    job: 'sim-test',
    sites: Object.keys(clients),
    workspace: mkdtempSync(join(tmpdir(), 'simwf-')),
    heartbeatIntervalMs: 100,
    deadSiteGraceMs: 600,
    byeTimeoutMs: 500,
    server: () => {
      wf = new ScatterAndGather({
        aggregator: new WeightedFedAvgAggregator({ expectedKind: 'weights' }),
        numRounds: 3,
        waitTimeAfterMinReceived: 0,
        ...(before === null ? { allowEmptyGlobalWeights: true } : {}),
        ...sag,
      });
      return {
        workflows: before === null ? [wf] : [new InitializeGlobalWeights(before), wf],
        filters: NO_FILTERS,
      };
    },
    clients: Object.fromEntries(Object.entries(clients).map(([s, e]) => [s, app(e)])),
    ...extra,
  });
  return summary.then((s) => ({ summary: s, model: wf?.model }));
}

describe('ScatterAndGather on the simulator', () => {
  it('finishes when a site drops out mid-round and minClients is still met', async () => {
    const { summary, model: m } = await run(
      { minClients: 2 },
      { 'site-1': learner(1), 'site-2': learner(1), 'site-3': learner(1) },
      { faults: { 'site-3': { kind: 'die', task: 'train', round: 1 } } },
    );
    expect(summary.status).toBe('completed');
    expect(summary.rounds).toBe(3);
    expect(m?.['w']?.data[0]).toBe(3);
  });

  it('fails naming the site when a drop-out leaves fewer than minClients', async () => {
    const { summary } = await run(
      { minClients: 3 },
      { 'site-1': learner(1), 'site-2': learner(1), 'site-3': learner(1) },
      { faults: { 'site-3': { kind: 'die', task: 'train', round: 1 } } },
    );
    expect(summary.status).toBe('execution-exception');
    expect(summary.error).toMatch(
      /round 1 .*no answer from: site-3 \(dead: site-3\)|not responding: site-3/,
    );
    expect(summary.rounds).toBe(1);
  });

  it('cuts off a hanging executor at trainTimeout and continues with what arrived', async () => {
    const t0 = Date.now();
    const { summary, model: m } = await run(
      { minClients: 1, waitTimeAfterMinReceived: 30, trainTimeout: 0.3, numRounds: 2 },
      { 'site-1': learner(2), 'site-2': learner(100) },
      { faults: { 'site-2': { kind: 'hang', task: 'train' } } },
    );
    expect(summary.status).toBe('completed');
    expect(m?.['w']?.data[0]).toBe(4);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('makes a bad result execution-result-error, fatal unless ignoreResultError', async () => {
    const clients = { 'site-1': learner(1), 'site-2': learner(1, 0, true) };
    const strict = await run({ minClients: 1 }, clients);
    expect(strict.summary.status).toBe('execution-exception');
    expect(strict.summary.error).toMatch(/site site-2 answered execution-result-error/);
    const lenient = await run({ minClients: 2, ignoreResultError: true }, clients);
    expect(lenient.summary.status).toBe('completed');
    expect(lenient.model?.['w']?.data[0]).toBe(3); // site-1 alone, +1 per round
  });

  it('logs with job, site, workflow, task and round context, and no tensor values', async () => {
    const logger = collectingLogger();
    const clients = { 'site-1': learner(0.25), 'site-2': learner(1, 0, true) };
    const { summary } = await run(
      { minClients: 2, numRounds: 2, ignoreResultError: true },
      clients,
      {
        logger,
      },
    );
    expect(summary.status).toBe('completed');
    const find = (msg: RegExp) => logger.records.filter((r) => msg.test(r.msg));
    const aggregated = find(/^round aggregated$/);
    expect(aggregated.map((r) => r.bindings)).toEqual([
      expect.objectContaining({ job: 'sim-test', site: 'server', round: 0 }),
      expect.objectContaining({ job: 'sim-test', site: 'server', round: 1 }),
    ]);
    expect(aggregated[0]?.bindings['workflow']).toBeTypeOf('string');
    const rejected = find(/^contribution rejected$/);
    expect(rejected.map((r) => r.bindings['round'])).toEqual([0, 1]);
    // The site a server record is about is `peer`: `site` stays the party that logs.
    expect(rejected[0]?.obj).toMatchObject({ peer: 'site-2' });
    const bad = find(/not a payload/);
    expect(bad.length).toBe(2);
    expect(bad[0]?.bindings).toMatchObject({ job: 'sim-test', site: 'site-2', task: 'train' });
    expect(bad.map((r) => r.bindings['round'])).toEqual([0, 1]);
    // The weights site-1 sent (0.25, 0.5, …) appear in no record.
    expect(JSON.stringify(logger.records)).not.toMatch(/0\.25|0\.5\b/);
  });

  it("starts from the named client's initial weights", async () => {
    const { summary, model: m } = await run(
      { minClients: 2, numRounds: 1 },
      { 'site-1': learner(1, 10), 'site-2': learner(1, 20) },
      {},
      { weightMethod: 'client', weightsClientName: 'site-2' },
    );
    expect(summary.status).toBe('completed');
    expect(m?.['w']?.data[0]).toBe(21);
  });
});

describe('CrossSiteModelEval on the simulator', () => {
  it('fills the matrix for two sites and the server model', async () => {
    const workspace = mkdtempSync(join(tmpdir(), 'cse-sim-'));
    let wf: CrossSiteModelEval | undefined;
    const summary = await runSimulation({
      job: 'cse',
      sites: ['site-1', 'site-2'],
      workspace,
      server: () => {
        wf = new CrossSiteModelEval();
        const sag = new ScatterAndGather({
          aggregator: new WeightedFedAvgAggregator({ expectedKind: 'weights' }),
          numRounds: 1,
          minClients: 2,
          waitTimeAfterMinReceived: 0,
          allowEmptyGlobalWeights: true,
        });
        return { workflows: [sag, wf], filters: NO_FILTERS };
      },
      clients: { 'site-1': app(learner(1, 1)), 'site-2': app(learner(2, 2)) },
    });
    expect(summary.status).toBe('completed');
    // No initial model, so each site trains from its own init: mean(1 + 1, 2 + 2) = 3.
    expect(wf?.matrix?.results).toEqual({
      server: { 'site-1': { score: 31 }, 'site-2': { score: 32 } },
      'site-1': { 'site-1': { score: 11 }, 'site-2': { score: 12 } },
      'site-2': { 'site-1': { score: 21 }, 'site-2': { score: 22 } },
    });
    const file = JSON.parse(readFileSync(join(workspace, 'server', 'cross_site_val.json'), 'utf8'));
    expect(file.models).toEqual(['server', 'site-1', 'site-2']);
    expect(summary.server.metrics['cse.server.site-2.score']).toBe(32);
  });
});
