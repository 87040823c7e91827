import { runSimulation } from './src/runtime/sim/index.js';
import { NO_FILTERS } from './src/runtime/core/app.js';
const N = 300;
const summary = await runSimulation({
  job: 'rt', sites: ['a', 'b'], workspace: '/tmp/sx/rt',
  server: { filters: NO_FILTERS, workflows: [{ name: 'w', async run(api) { await api.broadcastAndWait({ name: 't', data: null }, { minResponses: 0 }); } }] },
  clients: (env) => ({ filters: NO_FILTERS, executors: [{ tasks: ['t'], async execute(_t, ctx) {
    if (ctx.site === 'b') { ctx.peers.register('echo', (r) => r.payload); await new Promise((r) => setTimeout(r, 100)); return null; }
    await new Promise((r) => setTimeout(r, 50));
    const payload = { kind: 'metrics' as const, metrics: { x: 1 }, meta: {} };
    const t0 = performance.now();
    for (let i = 0; i < N; i++) await ctx.peers.request('b', 'echo', payload, { timeoutMs: 5000 });
    const ms = (performance.now() - t0) / N;
    console.log('round trip ms', ms.toFixed(3));
    const big = { kind: 'weights' as const, weights: { w: { shape: [64, 128], data: new Float32Array(8192) } }, meta: {} };
    const t1 = performance.now();
    for (let i = 0; i < N; i++) await ctx.peers.request('b', 'echo', big, { timeoutMs: 5000 });
    console.log('round trip 32KB ms', ((performance.now() - t1) / N).toFixed(3));
    return null; } }] }),
});
console.log(summary.status);
