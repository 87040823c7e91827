/**
 * The contract every benchmark suite follows. `benchmarks/run.ts` finds suites in
 * `benchmarks/suites/<name>.ts`, runs the selected ones, prints a table and writes
 * `benchmarks/results/<suite>.json` as `{suite, machine, figures}`.
 */

/** One measured figure, ideally as a ratio against its peer measured in the same run. */
export interface Figure {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  /** What `value` is compared with (e.g. `psi.js`, `plain copy`, `centralised`). */
  readonly peer?: string;
  readonly peerValue?: number;
  /** value / peerValue, or the suite's documented orientation; say which in `note`. */
  readonly ratio?: number;
  readonly note?: string;
}

export interface SuiteOptions {
  /** Smaller sizes, for a smoke run (`npm run bench -- --quick`). */
  readonly quick: boolean;
  /** Folder with full data sets (e.g. Fashion-MNIST IDX files), when given. */
  readonly dataDir?: string;
  /** Progress lines for the terminal. */
  readonly log: (line: string) => void;
}

export interface Suite {
  readonly name: string;
  readonly description: string;
  run(options: SuiteOptions): Promise<Figure[]>;
}
