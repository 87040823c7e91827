/**
 * Client splits as NVFlare's examples define them (`prepare_job_config.py`, and Flower's
 * partitioners): a ratio per client id k = 1..K — uniform 1, linear k, square k², exponential
 * e^k — client k < K gets ⌊N·r_k / Σr⌋ rows and the last client the remainder. Validation rows
 * come first; clients take contiguous blocks after them, in id order.
 */
import { VflareError } from '../../runtime/core/index.js';

export const SPLIT_METHODS = ['uniform', 'linear', 'square', 'exponential'] as const;
export type SplitMethod = (typeof SPLIT_METHODS)[number];

/** Rows per client for `n` training rows and `k` clients. */
export function splitSizes(n: number, k: number, method: SplitMethod): number[] {
  if (!Number.isInteger(n) || n < 0) {
    throw new VflareError('INVALID_ARGUMENT', `split: row count must be an integer ≥ 0, got ${n}`);
  }
  if (!Number.isInteger(k) || k < 1) {
    throw new VflareError(
      'INVALID_ARGUMENT',
      `split: client count must be an integer ≥ 1, got ${k}`,
    );
  }
  const ratio: number[] = [];
  for (let id = 1; id <= k; id++) {
    switch (method) {
      case 'uniform':
        ratio.push(1);
        break;
      case 'linear':
        ratio.push(id);
        break;
      case 'square':
        ratio.push(id * id);
        break;
      case 'exponential':
        ratio.push(Math.exp(id));
        break;
      default:
        throw new VflareError(
          'INVALID_ARGUMENT',
          `split: unknown method "${method as string}"; use one of ${SPLIT_METHODS.join(', ')}`,
        );
    }
  }
  const total = ratio.reduce((a, b) => a + b, 0);
  const sizes = ratio.slice(0, k - 1).map((r) => Math.floor((n * r) / total));
  sizes.push(n - sizes.reduce((a, b) => a + b, 0));
  return sizes;
}

export interface RowRange {
  readonly start: number;
  readonly end: number;
}

export interface ClientRanges {
  readonly validation: RowRange;
  readonly clients: readonly RowRange[];
}

export interface RangeOptions {
  /** Fraction of rows used for validation (the first rows); 1 = validate and train on all. */
  readonly validFraction?: number;
  /** Absolute number of validation rows (NVFlare's random forest); wins over the fraction. */
  readonly validRows?: number;
}

/**
 * Row ranges for validation and each client. Validation is the first round(N·fraction) rows
 * (or `validRows`); with fraction 1 it covers every row and the client blocks cover the whole
 * file too, as in NVFlare's k-means example.
 */
export function clientRanges(
  n: number,
  k: number,
  method: SplitMethod,
  options: RangeOptions = {},
): ClientRanges {
  const frac = options.validFraction ?? 0;
  if (!(frac >= 0 && frac <= 1)) {
    throw new VflareError(
      'INVALID_ARGUMENT',
      `split: validFraction must be in [0, 1], got ${frac}`,
    );
  }
  const valid = options.validRows ?? Math.round(n * frac);
  if (!Number.isInteger(valid) || valid < 0 || valid > n) {
    throw new VflareError(
      'INVALID_ARGUMENT',
      `split: validRows must be in [0, ${n}], got ${valid}`,
    );
  }
  const all = options.validRows === undefined && frac === 1;
  const offset = all ? 0 : valid;
  const sizes = splitSizes(all ? n : n - valid, k, method);
  const clients: RowRange[] = [];
  let start = offset;
  for (const s of sizes) {
    clients.push({ start, end: start + s });
    start += s;
  }
  return { validation: { start: 0, end: valid }, clients };
}
