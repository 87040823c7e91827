/**
 * Proof-of-concept mode: a whole federation on one machine, each party in its own process,
 * with real provisioning, mutual TLS and signed jobs.
 *
 * `prepare` provisions `DIR/server`, `DIR/site-1…`, `DIR/admin`; `start` launches every process
 * in the background, records their pids in `DIR/poc.json` and returns once every site is
 * connected; `stop` shuts down gracefully (connect, list jobs, abort running ones, shut the
 * system down, wait up to 30 s) and only then kills what is left, by the recorded pids (NVFlare
 * 2.3's `poc stop` sequence; 2.2 just killed the processes).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { type Logger, silentLogger, VflareError } from '../../runtime/core/index.js';
import { Session } from '../admin/session.js';
import { loadKit } from '../provision/kit.js';
import { provision } from '../provision/provision.js';

/** What `vflare server start` prints once it listens (followed by the port). */
export const SERVER_LISTENING = 'server listening on port';

export interface PocPrepareOptions {
  readonly dir: string;
  /** Number of sites; default 2. */
  readonly sites?: number;
  /** Server port; default 8002. */
  readonly port?: number;
  /** Every site's data root (relative data paths of jobs resolve against it). */
  readonly dataRoot?: string;
  /** Written into every kit (e.g. short heartbeats for tests). */
  readonly transport?: Parameters<typeof provision>[0]['transport'];
  readonly scheduler?: Parameters<typeof provision>[0]['scheduler'];
}

export const POC_ADMIN = 'admin';

export async function pocPrepare(options: PocPrepareOptions): Promise<void> {
  const n = options.sites ?? 2;
  if (!Number.isInteger(n) || n < 1 || n > 1000) {
    throw new VflareError('INVALID_ARGUMENT', `-n: expected 1 to 1000 sites, got ${n}`);
  }
  const port = options.port ?? 8002;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new VflareError('INVALID_ARGUMENT', `--port: expected 1 to 65535, got ${port}`);
  }
  const dir = resolve(options.dir);
  await checkReplaceable(dir);
  await rm(dir, { recursive: true, force: true });
  const sites = Array.from({ length: n }, (_, i) => ({ name: `site-${i + 1}` }));
  await provision({
    project: 'poc',
    server: { host: 'localhost', port: options.port ?? 8002 },
    serverAltNames: ['127.0.0.1'],
    // A POC is one machine: listen on loopback only, never on every interface.
    listen: { host: '127.0.0.1', port: options.port ?? 8002 },
    sites,
    admins: [{ name: POC_ADMIN, role: 'project-admin' }],
    out: dir,
    ...(options.transport === undefined ? {} : { transport: options.transport }),
    ...(options.scheduler === undefined ? {} : { scheduler: options.scheduler }),
  });
  if (options.dataRoot !== undefined) {
    const dataRoot = resolve(options.dataRoot);
    for (const s of sites) {
      await writeFile(join(dir, s.name, 'local', 'site.json'), JSON.stringify({ dataRoot }));
    }
  }
}

/**
 * `poc prepare` replaces its folder, so it must not be pointed at anything else: a folder that
 * holds other files, or a POC whose processes still run (they would be orphaned, with their job
 * store deleted under them).
 */
async function checkReplaceable(dir: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return; // nothing there yet
  }
  if (entries.length === 0) return;
  const isPoc = entries.includes('ca') && entries.includes('server') && entries.includes(POC_ADMIN);
  if (!isPoc) {
    throw new VflareError(
      'INVALID_ARGUMENT',
      `--out: ${dir} holds other files, and poc prepare replaces the whole folder; give a new or ` +
        'empty folder, or the folder of an earlier POC',
    );
  }
  const running = ((await readState(dir))?.processes ?? []).filter((p) => processAlive(p.pid));
  if (running.length > 0) {
    const pids = running.map((p) => `${p.party} pid ${p.pid}`).join(', ');
    throw new VflareError(
      'INVALID_ARGUMENT',
      `a POC is running from ${dir} (${pids}); ` + `run vflare poc stop ${dir} first`,
    );
  }
}

interface PocState {
  readonly processes: { readonly party: string; readonly pid: number }[];
}

/**
 * Fails at once when something else holds the server's port. Without this check the admin
 * client would connect to whatever listens there; a listener that is not ours never answers the
 * TLS handshake, and `poc start` would wait its whole timeout.
 */
async function checkPortFree(host: string, port: number): Promise<void> {
  await new Promise<void>((ok, fail) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => {
      fail(
        new VflareError(
          'INVALID_CONFIG',
          err.code === 'EADDRINUSE'
            ? `cannot start the POC: port ${port} on ${host} is already in use by another ` +
                'process; stop that process, or prepare the POC again with another --port'
            : `cannot start the POC: cannot listen on ${host}:${port} (${err.code ?? err.message})`,
        ),
      );
    });
    probe.listen(port, host, () => probe.close(() => ok()));
  });
}

/** The last `error: …` line of a process log (the CLI prints failures that way), if any. */
async function lastError(log: string): Promise<string | undefined> {
  const text = await readFile(log, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l.startsWith('error: '))
    .at(-1)
    ?.slice('error: '.length);
}

/** SIGTERM, then SIGKILL what is still alive after `graceMs`; returns once all are gone. */
async function terminate(pids: readonly number[], graceMs: number): Promise<void> {
  const gone = async (ms: number) => {
    const deadline = performance.now() + ms;
    while (performance.now() < deadline && pids.some(processAlive)) {
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  for (const pid of pids) if (processAlive(pid)) signal(pid, 'SIGTERM');
  await gone(graceMs);
  for (const pid of pids) if (processAlive(pid)) signal(pid, 'SIGKILL');
  // A killed child counts as alive until it has been reaped.
  await gone(5_000);
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Exited in between.
  }
}

async function kitNames(dir: string): Promise<{ sites: string[] }> {
  const { readdir } = await import('node:fs/promises');
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    throw new VflareError(
      'NOT_FOUND',
      `${dir} is not a POC folder (it cannot be read); run vflare poc prepare --out ${dir} first`,
    );
  }
  const sites = names.filter((n) => /^site-\d+$/.test(n)).sort();
  return { sites };
}

async function readState(dir: string): Promise<PocState | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, 'poc.json'), 'utf8');
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(text) as PocState;
  } catch {
    throw new VflareError(
      'INVALID_CONFIG',
      `${join(dir, 'poc.json')} is not valid JSON; check the processes with ps and remove it`,
    );
  }
}

export interface PocStartOptions {
  readonly dir: string;
  /** How to run the `vflare` CLI: default this process's node, flags and script. */
  readonly command?: readonly string[];
  /** Wait this long for every site to connect (ms); default 60 000. */
  readonly timeoutMs?: number;
  /**
   * Start only these parties (`server`, `site-N`) of a POC whose other processes run, e.g. the
   * server again after stopping it for a restart; default every party, none may be running.
   */
  readonly parties?: readonly string[];
  readonly log?: Logger;
}

function cliCommand(): string[] {
  const script = process.argv[1];
  if (script === undefined) throw new VflareError('INTERNAL', 'cannot tell how vflare was started');
  return [process.execPath, ...process.execArgv, script];
}

export async function pocStart(options: PocStartOptions): Promise<PocState> {
  const dir = resolve(options.dir);
  const log = options.log ?? silentLogger;
  const [exe, ...baseArgs] = options.command ?? cliCommand();
  const { sites } = await kitNames(dir);
  if (sites.length === 0) {
    throw new VflareError('NOT_FOUND', `${dir} holds no POC kits; run vflare poc prepare first`);
  }
  const all = ['server', ...sites];
  const wanted = options.parties ?? all;
  const unknown = wanted.filter((p) => !all.includes(p));
  if (unknown.length > 0) {
    throw new VflareError(
      'INVALID_ARGUMENT',
      `no party ${unknown.join(', ')} in the POC in ${dir} (it has ${all.join(', ')})`,
    );
  }
  // Starting twice would orphan the first set of processes (poc.json only records the last)
  // and make two processes fight over each site name.
  const previous = await readState(dir);
  const running = previous?.processes.filter((p) => processAlive(p.pid)) ?? [];
  const clash = running.filter((p) => wanted.includes(p.party));
  if (clash.length > 0 || (options.parties === undefined && running.length > 0)) {
    const shown = clash.length > 0 ? clash : running;
    throw new VflareError(
      'INVALID_ARGUMENT',
      `the POC in ${dir} is already running ` +
        `(${shown.map((p) => `${p.party} pid ${p.pid}`).join(', ')}); ` +
        `run vflare poc stop ${dir} first`,
    );
  }
  if (wanted.includes('server')) {
    const kit = await loadKit(join(dir, 'server'), 'server');
    const listen = kit.config.kind === 'server' ? kit.config.listen : undefined;
    await checkPortFree(listen?.host ?? '127.0.0.1', listen?.port ?? kit.config.server.port);
  }
  await mkdir(join(dir, 'logs'), { recursive: true });
  const exited = new Set<string>();
  const launch = (party: string, args: string[]): ChildProcess => {
    const out = openSync(join(dir, 'logs', `${party}.log`), 'a');
    const child = spawn(exe!, [...baseArgs, ...args], {
      detached: true,
      stdio: ['ignore', out, out],
      env: { ...process.env, LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'info' },
    });
    closeSync(out);
    child.once('exit', () => exited.add(party));
    child.unref();
    log.info({ party, pid: child.pid ?? -1 }, 'started');
    return child;
  };
  const serverLog = join(dir, 'logs', 'server.log');
  // Only what this server run writes counts when looking for its "listening" line.
  const logStart = wanted.includes('server')
    ? (await readFile(serverLog, 'utf8').catch(() => '')).length
    : 0;
  const started: { party: string; pid: number }[] = [];
  for (const party of wanted) {
    const args = party === 'server' ? ['server', 'start'] : ['client', 'start'];
    const child = launch(party, [...args, join(dir, party)]);
    started.push({ party, pid: child.pid! });
  }
  const kept = (previous?.processes ?? []).filter(
    (p) => !wanted.includes(p.party) && processAlive(p.pid),
  );
  const order = (p: { party: string }) => all.indexOf(p.party);
  const state: PocState = { processes: [...kept, ...started].sort((a, b) => order(a) - order(b)) };
  await writeFile(join(dir, 'poc.json'), `${JSON.stringify(state, null, 2)}\n`);

  /** Stops what this call started (nothing is left behind) and keeps the others recorded. */
  const fail = async (message: string, code: 'INVALID_CONFIG' | 'TASK_TIMEOUT') => {
    await terminate(
      started.map((p) => p.pid),
      5_000,
    );
    if (kept.length === 0) await rm(join(dir, 'poc.json'), { force: true });
    else
      await writeFile(join(dir, 'poc.json'), `${JSON.stringify({ processes: kept }, null, 2)}\n`);
    return new VflareError(code, message);
  };

  const deadline = performance.now() + (options.timeoutMs ?? 60_000);
  let last = 'the server did not answer';
  let listening = !wanted.includes('server');
  while (performance.now() < deadline) {
    if (exited.has('server')) {
      // No point waiting for sites: stop what was started and say why the server stopped.
      const why = await lastError(serverLog);
      throw await fail(
        `the POC server exited during start${why === undefined ? '' : `: ${why}`}; ` +
          `see ${serverLog}`,
        'INVALID_CONFIG',
      );
    }
    // Connect only once our server said it listens: never talk TLS to someone else's socket.
    if (!listening) {
      const text = await readFile(serverLog, 'utf8').catch(() => '');
      listening = text.slice(logStart).includes(SERVER_LISTENING);
      if (!listening) {
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
    }
    try {
      const session = await Session.open(join(dir, POC_ADMIN), { timeoutMs: 2_000 });
      try {
        const status = await session.checkStatus();
        const online = new Set(status.sites.filter((s) => s.online).map((s) => s.name));
        if (sites.every((s) => online.has(s))) return state;
        last = `sites online: ${[...online].join(', ') || 'none'}`;
      } finally {
        session.close();
      }
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw await fail(
    `POC did not come up in time (${last}); see ${join(dir, 'logs')}; ` +
      'the processes this start launched were stopped',
    'TASK_TIMEOUT',
  );
}

/** Whether a process with this pid exists (signal 0 probes without signalling). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface PocStopOptions {
  readonly dir: string;
  /** Wait for a graceful exit this long before killing (ms); default 30 000. */
  readonly graceMs?: number;
  readonly log?: Logger;
}

/** Returns the parties that had to be killed. */
export async function pocStop(options: PocStopOptions): Promise<string[]> {
  const dir = resolve(options.dir);
  const log = options.log ?? silentLogger;
  const state = await readState(dir);
  if (state === undefined) {
    throw new VflareError(
      'NOT_FOUND',
      `no POC is running from ${dir} (no poc.json: never started there, or already stopped)`,
    );
  }
  try {
    const session = await Session.open(join(dir, POC_ADMIN), { timeoutMs: 10_000 });
    try {
      for (const job of await session.listJobs()) {
        if (job.status === 'running' || job.status === 'dispatched' || job.status === 'submitted') {
          await session.abortJob(job.id).catch(() => undefined);
          log.info({ job: job.id }, 'aborted');
        }
      }
      await session.shutdown();
    } finally {
      session.close();
    }
  } catch (err) {
    log.warn({ reason: (err as Error).message }, 'graceful shutdown failed; will kill');
  }
  const deadline = performance.now() + (options.graceMs ?? 30_000);
  while (performance.now() < deadline && state.processes.some((p) => processAlive(p.pid))) {
    await new Promise((r) => setTimeout(r, 200));
  }
  const killed: string[] = [];
  // Clients before the server, as NVFlare does.
  for (const p of [...state.processes].reverse()) {
    if (!processAlive(p.pid)) continue;
    signal(p.pid, 'SIGKILL');
    killed.push(p.party);
  }
  await rm(join(dir, 'poc.json'), { force: true });
  return killed;
}
