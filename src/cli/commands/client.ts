/**
 * `vflare client start KIT`: runs a site in the foreground until SIGTERM/SIGINT or the
 * server's shutdown order.
 */
import type { Command } from 'commander';
import { ClientProcess } from '../../deploy/client/client-process.js';
import { createLogger } from '../../runtime/core/logger.js';
import { cliIo } from '../main.js';

export function register(program: Command): void {
  const client = program.command('client').description('a federation site');
  client
    .command('start')
    .description('run a site with its startup kit (foreground; stops on SIGTERM)')
    .argument('<kit>', 'the site startup kit folder')
    .action(async (kit: string) => {
      const logger = createLogger();
      let stopped: () => void = () => {};
      const done = new Promise<void>((r) => {
        stopped = r;
      });
      let refused: Error | undefined;
      const proc = await ClientProcess.start({
        kitDir: kit,
        logger,
        onShutdown: () => stopped(),
        onRefused: (err) => {
          refused = err;
          stopped();
        },
      });
      cliIo().out(`site ${proc.site} connected\n`);
      const onSignal = () => void proc.stop().then(() => stopped());
      process.once('SIGTERM', onSignal);
      process.once('SIGINT', onSignal);
      await done;
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      // A refusal after connecting ends the site like one at start: an error and exit code 1.
      if (refused !== undefined) throw refused;
    });
}
