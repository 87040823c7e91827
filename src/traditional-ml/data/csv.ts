/**
 * CSV loaders for the formats the examples ship: scikit-learn's bundled CSVs (a first line
 * `n_rows,n_features,class names…`, then rows with the label last), NVFlare's headerless
 * label-first files, and feature-only files for scoring. Parsing is csv-parse's.
 *
 * A data row is never taken for a header (NVFlare 2.3's loader lost the first sample that way):
 * the first line counts as a header only when one of its fields is not a number, and a header of
 * the scikit-learn shape must agree with the rows that follow.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { parse } from 'csv-parse/sync';
import { VflareError } from '../../runtime/core/index.js';
import { type Dataset, makeDataset } from './dataset.js';

export type LabelColumn = 'first' | 'last' | 'none';

export interface CsvOptions {
  /** Where the label is; default `last` (scikit-learn's files). */
  readonly label?: LabelColumn;
  /** Field delimiter; default `,`. Use `' '` for whitespace-separated files. */
  readonly delimiter?: string;
  /** `auto` (default): the first line is a header only if it holds a non-numeric field. */
  readonly header?: 'auto' | 'none';
  /** Name used in error messages (a file path); default `csv`. */
  readonly source?: string;
}

export interface LoadedCsv {
  readonly dataset: Dataset;
  /** Header fields when the file had one. */
  readonly header: readonly string[] | undefined;
  /** Class names from a scikit-learn header, if present. */
  readonly classNames: readonly string[] | undefined;
}

/** Parses CSV text into a dataset; every field of a data row must be a finite number. */
export function parseCsv(text: string, options: CsvOptions = {}): LoadedCsv {
  const source = options.source ?? 'csv';
  const label = options.label ?? 'last';
  const delimiter = options.delimiter ?? ',';
  let records: string[][];
  try {
    records = parse(delimiter === ' ' ? text.replace(/[ \t]+/g, ' ') : text, {
      delimiter,
      // Spreadsheet exports often start with a byte-order mark; it is not part of the first field.
      bom: true,
      skip_empty_lines: true,
      trim: true,
      relax_column_count: true,
    }) as string[][];
  } catch (err) {
    // csv-parse's messages may quote field contents; report only its error code.
    const code = (err as { code?: unknown }).code;
    throw new VflareError(
      'INVALID_DATA',
      `${source}: not valid CSV (${typeof code === 'string' ? code : 'parse error'})`,
    );
  }
  let header: string[] | undefined;
  const first = records[0];
  if ((options.header ?? 'auto') === 'auto' && first && looksLikeHeader(first)) {
    header = first;
    records = records.slice(1);
  }
  if (records.length === 0) {
    throw new VflareError('INVALID_DATA', `${source}: no data rows`);
  }
  const width = (records[0] as string[]).length;
  if (header !== undefined && !isSklearnShape(header) && header.length !== width) {
    throw new VflareError(
      'INVALID_DATA',
      `${source}: the header line has ${header.length} fields but the rows have ${width}; ` +
        'give one name per column',
    );
  }
  const cols = label === 'none' ? width : width - 1;
  if (cols < 1) {
    throw new VflareError('INVALID_DATA', `${source}: rows need at least one feature column`);
  }
  const rows = records.length;
  const x = new Float64Array(rows * cols);
  const y = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    const rec = records[i] as string[];
    if (rec.length !== width) {
      throw new VflareError(
        'INVALID_DATA',
        `${source}: data row ${i + 1} has ${rec.length} fields, expected ${width}`,
      );
    }
    for (let j = 0; j < width; j++) {
      const v = Number(rec[j]);
      if (!isNumber(rec[j] as string)) {
        throw new VflareError(
          'INVALID_DATA',
          `${source}: data row ${i + 1}, column ${j + 1} is not a finite number` +
            (i === 0 && header === undefined
              ? ' (a header line must name every column, with no numbers)'
              : '; fix or remove that row'),
        );
      }
      if (label === 'first' && j === 0) y[i] = v;
      else if (label === 'last' && j === width - 1) y[i] = v;
      else x[i * cols + (label === 'first' ? j - 1 : j)] = v;
    }
  }
  // With no label column requested, the header's feature count may exclude a label still there.
  const accepted = label === 'none' ? [cols, cols - 1] : [cols];
  const classNames =
    header === undefined ? undefined : sklearnHeader(header, rows, cols, accepted, source);
  return { dataset: makeDataset(x, y, rows, cols), header, classNames };
}

/** Reads a CSV file (gzip when the name ends in `.gz`). */
export function loadCsv(path: string, options: CsvOptions = {}): LoadedCsv {
  return parseCsv(readText(path), { source: path, ...options });
}

export function readText(path: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new VflareError('NOT_FOUND', `cannot read ${path}: check the path`, { cause: err });
  }
  return (path.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8');
}

function isNumber(field: string): boolean {
  return field.trim() !== '' && Number.isFinite(Number(field));
}

/**
 * The first line is a header when none of its fields is a number (column names), or when it has
 * scikit-learn's shape. A line mixing numbers with a bad field (`NaN`, a typo, a blank) is a
 * data row with a defect: it gets an error naming row and column instead of vanishing silently.
 */
function looksLikeHeader(fields: readonly string[]): boolean {
  return fields.every((f) => !isNumber(f)) || isSklearnShape(fields);
}

/** `n_rows,n_features,name…`: two non-negative integers, then only non-numeric names. */
function isSklearnShape(fields: readonly string[]): boolean {
  return (
    fields.length >= 3 &&
    /^\d+$/.test((fields[0] as string).trim()) &&
    /^\d+$/.test((fields[1] as string).trim()) &&
    fields.slice(2).every((f) => !isNumber(f))
  );
}

/**
 * scikit-learn's header is `n_rows,n_features,class…`; when the first two fields are integers
 * they must match the data, or the file is truncated or mislabelled.
 */
function sklearnHeader(
  h: readonly string[],
  rows: number,
  cols: number,
  accepted: readonly number[],
  source: string,
) {
  if (h.length < 2 || !/^\d+$/.test(h[0] as string) || !/^\d+$/.test(h[1] as string)) {
    return undefined;
  }
  const n = Number(h[0]);
  const d = Number(h[1]);
  if (n !== rows || !accepted.includes(d)) {
    throw new VflareError(
      'INVALID_DATA',
      `${source}: header announces ${n} rows × ${d} features, the file holds ${rows} × ${cols}` +
        ' (a cut or mislabelled file; to use part of a file, drop its header line too)',
    );
  }
  return h.slice(2);
}

/**
 * The diabetes data as scikit-learn ships it: a whitespace-separated 442 × 10 feature file and
 * a separate target file.
 */
export function loadDiabetes(dataPath: string, targetPath: string): Dataset {
  const { dataset } = loadCsv(dataPath, { label: 'none', delimiter: ' ' });
  const target = loadCsv(targetPath, { label: 'none', delimiter: ' ' }).dataset;
  if (target.rows !== dataset.rows || target.cols !== 1) {
    throw new VflareError(
      'INVALID_DATA',
      `${targetPath}: expected ${dataset.rows} targets in one column, ` +
        `got ${target.rows} × ${target.cols}`,
    );
  }
  return makeDataset(dataset.x, Float64Array.from(target.x), dataset.rows, dataset.cols);
}
