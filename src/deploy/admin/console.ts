/**
 * The admin console's commands as text: parsing `list_jobs -r -m 5 …`, running one command on a
 * `Session`, and rendering the answer as a table or as JSON. Shared by the one-shot and the
 * interactive `vflare admin`.
 */
import { VflareError } from '../../runtime/core/index.js';
import type { JobRecord, ListOptions } from '../jobstore/store.js';
import type { Session } from './session.js';

export type ConsoleCommand =
  | { readonly name: 'submit_job'; readonly dir: string }
  | { readonly name: 'list_jobs'; readonly options: ListOptions; readonly detailed: boolean }
  | {
      readonly name: 'get_job_meta' | 'abort_job' | 'clone_job' | 'delete_job';
      readonly id: string;
    }
  | { readonly name: 'download_job'; readonly id: string; readonly dir: string }
  | { readonly name: 'check_status' | 'shutdown' };

export const CONSOLE_HELP = [
  'submit_job DIR',
  'list_jobs [-r] [-m N] [-n NAME_PREFIX] [-d] [ID_PREFIX]',
  'get_job_meta ID',
  'abort_job ID',
  'clone_job ID',
  'delete_job ID',
  'download_job ID DIR',
  'check_status',
  'shutdown',
].join('\n');

function usage(message: string): never {
  throw new VflareError('INVALID_ARGUMENT', `${message}\nusage:\n${CONSOLE_HELP}`);
}

function exactly(name: string, args: readonly string[], n: number): void {
  if (args.length !== n) usage(`${name} takes ${n} argument(s), got ${args.length}`);
}

export function parseCommand(name: string, args: readonly string[]): ConsoleCommand {
  switch (name) {
    case 'submit_job':
      exactly(name, args, 1);
      return { name, dir: args[0]! };
    case 'get_job_meta':
    case 'abort_job':
    case 'clone_job':
    case 'delete_job':
      exactly(name, args, 1);
      return { name, id: args[0]! };
    case 'download_job':
      exactly(name, args, 2);
      return { name, id: args[0]!, dir: args[1]! };
    case 'check_status':
    case 'shutdown':
      exactly(name, args, 0);
      return { name };
    case 'list_jobs': {
      let reverse = false;
      let detailed = false;
      let limit: number | undefined;
      let namePrefix: string | undefined;
      let idPrefix: string | undefined;
      for (let i = 0; i < args.length; i++) {
        const a = args[i]!;
        if (a === '-r') reverse = true;
        else if (a === '-d') detailed = true;
        else if (a === '-m') {
          const v = Number(args[++i]);
          if (!Number.isInteger(v) || v < 1) usage('list_jobs -m: expected a positive integer');
          limit = v;
        } else if (a === '-n') {
          namePrefix = args[++i];
          if (namePrefix === undefined) usage('list_jobs -n: expected a name prefix');
        } else if (a.startsWith('-')) usage(`list_jobs: unknown option ${a}`);
        else if (idPrefix === undefined) idPrefix = a;
        else usage('list_jobs takes one id prefix');
      }
      return { name, detailed, options: { reverse, limit, namePrefix, idPrefix } };
    }
    default:
      return usage(`unknown command "${name}"`);
  }
}

/** Runs a command; returns the value to print (JSON-able). */
export async function runCommand(session: Session, cmd: ConsoleCommand): Promise<unknown> {
  switch (cmd.name) {
    case 'submit_job':
      return { jobId: await session.submitJob(cmd.dir) };
    case 'list_jobs':
      return session.listJobs(cmd.options);
    case 'get_job_meta':
      return session.getJobMeta(cmd.id);
    case 'abort_job':
      return { jobId: cmd.id, status: await session.abortJob(cmd.id) };
    case 'clone_job':
      return { jobId: await session.cloneJob(cmd.id) };
    case 'delete_job':
      await session.deleteJob(cmd.id);
      return { deleted: cmd.id };
    case 'download_job':
      return { downloadedTo: await session.downloadJobResult(cmd.id, cmd.dir) };
    case 'check_status':
      return session.checkStatus();
    case 'shutdown':
      await session.shutdown();
      return { shutdown: 'requested' };
  }
}

/** Human-readable rendering of a command's result. */
export function renderText(cmd: ConsoleCommand, result: unknown): string {
  if (cmd.name === 'list_jobs') {
    const jobs = result as JobRecord[];
    if (jobs.length === 0) return 'no jobs';
    if (cmd.detailed) return JSON.stringify(jobs, null, 2);
    const rows = jobs.map((j) => [j.id, j.name, j.status, j.submitTime, j.submitter.name]);
    const header = ['id', 'name', 'status', 'submitted', 'by'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: string[]) =>
      cells
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd();
    return [line(header), ...rows.map(line)].join('\n');
  }
  if (typeof result === 'string') return result;
  return JSON.stringify(result, null, 2);
}

export interface ConsoleIo {
  readonly input: NodeJS.ReadableStream;
  /** Where the prompt goes (a terminal); omit for none. */
  readonly output?: NodeJS.WritableStream;
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly json: boolean;
}

/**
 * The interactive console: one command per line until `bye`/`exit`/`quit`, end of input or
 * `shutdown`. Returns how many commands failed. Lines are read through readline's iterator,
 * which buffers them, so piped input runs every command in order (a question() loop dropped
 * the lines that arrived while a command was running).
 */
export async function runConsole(session: Session, io: ConsoleIo): Promise<number> {
  const { createInterface } = await import('node:readline');
  const rl = createInterface({
    input: io.input,
    ...(io.output === undefined ? {} : { output: io.output }),
    terminal: false,
  });
  let failures = 0;
  const prompt = (): void => {
    if (io.output !== undefined) io.output.write('> ');
  };
  prompt();
  try {
    for await (const raw of rl) {
      const line = raw.trim();
      if (line === 'bye' || line === 'exit' || line === 'quit') break;
      if (line === 'help') {
        io.out(`${CONSOLE_HELP}\nbye (or exit, quit) to leave\n`);
      } else if (line !== '') {
        const [name, ...rest] = line.split(/\s+/);
        try {
          const cmd = parseCommand(name!, rest);
          const result = await runCommand(session, cmd);
          io.out(`${io.json ? JSON.stringify(result) : renderText(cmd, result)}\n`);
          if (cmd.name === 'shutdown') break;
        } catch (err) {
          failures += 1;
          io.err(`error: ${err instanceof VflareError ? err.message : String(err)}\n`);
        }
      }
      prompt();
    }
  } finally {
    rl.close();
  }
  return failures;
}
