/**
 * Regenerates this example's three vertical shares of the breast cancer data (run from the repo
 * root: `npx tsx examples/vertical-breast-cancer/data/generate.ts <path to breast_cancer.csv>`).
 *
 * Each of the 569 records gets an id `patient-<5 digits>` from a seeded permutation; each party
 * keeps each record with probability 0.9 (independently, seeded), so each holds a different,
 * overlapping subset; rows are written in a party-specific shuffled order. Site-1 holds the
 * first 15 features (the "mean" measurements), site-2 the other 15 ("error" and "worst"),
 * site-3 the diagnosis (0 malignant, 1 benign).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SeededRandom } from '../../../src/splitnn/random.js';

const source = process.argv[2] ?? '/work/shared/datasets/sklearn/breast_cancer.csv';
const lines = readFileSync(source, 'utf8').trim().split('\n').slice(1);
const rows = lines.map((l) => l.split(','));
const names = [
  'mean_radius',
  'mean_texture',
  'mean_perimeter',
  'mean_area',
  'mean_smoothness',
  'mean_compactness',
  'mean_concavity',
  'mean_concave_points',
  'mean_symmetry',
  'mean_fractal_dimension',
  'radius_error',
  'texture_error',
  'perimeter_error',
  'area_error',
  'smoothness_error',
  'compactness_error',
  'concavity_error',
  'concave_points_error',
  'symmetry_error',
  'fractal_dimension_error',
  'worst_radius',
  'worst_texture',
  'worst_perimeter',
  'worst_area',
  'worst_smoothness',
  'worst_compactness',
  'worst_concavity',
  'worst_concave_points',
  'worst_symmetry',
  'worst_fractal_dimension',
];
const perm = new SeededRandom(2023, 1).shuffle(Array.from({ length: 100000 }, (_, i) => i));
const ids = rows.map((_, i) => `patient-${String(perm[i]).padStart(5, '0')}`);
const here = new URL('.', import.meta.url).pathname;

function share(site: string, stream: number, header: string[], cells: (r: string[]) => string[]) {
  const rng = new SeededRandom(2023, stream);
  const kept = rows.flatMap((r, i) =>
    rng.next() < 0.9 ? [`${ids[i]},${cells(r).join(',')}`] : [],
  );
  rng.shuffle(kept);
  writeFileSync(join(here, `${site}.csv`), `id,${header.join(',')}\n${kept.join('\n')}\n`);
  return kept.length;
}

const a = share('site-1', 11, names.slice(0, 15), (r) => r.slice(0, 15));
const b = share('site-2', 12, names.slice(15), (r) => r.slice(15, 30));
const c = share('site-3', 13, ['diagnosis'], (r) => [r[30] as string]);
console.log(`site-1: ${a} rows, site-2: ${b} rows, site-3: ${c} rows`);
