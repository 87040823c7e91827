/**
 * `vflare admin KIT [COMMAND ARGS…] [--json]`: one admin command (exit code 0 on success), or an
 * interactive console when no command is given.
 */
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { CONSOLE_HELP, parseCommand, renderText, runCommand } from '../../deploy/admin/console.js';
import { Session } from '../../deploy/admin/session.js';
import { isVflareError } from '../../runtime/core/errors.js';
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
          const rl = createInterface({ input: process.stdin, output: process.stdout });
          io.out(
            `connected as ${session.kit.config.name}; commands:\n${CONSOLE_HELP}\nbye to leave\n`,
          );
          for (;;) {
            const line = (await rl.question('> ').catch(() => 'bye')).trim();
            if (line === '') continue;
            if (line === 'bye' || line === 'exit') break;
            const [name, ...rest] = line.split(/\s+/);
            try {
              const cmd = parseCommand(name!, rest);
              const result = await runCommand(session, cmd);
              io.out(`${flags.json ? JSON.stringify(result) : renderText(cmd, result)}\n`);
              if (cmd.name === 'shutdown') break;
            } catch (err) {
              io.err(`error: ${isVflareError(err) ? err.message : String(err)}\n`);
              setExitCode(1);
            }
          }
          rl.close();
        } finally {
          session.close();
        }
      },
    );
}
