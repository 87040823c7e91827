/**
 * `vflare admin KIT [COMMAND ARGS…] [--json]`: one admin command (exit code 0 on success), or an
 * interactive console when no command is given.
 */
import type { Command } from 'commander';
import {
  CONSOLE_HELP,
  parseCommand,
  renderText,
  runCommand,
  runConsole,
} from '../../deploy/admin/console.js';
import { Session } from '../../deploy/admin/session.js';
import { cliIo, setExitCode } from '../main.js';

export function register(program: Command): void {
  program
    .command('admin')
    .description('administer a federation with an admin kit (one command, or a console)')
    .addHelpText('after', `\nCommands:\n${CONSOLE_HELP}`)
    .argument('<kit>', 'the admin startup kit folder')
    .argument('[command]', 'one command to run (interactive console when absent)')
    .argument('[args...]', "the command's arguments")
    .option('--json', 'print machine-readable JSON')
    .allowUnknownOption()
    .action(
      async (
        kit: string,
        command: string | undefined,
        args: string[],
        flags: { json?: boolean },
      ) => {
        const io = cliIo();
        const session = await Session.open(kit);
        try {
          if (command !== undefined) {
            const cmd = parseCommand(command, args);
            const result = await runCommand(session, cmd);
            io.out(`${flags.json ? JSON.stringify(result) : renderText(cmd, result)}\n`);
            return;
          }
          io.out(
            `connected as ${session.kit.config.name}; commands:\n${CONSOLE_HELP}\n` +
              'bye (or exit, quit) to leave\n',
          );
          const failures = await runConsole(session, {
            input: process.stdin,
            ...(process.stdin.isTTY ? { output: process.stdout } : {}),
            out: io.out,
            err: io.err,
            json: flags.json === true,
          });
          if (failures > 0) setExitCode(1);
        } finally {
          session.close();
        }
      },
    );
}
