import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { components } from '../../src/leakage/components.js';
import { idxSlice, meanImagePrior } from '../../src/leakage/data.js';
import { lineChart, runReport } from '../../src/leakage/report/index.js';
import { silentLogger } from '../../src/runtime/core/index.js';

const fashionDir = new URL('../../examples/data/fashion-mnist', import.meta.url).pathname;

describe('leakage reports', () => {
  it('draw a well-formed SVG with every series and escaped labels', () => {
    const svg = lineChart({
      title: 'a < b & c',
      xLabel: 'round',
      yLabel: 'RDLV',
      y2Label: 'accuracy',
      series: [
        {
          name: 'site-1',
          points: [
            [0, 0.1],
            [1, 0.4],
          ],
        },
        {
          name: 'acc',
          right: true,
          dashed: true,
          points: [
            [0, 0.8],
            [1, Number.NaN],
          ],
        },
      ],
      hLines: [{ y: 1, label: 'threshold 1' }],
    });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('a &lt; b &amp; c');
    expect(svg).toContain('site-1');
    expect(svg).not.toContain('NaN');
    expect(svg.match(/<path /g)?.length).toBe(2);
  });

  it('collect per-round scores from a workspace into JSON and SVG', async () => {
    const ws = mkdtempSync(join(tmpdir(), 'vflare-leakage-report-'));
    for (const [site, values] of [
      ['site-1', [0.2, 0.5]],
      ['site-3', [1.5, 0.9]],
    ] as const) {
      mkdirSync(join(ws, site, 'leakage'), { recursive: true });
      values.forEach((rdlv, round) => {
        writeFileSync(
          join(ws, site, 'leakage', `rdlv_round${round}.json`),
          JSON.stringify({ site, round, rdlv, threshold: 1, withheld: rdlv > 1, seconds: 2 }),
        );
      });
    }
    const r = await runReport(ws);
    expect(r.sites['site-3']!.map((s) => s.rdlv)).toEqual([1.5, 0.9]);
    expect(r.threshold).toBe(1);
    const json = JSON.parse(readFileSync(join(ws, 'leakage-per-round.json'), 'utf8'));
    expect(json.sites['site-1']).toHaveLength(2);
    expect(readFileSync(join(ws, 'leakage-per-round.svg'), 'utf8')).toContain('site-3');
    await expect(runReport(join(ws, 'missing'))).rejects.toThrow(/no leakage scores/);
  });
});

describe('leakage data and components', () => {
  it('select classes, relabel them and take ranges within that subset', () => {
    const d = idxSlice(fashionDir, 't10k', [0, 20], [0, 6]);
    expect(d.count).toBe(20);
    expect(new Set(d.labels)).toEqual(new Set([0, 1]));
    expect(meanImagePrior(fashionDir, 't10k', [0, 4], [0, 6])).toHaveLength(784);
    expect(() => idxSlice(fashionDir, 't10k', [0, 5000], [0, 6])).toThrow(
      /within the chosen classes/,
    );
    expect(() => idxSlice(fashionDir, 't10k', [0, 5], [3])).toThrow(/two distinct/);
  });

  it('build the privacy filters from configuration and reject bad arguments', () => {
    const env = {
      site: 'site-1',
      dataRoot: fashionDir,
      jobDir: fashionDir,
      workspace: tmpdir(),
      seed: 0,
      logger: silentLogger,
      resolve: () => undefined,
    };
    const byType = (t: string) => components.find((c) => c.type === t)!;
    const ex = byType('leakage.ExcludeVars');
    expect(() => ex.create(ex.args.parse({ exclude: '' }), env)).toThrow(/ExcludeVars/);
    const g = byType('leakage.GaussianMechanism');
    const filter = g.create(g.args.parse({ clipNorm: 1, noiseMultiplier: 1.1, seed: 3 }), env) as {
      name: string;
    };
    expect(filter.name).toBe('GaussianMechanism');
    const leak = byType('leakage.LeakageFilter');
    const parsed = leak.args.parse({
      prior: { path: '.', part: 't10k', classes: [0, 6], range: [0, 10] },
      inversion: { iterations: 5 },
    });
    expect((leak.create(parsed, env) as { name: string }).name).toBe('LeakageFilter');
  });

  it('confine the learner and prior data paths to the site data root, naming the path', () => {
    const env = {
      site: 'site-2',
      dataRoot: join(fashionDir, 'nested'),
      jobDir: fashionDir,
      workspace: tmpdir(),
      seed: 0,
      logger: silentLogger,
      resolve: () => undefined,
    };
    const byType = (t: string) => components.find((c) => c.type === t)!;
    const learner = byType('leakage.TfFedAvgExecutor');
    const learnerArgs = (path: string) =>
      learner.args.parse({
        model: {
          inputShape: [28, 28, 1],
          classes: 2,
          layers: [{ type: 'flatten' }, { type: 'dense', units: 2 }],
        },
        learningRate: 0.1,
        batchSize: 1,
        data: { path, classes: [0, 6] },
        train: [0, 1],
      });
    for (const path of ['..', '../../fashion-mnist', fashionDir, '/etc']) {
      expect(() => learner.create(learnerArgs(path), env)).toThrow(
        new RegExp(`data path "${path}" leaves the data root of site site-2`),
      );
    }
    const leak = byType('leakage.LeakageFilter');
    const prior = (path: string) =>
      leak.args.parse({ prior: { path, part: 't10k', classes: [0, 6], range: [0, 10] } });
    expect(() => leak.create(prior('../'), env)).toThrow(/leaves the data root/);
    expect(() => leak.create(prior(fashionDir), env)).toThrow(/leaves the data root/);
    // Inside the root is fine: the prior is read (the root here is the data folder itself).
    const inside = { ...env, dataRoot: fashionDir };
    expect((leak.create(prior('.'), inside) as { name: string }).name).toBe('LeakageFilter');
    expect((learner.create(learnerArgs('./'), inside) as { tasks: unknown }).tasks).toContain(
      'train',
    );
  });
});
