import { describe, expect, it } from 'vitest';
import {
  defaultRegistry,
  eagerComponents,
  lazyComponents,
  loadAllComponents,
} from '../src/components.js';

describe('the built-in component registry', () => {
  it('imports a heavy module only when a job names one of its types', async () => {
    const registry = defaultRegistry();
    expect(registry.get('ScatterAndGather')?.type).toBe('ScatterAndGather');
    expect(registry.get('stats.StatsExecutor')?.type).toBe('stats.StatsExecutor');
    for (const { prefix } of lazyComponents) {
      expect(registry.isPending(`${prefix}.Anything`)).toBe(true);
    }
    await registry.ensure(['psi.PsiExecutor']);
    expect(registry.get('psi.PsiExecutor')?.type).toBe('psi.PsiExecutor');
    expect(registry.isPending('tml.LinearLearner')).toBe(true);
    expect(registry.isPending('leakage.LeakageFilter')).toBe(true);
  });

  it("names every lazy module's types with its prefix, so each one can be found", async () => {
    // A type outside its module's prefix would be unreachable until something loaded it.
    for (const { prefix, load } of lazyComponents) {
      const defs = await load();
      expect(defs.length).toBeGreaterThan(0);
      for (const d of defs) expect(d.type.startsWith(`${prefix}.`), d.type).toBe(true);
    }
    const all = await loadAllComponents();
    const types = all.map((d) => d.type);
    expect(new Set(types).size).toBe(types.length);
    expect(types).toEqual(expect.arrayContaining(eagerComponents.map((d) => d.type)));
    const registry = defaultRegistry();
    await registry.ensureAll();
    expect(registry.types()).toEqual([...types].sort());
  });

  it('lists every type in the error for an unknown type', async () => {
    const registry = defaultRegistry();
    await expect(registry.resolve('tml.linearlearner')).rejects.toThrow(
      /unknown component type "tml\.linearlearner" \(did you mean "tml\.LinearLearner"\?\)/,
    );
  });
});
