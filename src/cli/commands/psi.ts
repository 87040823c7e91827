/**
 * `vflare psi --site NAME=PATH … --out DIR`: private set intersection across sites, run as the
 * N-site workflow in the simulator with DIR as the workspace; each site's result is
 * `DIR/<site>/psi/intersection.txt`.
 */
import { extname } from 'node:path';
import type { Command } from 'commander';
import type { ItemSource } from '../../psi/loaders.js';
import { runPsi } from '../../psi/run.js';
import type { ContainerKind } from '../../psi/sizing.js';
import type { PsiMode } from '../../psi/wire.js';
import { VflareError } from '../../runtime/core/errors.js';
import { createLogger } from '../../runtime/core/logger.js';
import { SITE_NAME } from '../../runtime/core/peer.js';
import { cliIo } from '../main.js';
import { formatTable, logLevel } from '../output.js';

interface PsiFlags {
  readonly site: string[];
  readonly column?: string;
  readonly out: string;
  readonly mode: string;
  readonly container: string;
  readonly fpr: string;
  readonly json?: boolean;
  readonly logLevel?: string;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function parseSites(specs: readonly string[], column: string | undefined) {
  if (specs.length < 2) {
    throw new VflareError(
      'INVALID_ARGUMENT',
      `--site: PSI needs at least two sites, got ${specs.length}`,
    );
  }
  const sites: Record<string, ItemSource> = {};
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    const name = eq < 0 ? '' : spec.slice(0, eq);
    const path = eq < 0 ? '' : spec.slice(eq + 1);
    if (!SITE_NAME.test(name) || name === 'server' || path === '') {
      throw new VflareError(
        'INVALID_ARGUMENT',
        `--site: expected NAME=PATH with a name of letters, digits, '.', '_' or '-' that starts ` +
          `with a letter or digit (not "server"), got "${spec}"`,
      );
    }
    if (sites[name] !== undefined) {
      throw new VflareError('INVALID_ARGUMENT', `--site: site "${name}" is given twice`);
    }
    const isCsv = extname(path).toLowerCase() === '.csv';
    if (isCsv && column === undefined) {
      throw new VflareError(
        'INVALID_ARGUMENT',
        `--site ${name}: ${path} is a CSV file; name its item column with --column HEADER`,
      );
    }
    sites[name] = isCsv ? { path, column: column! } : { path };
  }
  return sites;
}

function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new VflareError(
      'INVALID_ARGUMENT',
      `${flag}: expected ${allowed.join(' or ')}, got "${value}"`,
    );
  }
  return value as T;
}

function parseFpr(value: string): number {
  const x = Number(value);
  if (value.trim() === '' || !(x > 0 && x < 1)) {
    throw new VflareError('INVALID_ARGUMENT', `--fpr: expected a number in (0, 1), got "${value}"`);
  }
  return x;
}

export function register(program: Command): void {
  program
    .command('psi')
    .description('private set intersection across sites (run in the simulator)')
    .requiredOption('--site <NAME=PATH>', 'a site and its items (repeat per site)', collect, [])
    .option('--column <HEADER>', 'item column of .csv files, by header name')
    .requiredOption('--out <DIR>', 'workspace; results go to DIR/<site>/psi/intersection.txt')
    .option('--mode <mode>', 'openmined (byte-compatible) or fast', 'fast')
    .option('--container <kind>', 'bloom, gcs or raw', 'bloom')
    .option('--fpr <x>', 'false-positive rate of each pairwise query', '1e-11')
    .option('--json', 'print {sites: {<site>: {items, intersection}}, seconds}')
    .option('--log-level <level>', 'debug, info, warn or error (default: warn, or LOG_LEVEL)')
    .action(async (flags: PsiFlags) => {
      const io = cliIo();
      const sites = parseSites(flags.site, flags.column);
      const mode = oneOf<PsiMode>('--mode', flags.mode, ['openmined', 'fast']);
      const container = oneOf<ContainerKind>('--container', flags.container, [
        'bloom',
        'gcs',
        'raw',
      ]);
      const fpr = parseFpr(flags.fpr);
      const level = logLevel(flags.logLevel);
      const logger = createLogger({ level, pretty: false });
      const r = await runPsi({ sites, workspace: flags.out, mode, container, fpr, logger });
      const summary = Object.fromEntries(
        Object.entries(r.sites).map(([s, v]) => [
          s,
          { items: v.items, intersection: v.intersection },
        ]),
      );
      if (flags.json) {
        io.out(`${JSON.stringify({ sites: summary, seconds: r.seconds })}\n`);
        return;
      }
      const rows = Object.entries(r.sites).map(([s, v]) => [
        s,
        String(v.items),
        String(v.intersection),
        v.file,
      ]);
      io.out(`${formatTable(['site', 'items', 'intersection', 'file'], rows)}\n`);
      io.out(`\n${mode} mode, ${container}, fpr ${fpr}: ${r.seconds.toFixed(2)} s\n`);
    });
}
