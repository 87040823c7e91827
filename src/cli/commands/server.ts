/**
 * `vflare server start KIT`: runs the federation server in the foreground until SIGTERM/SIGINT
 * or an admin's `shutdown`. The two differ on purpose: a signal is a restart (a service manager,
 * an upgrade), so running jobs stay running in the store and resume at the next start; the
 * `shutdown` command ends the federation, aborting running jobs and sending the sites away.
 */
import type { Command } from 'commander';
import { SERVER_LISTENING } from '../../deploy/poc/poc.js';
import { ServerProcess } from '../../deploy/server/server-process.js';
import { createLogger } from '../../runtime/core/logger.js';
import { cliIo } from '../main.js';

export function register(program: Command): void {
  const server = program.command('server').description('the federation server');
  server
    .command('start')
    .description(
      'run the server with its startup kit (foreground; SIGTERM stops it for a restart: ' +
        'running jobs resume at the next start)',
    )
    .argument('<kit>', 'the server startup kit folder')
    .option('--host <host>', "listen address (default: the kit's listen host, else 0.0.0.0)")
    .option('--port <port>', "listen port (default: the kit's server port)")
    .action(async (kit: string, flags: { host?: string; port?: string }) => {
      const logger = createLogger();
      let stopped: () => void = () => {};
      const done = new Promise<void>((r) => {
        stopped = r;
      });
      const proc = await ServerProcess.start({
        kitDir: kit,
        logger,
        ...(flags.host === undefined ? {} : { host: flags.host }),
        ...(flags.port === undefined ? {} : { port: Number(flags.port) }),
        onShutdown: () => stopped(),
      });
      cliIo().out(`${SERVER_LISTENING} ${proc.port}\n`);
      const onSignal = () => void proc.suspend().then(() => stopped());
      process.once('SIGTERM', onSignal);
      process.once('SIGINT', onSignal);
      await done;
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    });
}
