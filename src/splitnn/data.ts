/**
 * Loading one party's columns keyed by record id. A party's data never leaves it; only the
 * rows at the aligned intersection are used, looked up by id (so a party whose file lists the
 * records in another order still trains on the right rows).
 *
 * Sources: a CSV with a header (an id column, optional label column, feature columns), or the
 * IDX files of Fashion-MNIST (images or labels; ids `<prefix><index>`).
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { z } from 'zod';
import { VflareError } from '../runtime/core/errors.js';
import { loadIdxImageSet } from '../traditional-ml/data/idx.js';
import type { FeatureRows } from './split.js';

export const dataSchema = z.discriminatedUnion('format', [
  z.object({
    format: z.literal('csv'),
    /** Relative to the site's data root. */
    path: z.string().min(1),
    idColumn: z.string().min(1).default('id'),
    /** Present at the label party. */
    labelColumn: z.string().min(1).optional(),
    /** Default: every column but the id and label columns. Empty: no features. */
    featureColumns: z.array(z.string().min(1)).optional(),
    /** Scale each feature to zero mean and unit variance over this party's own rows. */
    standardize: z.boolean().default(true),
  }),
  z.object({
    format: z.literal('idx'),
    /** Folder with `<part>-images-idx3-ubyte.gz` and `<part>-labels-idx1-ubyte.gz`. */
    dir: z.string().min(1),
    part: z.enum(['train', 't10k']).default('t10k'),
    /** `images` at a feature party, `labels` at the label party. */
    take: z.enum(['images', 'labels']),
    idPrefix: z.string().default('img-'),
    /** Use only the first `limit` records. */
    limit: z.number().int().positive().optional(),
  }),
  z.object({
    format: z.literal('cifar10'),
    /** CIFAR-10 binary-version files (`data_batch_1.bin` …, `test_batch.bin`), in order. */
    files: z.array(z.string().min(1)).min(1),
    take: z.enum(['images', 'labels']),
    idPrefix: z.string().default('cifar-'),
    limit: z.number().int().positive().optional(),
  }),
]);
export type DataSpec = z.infer<typeof dataSchema>;
export type DataSpecInput = z.input<typeof dataSchema>;

/** One party's records in its own file order. */
export interface PartyData {
  readonly ids: readonly string[];
  readonly features?: FeatureRows;
  readonly labels?: { readonly values: Int32Array; readonly numClasses: number };
  /** Column means and standard deviations used to standardise `features`, if any. */
  readonly scaling?: Scaling;
}

/** Per-column standardisation statistics (saved with a half, reused for inference). */
export interface Scaling {
  readonly mean: readonly number[];
  readonly sd: readonly number[];
  /**
   * The CSV feature columns these statistics belong to, in order. At inference the columns are
   * picked by these names, so a file with its columns in another order is read correctly and one
   * missing a column is refused (instead of feeding a column to the wrong weights).
   */
  readonly columns?: readonly string[];
}

function resolvePath(root: string, p: string): string {
  return isAbsolute(p) ? p : join(root, p);
}

/**
 * Loads a party's records. `scaling`: standardise CSV features with these statistics (those
 * saved at training) instead of the file's own, so new records are scaled as training was.
 */
export function loadPartyData(
  input: DataSpecInput,
  dataRoot: string,
  party: string,
  scaling?: Scaling,
): PartyData {
  const parsed = dataSchema.safeParse(input);
  if (!parsed.success) {
    throw new VflareError(
      'INVALID_CONFIG',
      `party "${party}": data: ` +
        `${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  const spec = parsed.data;
  switch (spec.format) {
    case 'csv':
      return loadCsv(spec, dataRoot, party, scaling);
    case 'idx':
      return loadIdx(spec, dataRoot);
    case 'cifar10':
      return loadCifar10(spec, dataRoot, party);
  }
}

/** Bytes per record of the CIFAR-10 binary version: a label byte, then 3 planes of 32×32. */
export const CIFAR10_RECORD = 1 + 3 * 32 * 32;

/**
 * Parses CIFAR-10 binary records (Krizhevsky 2009, "the binary version": per record one label
 * byte 0–9, then 1024 red, 1024 green and 1024 blue bytes, each plane row-major) into NHWC
 * images scaled to [0, 1] and labels.
 */
export function parseCifar10(
  bytes: Uint8Array,
  source = 'cifar-10',
): { images: Float32Array; labels: Int32Array } {
  if (bytes.length === 0 || bytes.length % CIFAR10_RECORD !== 0) {
    throw new VflareError(
      'INVALID_DATA',
      `${source}: ${bytes.length} bytes is not a whole number of ` +
        `${CIFAR10_RECORD}-byte CIFAR-10 records`,
    );
  }
  const n = bytes.length / CIFAR10_RECORD;
  const images = new Float32Array(n * 3072);
  const labels = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    const base = r * CIFAR10_RECORD;
    const label = bytes[base] as number;
    if (label > 9) {
      throw new VflareError(
        'INVALID_DATA',
        `${source}: record ${r} has label ${label}, expected 0–9`,
      );
    }
    labels[r] = label;
    for (let p = 0; p < 1024; p++) {
      for (let c = 0; c < 3; c++) {
        images[r * 3072 + p * 3 + c] = (bytes[base + 1 + c * 1024 + p] as number) / 255;
      }
    }
  }
  return { images, labels };
}

function loadCifar10(
  spec: Extract<DataSpec, { format: 'cifar10' }>,
  root: string,
  party: string,
): PartyData {
  const parts = spec.files.map((f) => {
    const path = resolvePath(root, f);
    try {
      return parseCifar10(readFileSync(path), path);
    } catch (err) {
      if (err instanceof VflareError) throw err;
      throw new VflareError('NOT_FOUND', `party "${party}": cannot read ${path}`, { cause: err });
    }
  });
  const total = parts.reduce((s, p) => s + p.labels.length, 0);
  const n = Math.min(total, spec.limit ?? total);
  const ids = Array.from({ length: n }, (_, i) => `${spec.idPrefix}${i}`);
  const images = new Float32Array(n * 3072);
  const labels = new Int32Array(n);
  let at = 0;
  for (const p of parts) {
    const take = Math.min(p.labels.length, n - at);
    if (take <= 0) break;
    images.set(p.images.subarray(0, take * 3072), at * 3072);
    labels.set(p.labels.subarray(0, take), at);
    at += take;
  }
  return spec.take === 'labels'
    ? { ids, labels: { values: labels, numClasses: 10 } }
    : { ids, features: { rowShape: [32, 32, 3], data: images } };
}

function loadCsv(
  spec: Extract<DataSpec, { format: 'csv' }>,
  root: string,
  party: string,
  scaling: Scaling | undefined,
): PartyData {
  const path = resolvePath(root, spec.path);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new VflareError(
      'NOT_FOUND',
      `party "${party}": cannot read ${path}; check the data path`,
      {
        cause: err,
      },
    );
  }
  let records: string[][];
  try {
    records = parse(text, { bom: true, skip_empty_lines: true, trim: true }) as string[][];
  } catch (err) {
    throw new VflareError('INVALID_DATA', `party "${party}": ${path} is not valid CSV`, {
      cause: err,
    });
  }
  const header = records[0];
  if (header === undefined)
    throw new VflareError('INVALID_DATA', `party "${party}": ${path} is empty`);
  const col = (name: string): number => {
    const i = header.indexOf(name);
    if (i < 0) {
      throw new VflareError('INVALID_CONFIG', `party "${party}": ${path} has no column "${name}"`);
    }
    return i;
  };
  const idCol = col(spec.idColumn);
  const labelCol = spec.labelColumn === undefined ? -1 : col(spec.labelColumn);
  const trained = spec.standardize ? scaling?.columns : undefined;
  if (trained !== undefined && spec.featureColumns === undefined) {
    const missing = trained.filter((c) => !header.includes(c));
    if (missing.length > 0) {
      throw new VflareError(
        'INVALID_DATA',
        `party "${party}": ${path} lacks ${missing.length} feature column(s) the saved half was ` +
          `trained on (${missing.map((c) => `"${c}"`).join(', ')}); give a file with the ` +
          'training columns',
      );
    }
  }
  const featureCols =
    (trained !== undefined && spec.featureColumns === undefined
      ? trained
      : spec.featureColumns
    )?.map(col) ?? header.map((_, i) => i).filter((i) => i !== idCol && i !== labelCol);
  const rows = records.slice(1);
  const ids: string[] = [];
  const x = new Float32Array(rows.length * featureCols.length);
  const y = new Int32Array(rows.length);
  rows.forEach((r, i) => {
    if (r.length !== header.length) {
      throw new VflareError(
        'INVALID_DATA',
        `party "${party}": ${path} line ${i + 2} has ${r.length} fields, ` +
          `the header has ${header.length}`,
      );
    }
    ids.push(r[idCol] as string);
    featureCols.forEach((c, j) => {
      const cell = r[c] as string;
      // `Number('')` is 0: an empty cell would silently become a zero feature.
      if (cell === '') {
        throw new VflareError(
          'INVALID_DATA',
          `party "${party}": ${path} line ${i + 2}, column "${header[c]}" is empty; fill in ` +
            'or drop records with missing values before training or inference',
        );
      }
      const v = Number(cell);
      if (!Number.isFinite(v)) {
        throw new VflareError(
          'INVALID_DATA',
          `party "${party}": ${path} line ${i + 2}, column "${header[c]}" is not a number`,
        );
      }
      x[i * featureCols.length + j] = v;
    });
    if (labelCol >= 0) {
      const cell = r[labelCol] as string;
      const v = cell === '' ? Number.NaN : Number(cell);
      if (!Number.isInteger(v) || v < 0) {
        throw new VflareError(
          'INVALID_DATA',
          `party "${party}": ${path} line ${i + 2}: labels must be class indices 0, 1, …`,
        );
      }
      y[i] = v;
    }
  });
  let used: Scaling | undefined;
  if (spec.standardize && featureCols.length > 0) {
    if (scaling !== undefined && scaling.mean.length !== featureCols.length) {
      throw new VflareError(
        'INVALID_DATA',
        `party "${party}": ${path} has ${featureCols.length} feature columns, the saved half ` +
          `was trained on ${scaling.mean.length}`,
      );
    }
    const stats = standardize(x, featureCols.length, scaling);
    used = { ...stats, columns: featureCols.map((c) => header[c] as string) };
  }
  let max = -1;
  for (const v of y) max = Math.max(max, v);
  return {
    ids,
    ...(featureCols.length > 0 ? { features: { rowShape: [featureCols.length], data: x } } : {}),
    ...(labelCol >= 0 ? { labels: { values: y, numClasses: Math.max(2, max + 1) } } : {}),
    ...(used === undefined ? {} : { scaling: used }),
  };
}

/**
 * In place: each column to zero mean, unit variance (constant columns to zero), with the
 * statistics of `x` itself or the `given` ones. Returns the statistics used.
 */
export function standardize(x: Float32Array, cols: number, given?: Scaling): Scaling {
  const n = x.length / cols;
  const means: number[] = [];
  const sds: number[] = [];
  for (let c = 0; c < cols; c++) {
    let mean = 0;
    let sd = 0;
    if (given === undefined) {
      for (let i = 0; i < n; i++) mean += x[i * cols + c] as number;
      mean /= n;
      let v = 0;
      for (let i = 0; i < n; i++) v += ((x[i * cols + c] as number) - mean) ** 2;
      sd = Math.sqrt(v / n);
    } else {
      mean = given.mean[c] as number;
      sd = given.sd[c] as number;
    }
    means.push(mean);
    sds.push(sd);
    for (let i = 0; i < n; i++) {
      x[i * cols + c] = sd > 0 ? ((x[i * cols + c] as number) - mean) / sd : 0;
    }
  }
  return { mean: means, sd: sds };
}

function loadIdx(spec: Extract<DataSpec, { format: 'idx' }>, root: string): PartyData {
  const set = loadIdxImageSet(resolvePath(root, spec.dir), spec.part);
  const n = Math.min(set.count, spec.limit ?? set.count);
  const ids = Array.from({ length: n }, (_, i) => `${spec.idPrefix}${i}`);
  if (spec.take === 'labels') {
    return { ids, labels: { values: Int32Array.from(set.labels.subarray(0, n)), numClasses: 10 } };
  }
  const size = set.height * set.width;
  const data = new Float32Array(n * size);
  for (let i = 0; i < data.length; i++) data[i] = (set.images[i] as number) / 255;
  return { ids, features: { rowShape: [set.height, set.width, 1], data } };
}

/** The rows of `features` at local indices `index`, in that order. */
export function reorderRows(features: FeatureRows, index: Int32Array): FeatureRows {
  const width = features.rowShape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(index.length * width);
  for (let i = 0; i < index.length; i++) {
    const r = index[i] as number;
    out.set(features.data.subarray(r * width, (r + 1) * width), i * width);
  }
  return { rowShape: features.rowShape, data: out };
}
