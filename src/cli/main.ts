/**
 * The `vflare` command line. `main(argv)` runs one command and resolves with its exit code; it
 * never exits the process and never prints a stack for bad input: errors print as
 * `error: <message>` and give exit code 1.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { isVflareError, JobValidationError } from '../runtime/core/errors.js';
import * as commands from './commands/index.js';
import { type Io, processIo } from './output.js';

/** The I/O of the command being run (commander actions cannot take extra arguments). */
let current: Io = processIo;
export function cliIo(): Io {
  return current;
}

/** The exit code a command's action sets (0 unless it calls `setExitCode`). */
let exitCode = 0;
export function setExitCode(code: number): void {
  exitCode = code;
}

export function createProgram(io: Io): Command {
  const program = new Command('vflare')
    .description('Privacy-preserving and vertical federated learning: run and manage FL jobs.')
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .showHelpAfterError('(run with --help for usage)');
  for (const register of Object.values(commands)) register(program);
  return program;
}

export function describeError(err: unknown): string {
  if (err instanceof JobValidationError) return err.message;
  if (isVflareError(err)) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}

let pipeGuard = false;
/** `vflare … | head` closes stdout early: stop writing quietly instead of crashing on EPIPE. */
function guardPipe(): void {
  if (pipeGuard) return;
  pipeGuard = true;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
}

export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  if (io === processIo) guardPipe();
  current = io;
  exitCode = 0;
  const program = createProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander already printed its message (usage errors, --help, --version).
      return err.exitCode;
    }
    io.err(`error: ${describeError(err)}\n`);
    return 1;
  } finally {
    current = processIo;
  }
}

/** True when this file is the process's entry point (`tsx src/cli/main.ts …`). */
function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`error: ${describeError(err)}\n`);
      process.exitCode = 1;
    },
  );
}
