/**
 * Benchmark runner: `npm run bench [-- suite …] [--quick] [--data-dir DIR]`.
 *
 * Finds the suites in `benchmarks/suites/*.ts` (each default-exports a `Suite`, see
 * `types.ts`), runs the selected ones (all by default) one after another, prints a table per
 * suite and writes `benchmarks/results/<suite>.json` as `{suite, machine, figures}`. A suite that
 * throws is reported and the others still run; the exit code is then 1.
 */
import { readdir } from 'node:fs/promises';
import { cpus, platform, release } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { formatNumber, formatTable } from '../src/cli/output.js';
import { writeFileAtomic } from '../src/runtime/workflows/model-file.js';
import type { Figure, Suite } from './types.js';

const here = dirname(fileURLToPath(import.meta.url));
const suitesDir = join(here, 'suites');
const resultsDir = join(here, 'results');

export interface Machine {
  readonly cpus: number;
  readonly model: string;
  readonly node: string;
  readonly os: string;
  readonly date: string;
}

export function machine(): Machine {
  const list = cpus();
  return {
    cpus: list.length,
    model: list[0]?.model.trim() ?? 'unknown',
    node: process.version,
    os: `${platform()} ${release()}`,
    date: new Date().toISOString(),
  };
}

/** Suite names available: file names in `benchmarks/suites/` without `.ts`. */
export async function suiteNames(dir = suitesDir): Promise<string[]> {
  const files = await readdir(dir).catch(() => [] as string[]);
  return files
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => basename(f, '.ts'))
    .sort();
}

function isSuite(value: unknown): value is Suite {
  const s = value as Partial<Suite> | null;
  return (
    s !== null && typeof s === 'object' && typeof s.name === 'string' && typeof s.run === 'function'
  );
}

export async function loadSuite(name: string, dir = suitesDir): Promise<Suite> {
  const mod = (await import(pathToFileURL(join(dir, `${name}.ts`)).href)) as { default?: unknown };
  if (!isSuite(mod.default)) {
    throw new Error(
      `benchmarks/suites/${name}.ts does not default-export a Suite {name, description, run}`,
    );
  }
  return mod.default;
}

export function figuresTable(figures: readonly Figure[]): string {
  const num = (v: number | undefined) => (v === undefined ? '' : formatNumber(v));
  return formatTable(
    ['figure', 'value', 'unit', 'peer', 'peer value', 'ratio'],
    figures.map((f) => [
      f.name,
      num(f.value),
      f.unit,
      f.peer ?? '',
      num(f.peerValue),
      num(f.ratio),
    ]),
  );
}

export interface RunOptions {
  readonly suites: readonly string[];
  readonly quick: boolean;
  readonly dataDir?: string;
  readonly out?: (text: string) => void;
  readonly suitesDir?: string;
  readonly resultsDir?: string;
}

/** Runs suites; resolves with the number of suites that failed. */
export async function runBenchmarks(options: RunOptions): Promise<number> {
  const out = options.out ?? ((t: string) => process.stdout.write(t));
  const dir = options.suitesDir ?? suitesDir;
  const available = await suiteNames(dir);
  const selected = options.suites.length > 0 ? [...options.suites] : available;
  const unknown = selected.filter((s) => !available.includes(s));
  if (unknown.length > 0) {
    throw new Error(
      `unknown suite(s): ${unknown.join(', ')}; available: ${available.join(', ') || '(none)'}`,
    );
  }
  let failed = 0;
  for (const name of selected) {
    out(`\n== ${name}${options.quick ? ' (quick)' : ''}\n`);
    try {
      const suite = await loadSuite(name, dir);
      out(`${suite.description}\n`);
      const started = performance.now();
      const figures = await suite.run({
        quick: options.quick,
        ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
        log: (line) => out(`  ${line}\n`),
      });
      const seconds = (performance.now() - started) / 1000;
      out(`${figuresTable(figures)}\n(${seconds.toFixed(1)} s)\n`);
      for (const f of figures) if (f.note !== undefined) out(`  note (${f.name}): ${f.note}\n`);
      const file = join(options.resultsDir ?? resultsDir, `${name}.json`);
      const record = { suite: name, machine: machine(), quick: options.quick, figures };
      await writeFileAtomic(file, `${JSON.stringify(record, null, 2)}\n`);
      out(`wrote ${file}\n`);
    } catch (err) {
      failed++;
      out(`suite ${name} failed: ${err instanceof Error ? err.message : String(err)}\n`);
    }
  }
  return failed;
}

async function cli(argv: readonly string[]): Promise<number> {
  const program = new Command('bench')
    .description('run benchmark suites and write benchmarks/results/<suite>.json')
    .argument('[suites...]', 'suite names (default: all in benchmarks/suites/)')
    .option('--quick', 'smaller sizes, for a smoke run', false)
    .option('--data-dir <dir>', 'folder with full data sets')
    .option('--list', 'list the suites and exit', false)
    .exitOverride();
  try {
    program.parse([...argv], { from: 'user' });
  } catch {
    return 1;
  }
  const opts = program.opts<{ quick: boolean; dataDir?: string; list: boolean }>();
  if (opts.list) {
    process.stdout.write(`${(await suiteNames()).join('\n')}\n`);
    return 0;
  }
  try {
    const failed = await runBenchmarks({
      suites: program.args,
      quick: opts.quick,
      ...(opts.dataDir === undefined ? {} : { dataDir: opts.dataDir }),
    });
    return failed === 0 ? 0 : 1;
  } catch (err) {
    process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  cli(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
