/** The run plan the controller sends every party, and the seeds every party derives from it. */
import { streamOf } from './random.js';

export interface TrainingPlan {
  /** `train` a model, or `predict` with halves saved by an earlier training run. */
  readonly mode: 'train' | 'predict';
  readonly labelParty: string;
  /** Cut-layer sources in concatenation order (may include the label party). */
  readonly order: readonly string[];
  readonly steps: number;
  readonly batchSize: number;
  readonly validationFraction: number;
  /** Validate every this many steps (0: only after the last step). */
  readonly validateEvery: number;
  readonly float16: boolean;
  /** How long the label party waits for each feature party's reply. */
  readonly peerTimeoutMs: number;
}

/** Seed of a party's half (or `top`), from the job seed. */
export function halfSeed(jobSeed: number, part: string): number {
  return (Math.imul(jobSeed >>> 0, 0x9e3779b1) ^ streamOf(`splitnn.init/${part}`)) >>> 0;
}
