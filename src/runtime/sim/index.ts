export {
  type AppEnv,
  runSimulation,
  type SimulationControl,
  type SimulationOptions,
  type SiteFault,
  writeSummary,
} from './simulator.js';
