/**
 * The `vflare` command line. `main(argv)` runs one command and resolves with its exit code; it
 * never exits the process and never prints a stack for bad input: errors print as
 * `error: <message>` and give exit code 1.
 *
 * Only the module of the command being run is imported (see `commands/index.ts`): `vflare
 * --help` stays fast, and a command whose module cannot be loaded fails alone, with a message.
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { isVflareError, JobValidationError, VflareError } from '../runtime/core/errors.js';
import { commands as builtinCommands, type CommandEntry } from './commands/index.js';
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

const EXAMPLES = `
Examples:
  vflare simulate examples/hello-stats            federated statistics over 3 sites
  vflare simulate <jobDir> --workspace ws --seed 1
  vflare help simulate                            options of one command

A job folder is meta.json + <app>/config/{server,client}.json: see docs/runtime-jobs.md.
Logs go to stderr (--log-level or LOG_LEVEL); results to stdout and <workspace>/summary.json.
`;

/** vflare's version, from the package.json above this file (src/ or dist/src/). */
function version(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'vflare' && pkg.version !== undefined) return pkg.version;
    }
    dir = dirname(dir);
  }
  return 'unknown';
}

/** The command `argv` asks for: its first word, or the word after `help`. */
function requested(argv: readonly string[]): string | undefined {
  const words = argv.filter((a) => !a.startsWith('-'));
  return words[0] === 'help' ? words[1] : words[0];
}

/** A stand-in for a command whose module could not be imported: it fails with the reason. */
function broken(program: Command, entry: CommandEntry, err: unknown): void {
  program
    .command(entry.name)
    .description(`${entry.summary} (unavailable)`)
    .allowUnknownOption()
    .allowExcessArguments()
    .helpOption(false)
    .action(() => {
      throw new VflareError(
        'INTERNAL',
        `the "${entry.name}" command could not be loaded: ${describeError(err)} ` +
          '(the other commands still work; reinstall vflare or report this)',
      );
    });
}

/**
 * The program for `argv`: the requested command is imported and registered in full, the others
 * only by name and summary (enough for the command list and "did you mean").
 */
export async function createProgram(
  io: Io,
  argv: readonly string[] = [],
  entries: readonly CommandEntry[] = builtinCommands,
): Promise<Command> {
  const program = new Command('vflare')
    .description('Privacy-preserving and vertical federated learning: run and manage FL jobs.')
    .version(version(), '-V, --version', 'print the version')
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', EXAMPLES);
  const wanted = requested(argv);
  for (const entry of entries) {
    if (entry.name !== wanted) {
      program.command(entry.name).description(entry.summary);
      continue;
    }
    try {
      const mod = await entry.load();
      mod.register(program);
    } catch (err) {
      broken(program, entry, err);
    }
  }
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

export interface MainOptions {
  /** The command table (tests); default: `commands/index.ts`. */
  readonly commands?: readonly CommandEntry[];
}

export async function main(
  argv: readonly string[],
  io: Io = processIo,
  options: MainOptions = {},
): Promise<number> {
  if (io === processIo) guardPipe();
  current = io;
  exitCode = 0;
  try {
    const program = await createProgram(io, argv, options.commands);
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
