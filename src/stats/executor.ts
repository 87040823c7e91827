/**
 * The site side of federated statistics: reads the site's CSV (path relative to the site's data
 * root, `{site}` substituted by the job loader) and answers the two statistics tasks. A feature
 * with fewer than `minCount` values is refused, because statistics of very few rows describe
 * individuals (min and max are single values).
 */

import { VflareError } from '../runtime/core/errors.js';
import type { Executor, ExecutorContext } from '../runtime/core/executor.js';
import type { Payload, TaskData } from '../runtime/core/messages.js';
import { type NumericTable, readNumericCsv } from './data.js';
import { type FeatureSummary, histogram, summarize } from './math.js';
import { HISTOGRAM_TASK, SUMMARY_TASK, summaryPayload } from './protocol.js';

export interface StatsExecutorOptions {
  /** Absolute path of the site's CSV (header row, numeric cells, empty = missing). */
  readonly dataPath: string;
  /** Columns to describe; default: every column not in `exclude`. */
  readonly features?: readonly string[] | undefined;
  readonly exclude?: readonly string[] | undefined;
  /** Smallest number of values a feature must have at this site; default 10. */
  readonly minCount?: number | undefined;
}

export class StatsExecutor implements Executor {
  readonly tasks = [SUMMARY_TASK, HISTOGRAM_TASK];
  readonly #o: StatsExecutorOptions;
  #table: Promise<NumericTable> | undefined;

  constructor(options: StatsExecutorOptions) {
    this.#o = options;
  }

  async execute(task: TaskData, ctx: ExecutorContext): Promise<Payload> {
    const { table, columns } = await this.#columns(ctx);
    if (task.headers.taskName === SUMMARY_TASK) {
      const summaries = new Map<string, FeatureSummary>();
      for (const [name, values] of columns) {
        const s = summarize(values);
        const min = this.#o.minCount ?? 10;
        if (s.count < min) {
          throw new VflareError(
            'INVALID_DATA',
            `feature "${name}" has ${s.count} value(s) at this site, fewer than minCount ${min}`,
          );
        }
        summaries.set(name, s);
      }
      ctx.reportMetrics({ rows: table.rows });
      return summaryPayload(summaries);
    }
    if (task.headers.taskName === HISTOGRAM_TASK) {
      const payload = task.payload;
      if (payload === null || payload.kind !== 'statistics') {
        throw new VflareError(
          'INVALID_DATA',
          `${HISTOGRAM_TASK} needs the bin edges as statistics`,
        );
      }
      const stats: Record<string, { shape: number[]; data: Float64Array }> = {};
      for (const [name, edges] of Object.entries(payload.stats)) {
        const values = columns.get(name);
        if (values === undefined) {
          throw new VflareError('INVALID_DATA', `no feature "${name}" at this site`);
        }
        const { counts } = histogram(values, Float64Array.from(edges.data));
        stats[name] = { shape: [counts.length], data: counts };
      }
      return { kind: 'statistics', stats, meta: {} };
    }
    throw new VflareError('UNSUPPORTED', `StatsExecutor does not answer ${task.headers.taskName}`);
  }

  async #columns(ctx: ExecutorContext) {
    this.#table ??= readNumericCsv(this.#o.dataPath, `of site ${ctx.site}`);
    const table = await this.#table;
    const exclude = new Set(this.#o.exclude ?? []);
    const names = this.#o.features ?? table.columns.filter((c) => !exclude.has(c));
    const columns = new Map<string, Float64Array>();
    for (const name of names) {
      const i = table.columns.indexOf(name);
      if (i < 0) throw new VflareError('INVALID_DATA', `site data has no column "${name}"`);
      columns.set(name, table.values[i] as Float64Array);
    }
    return { table, columns };
  }
}
