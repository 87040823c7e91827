/**
 * Terminal output helpers: plain-text tables, display rounding (summary.json keeps full
 * precision; only what is printed is rounded), and where output goes.
 */
import { VflareError } from '../runtime/core/errors.js';

/** Where a command writes; tests pass collecting sinks. */
export interface Io {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** Whether stdout is a terminal (progress bars only then). */
  readonly isTTY: boolean;
  /** Where progress bars are drawn; default stderr, so they never mix with results. */
  readonly progress?: NodeJS.WritableStream;
}

export const processIo: Io = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  isTTY: process.stdout.isTTY === true,
};

/** Rounds a number for display: integers as they are, others to 6 significant digits. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value) && Math.abs(value) < 1e15) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-4 || abs >= 1e9)) return value.toExponential(5);
  return String(Number(value.toPrecision(6)));
}

/** Left-aligned first column, right-aligned others, a rule under the header. */
export function formatTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(header), rule, ...rows.map(line)].join('\n');
}

/**
 * Metrics as a table. Names `<row>.<column>` sharing their last segment across several rows
 * become a matrix (e.g. `mean_radius.mean`, `mean_radius.std` → row `mean_radius`, columns
 * `mean`, `std`); other names are listed as `metric | value`.
 */
export function metricsTable(metrics: Readonly<Record<string, number>>): string {
  const names = Object.keys(metrics);
  if (names.length === 0) return '(no metrics)';
  const rows = new Map<string, Map<string, number>>();
  const columns: string[] = [];
  const single: [string, number][] = [];
  for (const name of names) {
    const dot = name.lastIndexOf('.');
    if (dot <= 0) {
      single.push([name, metrics[name] as number]);
      continue;
    }
    const row = name.slice(0, dot);
    const col = name.slice(dot + 1);
    if (!columns.includes(col)) columns.push(col);
    let r = rows.get(row);
    if (r === undefined) {
      r = new Map();
      rows.set(row, r);
    }
    r.set(col, metrics[name] as number);
  }
  const parts: string[] = [];
  if (rows.size > 1) {
    parts.push(
      formatTable(
        ['', ...columns],
        [...rows].map(([row, cells]) => [
          row,
          ...columns.map((c) => (cells.has(c) ? formatNumber(cells.get(c) as number) : '')),
        ]),
      ),
    );
  } else {
    for (const [row, cells] of rows) {
      for (const [col, v] of cells) single.push([`${row}.${col}`, v]);
    }
  }
  if (single.length > 0) {
    parts.push(
      formatTable(
        ['metric', 'value'],
        single.map(([n, v]) => [n, formatNumber(v)]),
      ),
    );
  }
  return parts.join('\n\n');
}

const LEVELS = ['debug', 'info', 'warn', 'error', 'silent'];

/** The log level from `--log-level`, else `LOG_LEVEL`, else warn; checked, naming its source. */
export function logLevel(flag: string | undefined): string {
  const level = flag ?? process.env['LOG_LEVEL'] ?? 'warn';
  if (!LEVELS.includes(level)) {
    const from = flag === undefined ? 'LOG_LEVEL' : '--log-level';
    throw new VflareError(
      'INVALID_ARGUMENT',
      `${from}: unknown level "${level}"; use one of ${LEVELS.join(', ')}`,
    );
  }
  return level;
}
