export { collectScores } from './collect.js';
export { type RoundScore, type RunReport, runReport } from './run-report.js';
export { type ChartOptions, lineChart, type Series } from './svg.js';
export {
  runSweep,
  type SweepLevel,
  type SweepOptions,
  type SweepReport,
  writeSweepOutputs,
} from './sweep.js';
