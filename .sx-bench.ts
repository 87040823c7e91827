import suite from './benchmarks/suites/splitnn.js';
const figs = await suite.run({ quick: process.argv[2] === 'quick', log: (l) => console.log(l) });
for (const f of figs) console.log(f.name, f.value.toFixed(4), f.unit, 'peer', f.peerValue?.toFixed(4), 'ratio', f.ratio?.toFixed(3));
