/**
 * Reading a site's numeric table (CSV with a header row) into columns.
 */
import { readFile } from 'node:fs/promises';
import { parse } from 'csv-parse/sync';
import { VflareError } from '../runtime/core/errors.js';

export interface NumericTable {
  readonly columns: readonly string[];
  /** One Float64Array per column; an empty cell is NaN (missing). */
  readonly values: readonly Float64Array[];
  readonly rows: number;
}

/**
 * Parses a CSV whose first row names the columns. Cells must be numbers or empty; a bad cell is
 * reported by file, row and column, never by its content.
 */
export async function readNumericCsv(path: string, label = path): Promise<NumericTable> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const which = label === path ? path : `${label} (${path})`;
    const why =
      (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'cannot be read';
    throw new VflareError('NOT_FOUND', `data file ${which} ${why}`, { cause: err });
  }
  let text: string;
  try {
    // Fatal decoding: a replaced byte in a header would make two sites' columns differ silently.
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new VflareError(
      'INVALID_DATA',
      `data file ${label} is not valid UTF-8; save it as UTF-8 (or plain ASCII)`,
    );
  }
  let records: string[][];
  try {
    records = parse(text, { skip_empty_lines: true, trim: true }) as string[][];
  } catch (err) {
    throw new VflareError('INVALID_DATA', `data file ${label} is not valid CSV`, { cause: err });
  }
  const header = records[0];
  if (header === undefined) throw new VflareError('INVALID_DATA', `data file ${label} is empty`);
  const rows = records.length - 1;
  const values = header.map(() => new Float64Array(rows));
  for (let r = 0; r < rows; r++) {
    const rec = records[r + 1] as string[];
    if (rec.length !== header.length) {
      throw new VflareError(
        'INVALID_DATA',
        `data file ${label} row ${r + 2}: ${rec.length} cells, the header has ${header.length}`,
      );
    }
    for (let c = 0; c < header.length; c++) {
      const cell = rec[c] as string;
      const x = cell === '' ? Number.NaN : Number(cell);
      if (cell !== '' && !Number.isFinite(x)) {
        throw new VflareError(
          'INVALID_DATA',
          `data file ${label} row ${r + 2} column "${header[c]}": not a number`,
        );
      }
      (values[c] as Float64Array)[r] = x;
    }
  }
  return { columns: header, values, rows };
}
