import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { defaultRegistry } from '../../src/components.js';
import { RdpAccountant } from '../../src/leakage/dp/rdp.js';
import { runSweep, type SweepReport, writeSweepOutputs } from '../../src/leakage/report/index.js';

const fashionDir = fileURLToPath(new URL('../../examples/data/fashion-mnist', import.meta.url));

// A dense first layer: the leakage filter takes the exact analytic path, so a level costs
// seconds, not minutes.
const model = {
  inputShape: [28, 28, 1],
  classes: 2,
  layers: [
    { type: 'flatten' },
    { type: 'dense', units: 4, activation: 'sigmoid' },
    { type: 'dense', units: 2 },
  ],
};
const data = { path: 'data/fashion-mnist', part: 't10k', classes: [0, 6] };

/** A two-site FedAvg job with a RelativeNoise filter (id `noise`) and the leakage filter. */
function job(rounds: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'vflare-leakage-sweep-'));
  symlinkSync(join(fashionDir, '..'), join(dir, 'data'));
  const write = (path: string, value: unknown) => {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), JSON.stringify(value));
  };
  write('meta.json', {
    name: 'sweep-test',
    deployMap: { app_server: ['server'], app_client: ['site-1', 'site-2'] },
    minClients: 2,
  });
  write('app_server/config/server.json', {
    components: [
      { id: 'aggregator', type: 'WeightedFedAvgAggregator', args: { expectedKind: 'weight-diff' } },
      { id: 'persistor', type: 'FileModelPersistor', args: {} },
    ],
    workflows: [
      {
        type: 'InitializeGlobalWeights',
        args: { weightMethod: 'client', weightsClientName: 'site-2' },
      },
      {
        type: 'ScatterAndGather',
        args: {
          aggregator: 'aggregator',
          persistor: 'persistor',
          minClients: 2,
          waitTimeAfterMinReceived: 0,
          numRounds: rounds,
        },
      },
    ],
  });
  write('app_client/config/client.json', {
    executors: [
      {
        executor: {
          id: 'learner',
          type: 'leakage.TfFedAvgExecutor',
          args: { model, learningRate: 0.1, batchSize: 1, data, train: [0, 1], valid: [40, 80] },
        },
      },
    ],
    filters: {
      taskResult: [
        {
          tasks: ['train'],
          filters: [
            { id: 'noise', type: 'leakage.RelativeNoise', args: { sigma0: 0, seed: 1 } },
            {
              id: 'leakage',
              type: 'leakage.LeakageFilter',
              args: { prior: { ...data, range: [100, 120] }, threshold: 100 },
            },
          ],
        },
      ],
    },
    sites: { 'site-2': { learner: { batchSize: 4, train: [1, 9] } } },
  });
  return dir;
}

describe('the leakage sweep', () => {
  it('sweeps the Gaussian mechanism in place of the configured noise and reports ε', async () => {
    const jobDir = job(2);
    const outDir = mkdtempSync(join(tmpdir(), 'vflare-leakage-sweep-out-'));
    const report = await runSweep({
      jobDir,
      registry: defaultRegistry(),
      outDir,
      levels: [0, 1],
      mechanism: 'gaussian',
      clipNorm: 0.5,
      delta: 1e-6,
    });
    expect(report.noise).toMatchObject({
      type: 'leakage.GaussianMechanism',
      argument: 'noiseMultiplier',
      fixed: { clipNorm: 0.5, delta: 1e-6 },
    });
    expect(report.differentiallyPrivate).toBe(true);
    const [free, noisy] = report.levels;
    expect(free!.status).toBe('completed');
    // No noise: no bound, reported as null (JSON has no Infinity).
    expect(free!.privacy).toEqual({ epsilon: null, delta: 1e-6, rounds: 2 });
    // z = 1 with replace adjacency is charged z/2 = 0.5 per round, two rounds.
    const expected = new RdpAccountant();
    expected.record({ noiseMultiplier: 0.5, samplingRate: 1, steps: 2 });
    expect(noisy!.privacy!.epsilon).toBeCloseTo(expected.epsilon(1e-6).epsilon, 9);
    expect(noisy!.privacy!.rounds).toBe(2);
    // The single-image site is recovered exactly without noise, and not under noise.
    expect(free!.maxRdlv['site-1']!).toBeGreaterThan(1);
    expect(noisy!.maxRdlv['site-1']!).toBeLessThan(free!.maxRdlv['site-1']!);
    expect(free!.testAccuracy).not.toBeNull();
    // The level's job really ran the Gaussian mechanism, with the configured seed kept out.
    const cfg = JSON.parse(
      readFileSync(join(outDir, 'jobs', 'level-1', 'app_client', 'config', 'client.json'), 'utf8'),
    );
    expect(cfg.filters.taskResult[0].filters[0]).toEqual({
      id: 'noise',
      type: 'leakage.GaussianMechanism',
      args: { clipNorm: 0.5, delta: 1e-6, noiseMultiplier: 1 },
    });
    const saved = JSON.parse(
      readFileSync(join(outDir, 'leakage-sweep.json'), 'utf8'),
    ) as SweepReport;
    expect(saved.levels[1]!.privacy!.epsilon).toBe(noisy!.privacy!.epsilon);
    const svg = readFileSync(join(outDir, 'leakage-vs-noise.svg'), 'utf8');
    expect(svg).toContain('z = 1');
    expect(svg).toContain('ε = ∞');
  }, 180_000);

  it('refuses a Gaussian sweep without a clip norm, naming the option', async () => {
    await expect(
      runSweep({
        jobDir: job(1),
        registry: defaultRegistry(),
        outDir: mkdtempSync(join(tmpdir(), 'vflare-leakage-sweep-out-')),
        levels: [0],
        mechanism: 'gaussian',
      }),
    ).rejects.toThrow(/clipNorm \(--clip\)/);
  });

  it('re-draws a saved relative-noise report, one written before ε was recorded', async () => {
    const outDir = mkdtempSync(join(tmpdir(), 'vflare-leakage-redraw-'));
    const level = (l: number, rdlv: number) => ({
      level: l,
      status: 'completed',
      seconds: 1,
      testAccuracy: 0.8,
      accuracyLost: 0,
      rdlv: { 'site-3': [{ round: 0, rdlv, withheld: rdlv > 1 }] },
      maxRdlv: { 'site-3': rdlv },
    });
    const old = {
      job: 'old',
      noise: { id: 'noise', type: 'leakage.RelativeNoise', argument: 'sigma0' },
      differentiallyPrivate: false,
      levels: [level(0, 2.5), level(0.5, 0.1)],
    } as unknown as SweepReport;
    await writeSweepOutputs(outDir, old);
    const svg = readFileSync(join(outDir, 'leakage-vs-noise.svg'), 'utf8');
    expect(svg).toContain('σ₀ = 0.5');
    expect(svg).toContain('not DP');
    expect(svg).not.toContain('ε =');
    expect(JSON.parse(readFileSync(join(outDir, 'leakage-sweep.json'), 'utf8'))).toEqual(old);
  });
});
