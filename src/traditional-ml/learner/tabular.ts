/**
 * What every tabular learner shares: its data spec, row ranges and parameters, the site's rows
 * loaded at `initialise`, and a seed derived from the job seed and the site name (so two sites
 * never draw the same random stream). Subclasses check their rows in `checkData`, which runs
 * before round 0, so a misconfigured site stops before it trains.
 */
import { type TensorMap, VflareError } from '../../runtime/core/index.js';
import { type DataSpec, loadSiteData, type RowRanges, type SiteData } from '../data/spec.js';
import { type Learner, type LearnerSetup, siteSeed, type TrainOutput } from './learner.js';

export abstract class TabularLearner<P> implements Learner {
  abstract readonly algorithm: string;
  protected readonly params: P;
  readonly #spec: DataSpec;
  readonly #ranges: RowRanges;
  #data: SiteData | undefined;
  #seed = 0;

  constructor(data: DataSpec, ranges: RowRanges, params: P) {
    this.#spec = data;
    this.#ranges = ranges;
    this.params = params;
  }

  initialise(setup: LearnerSetup): void {
    const data = loadSiteData(this.#spec, this.#ranges, setup.dataRoot, setup.seed);
    this.checkData(data, setup.site);
    this.#data = data;
    this.#seed = siteSeed(setup.seed, setup.site);
  }

  /** Refuses rows this learner cannot train on; throws a `VflareError` saying what to change. */
  protected checkData(_data: SiteData, _site: string): void {}

  /** The site's rows; an internal error before `initialise`. */
  protected get data(): SiteData {
    if (this.#data === undefined) {
      throw new VflareError('INTERNAL', `${this.algorithm} learner not initialised`);
    }
    return this.#data;
  }

  /** This site's seed (valid after `initialise`). */
  protected get seed(): number {
    return this.#seed;
  }

  abstract train(
    round: number,
    global: TensorMap,
    numRounds: number | undefined,
  ): Promise<TrainOutput> | TrainOutput;

  abstract validate(round: number, global: TensorMap): Record<string, number>;
}
