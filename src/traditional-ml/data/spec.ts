/**
 * How a job config names a site's data: a file (or IDX folder), its format, optional class
 * subset, seeded shuffle and standardisation, and the site's row ranges (NVFlare's
 * `train_start/train_end/valid_start/valid_end`). Whole files are read once per process and
 * cached; every site gets fresh copies of its rows.
 */
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { VflareError } from '../../runtime/core/index.js';
import { createRng, permutation } from '../random/index.js';
import { loadCsv, loadDiabetes } from './csv.js';
import {
  binaryClasses,
  type Dataset,
  fitStandardiser,
  sliceRows,
  standardise,
  takeRows,
} from './dataset.js';
import { imageSetToDataset, loadIdxImageSet } from './idx.js';

const range = z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()]);

export const dataSpecSchema = z.strictObject({
  /** CSV file, diabetes feature file, or folder of IDX files; relative to the data root. */
  path: z.string().min(1),
  format: z.enum(['csv', 'idx', 'diabetes']).default('csv'),
  /** CSV label column. */
  label: z.enum(['first', 'last']).default('last'),
  /** Diabetes target file. */
  targetPath: z.string().optional(),
  /** IDX part. */
  part: z.enum(['train', 't10k']).default('t10k'),
  /**
   * IDX part the validation rows come from (default: `part`), e.g. train on `train`, validate
   * on `t10k` as the full Fashion-MNIST profile of the examples does.
   */
  validPart: z.enum(['train', 't10k']).optional(),
  /** Keep two classes and relabel them 0 (first) and 1 (second). */
  classes: z.tuple([z.number().int(), z.number().int()]).optional(),
  /**
   * Shuffle all rows before taking ranges: `true` uses the job's seed (the same at every site),
   * a number is an explicit seed.
   */
  shuffle: z.union([z.boolean(), z.number().int()]).default(false),
  /**
   * Standardise every column with the whole file's mean and deviation (a public, pre-agreed
   * normalisation, as scikit-learn ships the diabetes data pre-scaled).
   */
  standardise: z.boolean().default(false),
});
export type DataSpec = z.output<typeof dataSpecSchema>;

/** A site's rows of the file, as learner arguments (short to override per site). */
export const rowRangesSchema = {
  /** Training rows [start, end). */
  train: range,
  /** Validation rows [start, end); absent = no validation. */
  valid: range.optional(),
};
export interface RowRanges {
  readonly train: readonly [number, number];
  readonly valid?: readonly [number, number] | undefined;
}

export interface SiteData {
  readonly train: Dataset;
  readonly valid: Dataset | undefined;
}

const cache = new Map<string, Dataset>();

/** Forgets every cached file (the cache lives for the process otherwise). */
export function clearDataCache(): void {
  cache.clear();
}

function at(root: string, p: string): string {
  return isAbsolute(p) ? p : resolve(root, p);
}

/** Loads the whole file named by `spec` (cached), after class subset, shuffle, scaling. */
export function loadFullData(spec: DataSpec, dataRoot: string, jobSeed = 0): Dataset {
  const path = at(dataRoot, spec.path);
  const shuffle =
    spec.shuffle === true ? jobSeed : spec.shuffle === false ? undefined : spec.shuffle;
  const key = JSON.stringify({ ...spec, path, shuffle });
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  let ds: Dataset;
  if (spec.format === 'csv') ds = loadCsv(path, { label: spec.label }).dataset;
  else if (spec.format === 'idx') ds = imageSetToDataset(loadIdxImageSet(path, spec.part));
  else {
    if (spec.targetPath === undefined) {
      throw new VflareError('INVALID_CONFIG', 'data: format "diabetes" needs targetPath');
    }
    ds = loadDiabetes(path, at(dataRoot, spec.targetPath));
  }
  if (spec.classes !== undefined) ds = binaryClasses(ds, spec.classes[0], spec.classes[1]);
  if (shuffle !== undefined) ds = takeRows(ds, permutation(ds.rows, createRng(shuffle)));
  if (spec.standardise) ds = standardise(ds, fitStandardiser(ds));
  cache.set(key, ds);
  return ds;
}

export function loadSiteData(
  spec: DataSpec,
  ranges: RowRanges,
  dataRoot: string,
  jobSeed = 0,
): SiteData {
  const other = spec.validPart !== undefined && spec.validPart !== spec.part;
  if ((spec.validPart !== undefined && spec.format !== 'idx') || (other && spec.standardise)) {
    // Standardising two files with their own statistics would scale them differently.
    throw new VflareError(
      'INVALID_CONFIG',
      'data: validPart needs format "idx" and cannot be combined with standardise',
    );
  }
  const ds = loadFullData(spec, dataRoot, jobSeed);
  const validDs =
    other && ranges.valid !== undefined
      ? loadFullData({ ...spec, part: spec.validPart ?? spec.part }, dataRoot, jobSeed)
      : ds;
  const cut = (set: typeof ds, r: readonly [number, number], what: string) => {
    if (r[1] > set.rows || r[0] > r[1]) {
      throw new VflareError(
        'INVALID_CONFIG',
        `data: ${what} rows [${r[0]}, ${r[1]}) do not fit the ${set.rows} rows of ${spec.path}`,
      );
    }
    return sliceRows(set, r[0], r[1]);
  };
  return {
    train: cut(ds, ranges.train, 'train'),
    valid: ranges.valid === undefined ? undefined : cut(validDs, ranges.valid, 'valid'),
  };
}
