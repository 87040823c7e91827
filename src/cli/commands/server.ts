/**
 * `vflare server start KIT`: runs the federation server in the foreground until SIGTERM/SIGINT
 * or an admin's `shutdown`.
 */
import type { Command } from 'commander';
import { ServerProcess } from '../../deploy/server/server-process.js';
import { createLogger } from '../../runtime/core/logger.js';
import { cliIo } from '../main.js';

export function register(program: Command): void {
  const server = program.command('server').description('the federation server');
  server
    .command('start')
    .description('run the server with its startup kit (foreground; stops on SIGTERM)')
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
      cliIo().out(`server listening on port ${proc.port}\n`);
      const onSignal = () => void proc.stop().then(() => stopped());
      process.once('SIGTERM', onSignal);
      process.once('SIGINT', onSignal);
      await done;
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    });
}
