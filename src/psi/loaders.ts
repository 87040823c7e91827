/**
 * Item loaders for the N-site workflow: a text file (one item per line) or one CSV column.
 *
 * Text format: UTF-8; LF or CRLF line endings, which are not part of the item; a final newline
 * is optional; any other empty line is an error naming its line number. Items are the line's
 * UTF-8 bytes with no other normalisation ("café" in NFC and NFD are different items). The
 * result file uses the same format (LF, final newline; an empty result is an empty file).
 * Errors name the file and line or row, never an item.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, extname, isAbsolute, resolve } from 'node:path';
import { parse } from 'csv-parse/sync';
import { VflareError } from '../runtime/core/index.js';

const decoder = new TextDecoder('utf-8', { fatal: true });

function decode(bytes: Uint8Array, file: string): string {
  try {
    return decoder.decode(bytes);
  } catch {
    throw new VflareError('INVALID_DATA', `PSI items in ${file}: the file is not valid UTF-8`);
  }
}

/** Parses the text format (see the module comment). */
export function parseTextItems(text: string, file = 'the input'): string[] {
  if (text.length === 0) return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const out = new Array<string>(lines.length);
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.length === 0) {
      throw new VflareError(
        'INVALID_DATA',
        `PSI items in ${file}: line ${i + 1} is empty; only a final newline may end the file`,
      );
    }
    out[i] = line;
  }
  return out;
}

/** Formats items in the text format. Items with a line break cannot be written. */
export function formatTextItems(items: readonly string[]): string {
  for (let i = 0; i < items.length; i++) {
    if (/[\n\r]/.test(items[i]!) || items[i] === '') {
      throw new VflareError(
        'INVALID_DATA',
        `PSI result item ${i} is empty or contains a line break; the text format cannot hold it`,
      );
    }
  }
  return items.length === 0 ? '' : `${items.join('\n')}\n`;
}

/** Reads one CSV column by header name. Empty cells and line breaks in cells are errors. */
export function parseCsvColumn(text: string, column: string, file = 'the input'): string[] {
  let rows: string[][];
  try {
    rows = parse(text, { bom: true, skip_empty_lines: true, relax_column_count: false });
  } catch (err) {
    throw new VflareError('INVALID_DATA', `PSI items in ${file}: not valid CSV`, { cause: err });
  }
  if (rows.length === 0) return [];
  const header = rows[0]!;
  const at = header.indexOf(column);
  if (at < 0) {
    throw new VflareError(
      'INVALID_DATA',
      `PSI items in ${file}: no column "${column}"; the header has ${header.length} columns ` +
        `(${header.map((h) => JSON.stringify(h)).join(', ')})`,
    );
  }
  const out = new Array<string>(rows.length - 1);
  for (let r = 1; r < rows.length; r++) {
    const v = rows[r]![at]!;
    if (v === '' || /[\n\r]/.test(v)) {
      throw new VflareError(
        'INVALID_DATA',
        `PSI items in ${file}: row ${r + 1}, column "${column}" is empty or spans lines`,
      );
    }
    out[r - 1] = v;
  }
  return out;
}

export interface ItemSource {
  /** Text file, or a `.csv` file when `column` is given. Relative to the data root. */
  readonly path: string;
  /** CSV header of the item column; required for `.csv` files. */
  readonly column?: string;
}

export async function loadItems(source: ItemSource, dataRoot: string): Promise<string[]> {
  const file = isAbsolute(source.path) ? source.path : resolve(dataRoot, source.path);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new VflareError('NOT_FOUND', `PSI items: cannot read ${file}`, { cause: err });
  }
  const text = decode(bytes, file);
  const isCsv = extname(file).toLowerCase() === '.csv';
  if (isCsv && source.column === undefined) {
    throw new VflareError(
      'INVALID_CONFIG',
      `PSI items in ${file}: a .csv file needs a column name`,
    );
  }
  if (isCsv) return parseCsvColumn(text, source.column!, file);
  return parseTextItems(text, file);
}

/** Number of items that repeat an earlier one. */
export function countDuplicates(items: readonly string[]): number {
  return items.length - new Set(items).size;
}

/** Writes the text format atomically. */
export async function writeItems(file: string, items: readonly string[]): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, formatTextItems(items));
  await rename(tmp, file);
}
