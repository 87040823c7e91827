/**
 * What the workflows of this folder leave in the server's JobState for the next workflow of the
 * same job (typed by declaration merging, see core/context.ts).
 */
import type { TensorMap } from '../core/messages.js';

/** The cross-site evaluation matrix: model owner → validating site → metrics (null = failed). */
export interface CrossSiteMatrix {
  /** Model names: each site's own name, and `server` for the global model. */
  readonly models: readonly string[];
  /** Sites that validated. */
  readonly sites: readonly string[];
  readonly results: Readonly<
    Record<string, Readonly<Record<string, Readonly<Record<string, number>> | null>>>
  >;
}

declare module '../core/context.js' {
  interface JobStateEntries {
    /** The global model: set by InitializeGlobalWeights, updated by ScatterAndGather. */
    globalModel: TensorMap;
    /** Set by CrossSiteModelEval. */
    crossSiteMatrix: CrossSiteMatrix;
  }
}
