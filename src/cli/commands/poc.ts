/**
 * `vflare poc prepare|start|stop`: a whole federation on this machine, one process per party.
 */
import type { Command } from 'commander';
import { pocPrepare, pocStart, pocStop } from '../../deploy/poc/poc.js';
import { parseTransport } from '../../deploy/provision/index.js';
import { VflareError } from '../../runtime/core/errors.js';
import { cliIo } from '../main.js';

function int(label: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) {
    throw new VflareError(
      'INVALID_ARGUMENT',
      `${label}: expected a non-negative integer, got "${value}"`,
    );
  }
  return n;
}

interface PrepareFlags {
  readonly sites: string;
  readonly out: string;
  readonly port: string;
  readonly dataRoot?: string;
  readonly transport?: string;
}

export function register(program: Command): void {
  const poc = program.command('poc').description('proof-of-concept federation on this machine');
  poc
    .command('prepare')
    .description('provision DIR/server, DIR/site-1…, DIR/admin (replaces DIR)')
    .option('-n, --sites <n>', 'number of sites', '2')
    .requiredOption('--out <dir>', 'folder for the kits')
    .option('--port <port>', 'server port', '8002')
    .option('--data-root <dir>', "every site's data root")
    .option('--transport <settings>', 'transport settings, e.g. deadSiteGraceMs=10000')
    .action(async (flags: PrepareFlags) => {
      await pocPrepare({
        dir: flags.out,
        sites: int('-n', flags.sites)!,
        port: int('--port', flags.port)!,
        ...(flags.dataRoot === undefined ? {} : { dataRoot: flags.dataRoot }),
        ...(flags.transport === undefined ? {} : { transport: parseTransport(flags.transport) }),
      });
      cliIo().out(`POC kits in ${flags.out}; next: vflare poc start ${flags.out}\n`);
    });
  poc
    .command('start')
    .description('start every POC process in the background; returns once all sites are connected')
    .argument('<dir>', 'the POC folder')
    .option(
      '--only <parties>',
      'start only these parties (comma-separated, e.g. server) while the others run',
    )
    .action(async (dir: string, flags: { only?: string }) => {
      const parties = flags.only
        ?.split(',')
        .map((p) => p.trim())
        .filter((p) => p !== '');
      const state = await pocStart({ dir, ...(parties === undefined ? {} : { parties }) });
      for (const p of state.processes) cliIo().out(`${p.party}: pid ${p.pid}\n`);
      cliIo().out(`all sites connected; admin kit: ${dir}/admin\n`);
    });
  poc
    .command('stop')
    .description('abort running jobs, shut the system down, kill what is left after 30 s')
    .argument('<dir>', 'the POC folder')
    .action(async (dir: string) => {
      const killed = await pocStop({ dir });
      cliIo().out(killed.length === 0 ? 'stopped\n' : `stopped; killed: ${killed.join(', ')}\n`);
    });
}
