import { describe, expect, it } from 'vitest';
import { gaussianRdp, RdpAccountant, rdpToDp } from '../../src/leakage/dp/rdp.js';

// Reference values published in TensorFlow Privacy's rdp_accountant tests
// (tensorflow_privacy/privacy/analysis/rdp_accountant_test.py).
describe('the Rényi-DP accountant', () => {
  it('matches the unsampled Gaussian ε_α = α / (2z²)', () => {
    expect(gaussianRdp(1, 10, 20)).toBeCloseTo(0.1, 12);
    expect(gaussianRdp(0, 10, 20)).toBe(0);
  });

  it('matches published sampled-Gaussian RDP values', () => {
    expect(10 * gaussianRdp(0.1, 2, 5)).toBeCloseTo(0.07737, 5);
    expect(50 * gaussianRdp(0.01, 2.5, 5)).toBeCloseTo(0.00218075, 5);
    expect(50 * gaussianRdp(0.01, 2.5, 50)).toBeCloseTo(0.023846, 5);
    expect(50 * gaussianRdp(0.01, 2.5, 100)).toBeCloseTo(167.416307, 3);
  });

  it('converts RDP to (ε, δ) as published', () => {
    const orders = Array.from({ length: 31 }, (_, i) => i + 2);
    const r = rdpToDp(
      orders,
      orders.map(() => 1.1),
      1e-5,
    );
    expect(r.order).toBe(32);
    expect(r.epsilon).toBeCloseTo(1.32783806176, 9);
  });

  it('gives (1, 1e-6) for one unsampled release at z = 4.530877117', () => {
    const orders = Array.from({ length: 99000 }, (_, i) => 1 + (i + 1) * 0.001);
    const acc = new RdpAccountant(orders);
    acc.record({ noiseMultiplier: 4.530877117, samplingRate: 1, steps: 1 });
    expect(acc.epsilon(1e-6).epsilon).toBeCloseTo(1, 5);
  });

  it('composes by adding RDP over releases', () => {
    const a = new RdpAccountant([2, 8, 32]);
    a.record({ noiseMultiplier: 1.1, samplingRate: 0.01, steps: 100 });
    a.record({ noiseMultiplier: 1.1, samplingRate: 0.01, steps: 50 });
    const b = new RdpAccountant([2, 8, 32]);
    b.record({ noiseMultiplier: 1.1, samplingRate: 0.01, steps: 150 });
    a.rdp().forEach((v, i) => {
      expect(v).toBeCloseTo(b.rdp()[i]!, 12);
    });
    expect(a.releases).toBe(150);
  });

  it('rejects invalid parameters', () => {
    expect(() => gaussianRdp(1.5, 1, 2)).toThrow(/sampling rate/);
    expect(() => gaussianRdp(0.5, 1, 1)).toThrow(/order/);
    expect(() => rdpToDp([2], [1], 0)).toThrow(/delta/);
  });
});
