import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/leakage/dp/random.js';
import {
  applyFilters,
  ExcludeVars,
  flatten,
  GaussianMechanism,
  PercentilePrivacy,
  percentileTruncate,
  RelativeNoise,
  SvtPrivacy,
  sparseVector,
} from '../../src/leakage/filters/index.js';
import type { Payload, WeightDiffPayload } from '../../src/runtime/core/index.js';
import { diffPayload, filterContext } from './helpers.js';

const asDiff = (p: Payload) => p as WeightDiffPayload;
const values = (p: Payload) => Array.from(flatten(asDiff(p).weights).values);

describe('ExcludeVars', () => {
  const payload = diffPayload({ 'conv.w': [1, 2], 'conv.b': [3], 'fc.w': [4, 5] });

  it('removes exact names and regex matches, keeping the rest', async () => {
    const ctx = filterContext();
    const byName = await new ExcludeVars({ exclude: ['fc.w'] }).process(payload, ctx);
    expect(Object.keys(asDiff(byName).weights).sort()).toEqual(['conv.b', 'conv.w']);
    const byRegex = await new ExcludeVars({ exclude: '^conv\\.' }).process(payload, ctx);
    expect(Object.keys(asDiff(byRegex).weights)).toEqual(['fc.w']);
  });

  it('rejects a bad argument instead of doing nothing', () => {
    for (const bad of ['', [], [''], '([', 42, null, [3]]) {
      expect(() => new ExcludeVars({ exclude: bad as never })).toThrow(/ExcludeVars/);
    }
  });

  it('warns when the selection matches no variable', async () => {
    const ctx = filterContext();
    await new ExcludeVars({ exclude: ['missing'] }).process(payload, ctx);
    expect(ctx.logs.records.some((r) => r.level === 'warn')).toBe(true);
  });
});

describe('PercentilePrivacy', () => {
  it('zeroes exactly the entries below the cutoff and clips the survivors', () => {
    const arb = fc.array(fc.double({ min: -1, max: 1, noNaN: true }), {
      minLength: 1,
      maxLength: 200,
    });
    fc.assert(
      fc.property(arb, fc.integer({ min: 0, max: 100 }), (xs, pct) => {
        const v = Float64Array.from(xs);
        const gamma = 0.3;
        const { values: out, cutoff } = percentileTruncate(v, pct, gamma);
        // The cutoff is numpy's linear-interpolation percentile of |v|.
        const s = xs.map(Math.abs).sort((a, b) => a - b);
        const pos = (pct / 100) * (s.length - 1);
        const want =
          s[Math.floor(pos)]! +
          (s[Math.ceil(pos)]! - s[Math.floor(pos)]!) * (pos - Math.floor(pos));
        expect(cutoff).toBeCloseTo(want, 12);
        xs.forEach((x, i) => {
          if (Math.abs(x) < cutoff) expect(out[i]).toBe(0);
          else expect(out[i]).toBe(Math.min(gamma, Math.max(-gamma, x)));
        });
      }),
      { numRuns: 100 },
    );
  });

  it('works per local step and scales back', async () => {
    // Steps 2: per-step values 0.5, 1, 2, 4 → cutoff (50th pct) 1.5 → 0, 0, clip(2), clip(4).
    const p = diffPayload({ a: [1, 2], b: [4, 8] }, 2);
    const out = await new PercentilePrivacy({ percentile: 50, gamma: 3 }).process(p);
    expect(values(out)).toEqual([0, 0, 4, 6]);
  });

  it('rejects out-of-range arguments', () => {
    expect(() => new PercentilePrivacy({ percentile: 101 })).toThrow(/percentile/);
    expect(() => new PercentilePrivacy({ gamma: 0 })).toThrow(/gamma/);
  });

  it('refuses full weights and passes metrics through', async () => {
    const f = new PercentilePrivacy();
    const weights = { ...diffPayload({ a: [1] }), kind: 'weights' } as Payload;
    expect(() => f.process(weights)).toThrow(/weight differences/);
    const metrics: Payload = { kind: 'metrics', metrics: { acc: 1 }, meta: {} };
    expect(f.process(metrics)).toBe(metrics);
  });
});

describe('SvtPrivacy', () => {
  it('leaves every entry zero or a noised, clipped accepted value, at most the fraction', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 1, maxLength: 300 }),
        fc.double({ min: 0.01, max: 1, noNaN: true }),
        fc.integer(),
        (xs, fraction, seed) => {
          const gamma = 0.05;
          const params = { fraction, epsilon: 1, releaseEpsilon: 1, gamma, tau: 0 };
          const r = sparseVector(Float64Array.from(xs), params, seededRandom(seed));
          const nonZero = Array.from(r.values).filter((v) => v !== 0).length;
          expect(nonZero).toBeLessThanOrEqual(Math.ceil(fraction * xs.length));
          expect(r.accepted).toBeLessThanOrEqual(r.limit);
          for (const v of r.values) expect(Math.abs(v)).toBeLessThanOrEqual(gamma);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('releases noised values, not the raw ones, and keeps a readable per-site ledger', async () => {
    const xs = Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 1e-3);
    const f = new SvtPrivacy({
      fraction: 0.2,
      epsilon: 0.5,
      releaseEpsilon: 2,
      gamma: 1e-3,
      random: seededRandom(7),
    });
    const ctx = filterContext({ round: 3 });
    const out = values(await f.process(diffPayload({ w: xs }), ctx));
    const released = out.filter((v) => v !== 0);
    expect(released.length).toBeGreaterThan(0);
    expect(released.length).toBeLessThanOrEqual(200);
    const same = out.filter((v, i) => v !== 0 && Math.abs(v - xs[i]!) < 1e-12).length;
    expect(same).toBeLessThan(released.length / 2);
    await f.process(
      diffPayload({ w: xs }),
      filterContext({ round: 4, siteContext: ctx.siteContext }),
    );
    const ledger = ctx.siteContext.get('leakage.svtLedger')!;
    expect(ledger.total).toBeCloseTo(5, 12);
    expect(ledger.entries.map((e) => e.round)).toEqual([3, 4]);
  });
});

describe('GaussianMechanism', () => {
  it('clips the whole update to norm C before adding noise', async () => {
    const f = new GaussianMechanism({ clipNorm: 1, noiseMultiplier: 0, random: seededRandom(1) });
    const out = values(await f.process(diffPayload({ a: [3], b: [4] }), filterContext()));
    expect(out[0]).toBeCloseTo(0.6, 6);
    expect(out[1]).toBeCloseTo(0.8, 6);
    const small = values(await f.process(diffPayload({ a: [0.3], b: [0.4] }), filterContext()));
    expect(small[0]).toBeCloseTo(0.3, 6);
  });

  it('adds noise with standard deviation z·C', async () => {
    const f = new GaussianMechanism({ clipNorm: 2, noiseMultiplier: 0.5, random: seededRandom(3) });
    const out = values(
      await f.process(diffPayload({ w: new Float32Array(20000) }), filterContext()),
    );
    const mean = out.reduce((s, v) => s + v, 0) / out.length;
    const sd = Math.sqrt(out.reduce((s, v) => s + (v - mean) ** 2, 0) / out.length);
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(sd).toBeGreaterThan(0.97);
    expect(sd).toBeLessThan(1.03);
  });

  it('publishes (ε, δ) per site, growing with the rounds', async () => {
    const ctx = filterContext();
    const f = new GaussianMechanism({
      clipNorm: 1,
      noiseMultiplier: 2,
      adjacency: 'add-remove',
      random: seededRandom(4),
    });
    await f.process(diffPayload({ w: [1] }), ctx);
    const one = ctx.siteContext.get('leakage.gaussianLedger')!.spent();
    await f.process(diffPayload({ w: [1] }), ctx);
    const two = ctx.siteContext.get('leakage.gaussianLedger')!.spent();
    expect(one.rounds).toBe(1);
    expect(two.epsilon).toBeGreaterThan(one.epsilon);
    expect(f.accountedMultiplier).toBe(2);
    expect(new GaussianMechanism({ clipNorm: 1, noiseMultiplier: 2 }).accountedMultiplier).toBe(1);
  });
});

describe('RelativeNoise', () => {
  it('is labelled not differentially private and scales σ by the update', () => {
    const f = new RelativeNoise({ sigma0: 2, percentile: 50 });
    expect(f.name).toMatch(/not-DP/);
    expect(f.differentiallyPrivate).toBe(false);
    expect(f.sigmaFor(Float64Array.from([0, 1, -2, 3]))).toBeCloseTo(4, 12);
    expect(() => new RelativeNoise({ sigma0: -1 })).toThrow(/sigma0/);
  });
});

describe('applyFilters', () => {
  it('runs filters in order and records them in the filter history', async () => {
    const chain = [
      new PercentilePrivacy({ percentile: 0, gamma: 1 }),
      new GaussianMechanism({ clipNorm: 1, noiseMultiplier: 0.1, random: seededRandom(5) }),
    ];
    const out = await applyFilters(chain, diffPayload({ w: [0.5, 2] }), filterContext());
    expect(out.meta.filterHistory).toEqual(['PercentilePrivacy', 'GaussianMechanism']);
  });
});
