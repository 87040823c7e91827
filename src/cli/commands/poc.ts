/**
 * `vflare poc prepare|start|stop`: a whole federation on this machine, one process per party.
 */
import type { Command } from 'commander';
import { pocPrepare, pocStart, pocStop } from '../../deploy/poc/poc.js';
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

export function register(program: Command): void {
  const poc = program.command('poc').description('proof-of-concept federation on this machine');
  poc
    .command('prepare')
    .description('provision DIR/server, DIR/site-1…, DIR/admin (replaces DIR)')
    .option('-n, --sites <n>', 'number of sites', '2')
    .requiredOption('--out <dir>', 'folder for the kits')
    .option('--port <port>', 'server port', '8002')
    .option('--data-root <dir>', "every site's data root")
    .action(async (flags: { sites: string; out: string; port: string; dataRoot?: string }) => {
      await pocPrepare({
        dir: flags.out,
        sites: int('-n', flags.sites)!,
        port: int('--port', flags.port)!,
        ...(flags.dataRoot === undefined ? {} : { dataRoot: flags.dataRoot }),
      });
      cliIo().out(`POC kits in ${flags.out}; next: vflare poc start ${flags.out}\n`);
    });
  poc
    .command('start')
    .description('start every POC process in the background; returns once all sites are connected')
    .argument('<dir>', 'the POC folder')
    .action(async (dir: string) => {
      const state = await pocStart({ dir });
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
