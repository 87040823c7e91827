/**
 * `vflare provision`: a root CA and one startup kit per party (see docs/deployment.md).
 */
import type { Command } from 'commander';
import {
  parseAdmins,
  parseEndpoint,
  parseSites,
  parseTransport,
  provision,
} from '../../deploy/provision/index.js';
import { VflareError } from '../../runtime/core/errors.js';
import { cliIo } from '../main.js';

interface Flags {
  readonly project: string;
  readonly server: string;
  readonly sites: string;
  readonly admins: string;
  readonly out: string;
  readonly altNames?: string;
  readonly days?: string;
  readonly listen?: string;
  readonly transport?: string;
}

export function register(program: Command): void {
  program
    .command('provision')
    .description('create a root CA and a startup kit for the server, every site and every admin')
    .requiredOption('--project <name>', 'project name')
    .requiredOption('--server <host:port>', 'address sites and admins connect to')
    .requiredOption('--sites <list>', 'comma-separated NAME[:ORG] of the sites')
    .requiredOption(
      '--admins <list>',
      'comma-separated NAME[:ROLE[:ORG]] (role default project-admin)',
    )
    .requiredOption('--out <dir>', 'output folder')
    .option('--alt-names <list>', 'extra DNS names/IPs for the server certificate')
    .option('--days <n>', 'certificate validity in days (default 360)')
    .option(
      '--listen <host:port>',
      'where the server listens (default 0.0.0.0 and the --server port)',
    )
    .option(
      '--transport <settings>',
      "every kit's transport settings, e.g. heartbeatMs=5000,deadSiteGraceMs=30000 " +
        '(see docs/deployment.md)',
    )
    .action(async (flags: Flags) => {
      const io = cliIo();
      const days = flags.days === undefined ? undefined : Number(flags.days);
      if (days !== undefined && (!Number.isInteger(days) || days < 1)) {
        throw new VflareError(
          'INVALID_ARGUMENT',
          `--days: expected a positive integer, got ${flags.days}`,
        );
      }
      const r = await provision({
        project: flags.project,
        server: parseEndpoint(flags.server),
        sites: parseSites(flags.sites),
        admins: parseAdmins(flags.admins),
        out: flags.out,
        ...(flags.altNames
          ? { serverAltNames: flags.altNames.split(',').map((s) => s.trim()) }
          : {}),
        ...(days === undefined ? {} : { days }),
        ...(flags.listen === undefined ? {} : { listen: parseEndpoint(flags.listen) }),
        ...(flags.transport === undefined ? {} : { transport: parseTransport(flags.transport) }),
      });
      io.out(`root CA: ${r.caDir} (keep rootCA.key offline; it is in no kit)\n`);
      io.out(`server kit: ${r.serverKit}\n`);
      for (const [n, d] of Object.entries(r.siteKits)) io.out(`site kit ${n}: ${d}\n`);
      for (const [n, d] of Object.entries(r.adminKits)) io.out(`admin kit ${n}: ${d}\n`);
    });
}
