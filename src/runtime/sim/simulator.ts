/**
 * The simulator: a whole federation in one process. The server engine and one client runner
 * per site talk over the in-memory driver, so every message is encoded and decoded exactly as
 * on the network, heartbeats run and the exit rules, filters and liveness behave as deployed.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ClientApp, RunSummary, ServerApp, SitePolicy } from '../core/app.js';
import { safeMessage, VflareError } from '../core/errors.js';
import { type Logger, silentLogger } from '../core/logger.js';
import type { TaskData } from '../core/messages.js';
import { SERVER, SITE_NAME } from '../core/peer.js';
import { ClientRunner, type TaskFault } from '../engine/client.js';
import { ServerEngine } from '../engine/server.js';
import { InMemoryNetwork } from '../transport/memory.js';

/** Where an app is instantiated: what a job's component factories need. */
export interface AppEnv {
  /** `server` or the site's name. */
  readonly site: string;
  /** This party's output folder (`<workspace>/<site>`). */
  readonly workspace: string;
  /** Relative data paths resolve against this folder at this party. */
  readonly dataRoot: string;
  readonly seed: number;
  readonly logger: Logger;
}

/**
 * Test hook: make a site misbehave when it receives a matching task (any task when `task` is
 * absent; any round when `round` is absent).
 * - `die`: the site vanishes: no answer, no heartbeats, no peer replies, from then on.
 * - `hang`: the executor never returns and ignores its abort signal (the runner abandons it
 *   when the server aborts the task, e.g. at the task timeout).
 */
export interface SiteFault {
  readonly kind: TaskFault;
  readonly task?: string;
  readonly round?: number;
}

/** Handles a test can use while the simulation runs. */
export interface SimulationControl {
  /** Makes a site vanish now (as the `die` fault). */
  killSite(site: string): void;
  readonly network: InMemoryNetwork;
  readonly engine: ServerEngine;
}

export interface SimulationOptions {
  /** Job name, written to `summary.json`. */
  readonly job: string;
  /** Job id; default: the job name. */
  readonly jobId?: string;
  /** Site names, in deploy order. */
  readonly sites: readonly string[];
  readonly server: ServerApp | ((env: AppEnv) => ServerApp | Promise<ServerApp>);
  /** One app per site (a factory is called once per site, so sites never share state). */
  readonly clients:
    | Readonly<Record<string, ClientApp>>
    | ((env: AppEnv) => ClientApp | Promise<ClientApp>);
  /** Privacy policies by party (`server` or a site): filters a job cannot remove. */
  readonly sitePolicies?: Readonly<Record<string, SitePolicy>>;
  /** Output folder: `<workspace>/server/`, `<workspace>/<site>/`, `<workspace>/summary.json`. */
  readonly workspace: string;
  /** Data root, one for all sites or one per site; default: the current directory. */
  readonly dataRoot?: string | Readonly<Record<string, string>>;
  /** The job's seed, for deterministic runs; default 0. */
  readonly seed?: number;
  readonly logger?: Logger;
  /** Heartbeat interval of every site; default 1 000 ms in the simulator. */
  readonly heartbeatIntervalMs?: number;
  /** A site silent this long is dead; default 30 000 ms. */
  readonly deadSiteGraceMs?: number;
  /** Long-poll wait of the sites; default 10 000 ms. */
  readonly longPollMs?: number;
  /** Wait for sites to finalize at the end; default 10 000 ms. */
  readonly byeTimeoutMs?: number;
  /** Wait for every site to join before the first workflow; default 10 000 ms. */
  readonly joinTimeoutMs?: number;
  /** Aborts the job: running tasks are aborted at every site, the status is `aborted`. */
  readonly signal?: AbortSignal;
  readonly faults?: Readonly<Record<string, SiteFault>>;
  /** Called once everything is started, before the workflows run. */
  readonly onStart?: (control: SimulationControl) => void;
}

function checkOptions(o: SimulationOptions): void {
  if (typeof o.job !== 'string' || o.job.length === 0) {
    throw new VflareError('INVALID_ARGUMENT', 'simulation job: expected a non-empty name');
  }
  if (o.sites.length === 0) {
    throw new VflareError('INVALID_ARGUMENT', 'simulation sites: expected at least one site');
  }
  const seen = new Set<string>();
  for (const site of o.sites) {
    if (site === SERVER || !SITE_NAME.test(site) || seen.has(site)) {
      throw new VflareError(
        'INVALID_ARGUMENT',
        `simulation site "${site}": expected a distinct name of letters, digits, '.', '_' or ` +
          `'-' that starts with a letter or digit, other than "${SERVER}"`,
      );
    }
    seen.add(site);
  }
  const clients = o.clients;
  if (typeof clients !== 'function') {
    const missing = o.sites.filter((s) => clients[s] === undefined);
    if (missing.length > 0) {
      throw new VflareError(
        'INVALID_ARGUMENT',
        `simulation clients: no app for ${missing.join(', ')}`,
      );
    }
  }
  for (const site of Object.keys(o.faults ?? {})) {
    if (!seen.has(site)) {
      throw new VflareError('INVALID_ARGUMENT', `simulation faults: "${site}" is not a site`);
    }
  }
}

function matches(fault: SiteFault | undefined, task: TaskData): TaskFault | undefined {
  if (fault === undefined) return undefined;
  if (fault.task !== undefined && fault.task !== task.headers.taskName) return undefined;
  if (fault.round !== undefined && fault.round !== task.headers.round) return undefined;
  return fault.kind;
}

/** Writes `summary.json` atomically (a crash never leaves a torn file). */
export async function writeSummary(path: string, summary: RunSummary): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(summary, null, 2)}\n`);
  await rename(tmp, path);
}

/**
 * Runs a job in one process and returns its summary, also written to
 * `<workspace>/summary.json`. A workflow that throws gives status `execution-exception` with a
 * safe `error`; apps that cannot be created give `failed-to-run`.
 */
export async function runSimulation(options: SimulationOptions): Promise<RunSummary> {
  checkOptions(options);
  const logger = options.logger ?? silentLogger;
  const jobId = options.jobId ?? options.job;
  const seed = options.seed ?? 0;
  const workspace = options.workspace;
  const envOf = (site: string): AppEnv => {
    const root = options.dataRoot;
    const dataRoot =
      typeof root === 'string' ? root : (root?.[site] ?? root?.[SERVER] ?? process.cwd());
    return {
      site,
      workspace: join(workspace, site),
      dataRoot,
      seed,
      logger: logger.child({ job: jobId, site }),
    };
  };
  for (const party of [SERVER, ...options.sites]) {
    await mkdir(join(workspace, party), { recursive: true });
  }
  const summaryPath = join(workspace, 'summary.json');

  let serverApp: ServerApp;
  const clientApps = new Map<string, ClientApp>();
  try {
    const server = options.server;
    serverApp = typeof server === 'function' ? await server(envOf(SERVER)) : server;
    for (const site of options.sites) {
      const clients = options.clients;
      clientApps.set(
        site,
        typeof clients === 'function' ? await clients(envOf(site)) : clients[site]!,
      );
    }
  } catch (err) {
    const summary: RunSummary = {
      job: options.job,
      status: 'failed-to-run',
      rounds: 0,
      error: `the job's apps could not be created: ${safeMessage(err)}`,
      server: { metrics: {} },
      sites: Object.fromEntries(options.sites.map((s) => [s, { metrics: {} }])),
    };
    logger.error({ job: jobId, error: summary.error }, 'simulation failed to start');
    await writeSummary(summaryPath, summary);
    return summary;
  }

  const network = new InMemoryNetwork();
  const engine = new ServerEngine({
    jobId,
    jobName: options.job,
    clients: options.sites,
    app: serverApp,
    endpoint: network.server(),
    workspace: join(workspace, SERVER),
    seed,
    logger,
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? 1_000,
    ...(options.sitePolicies?.[SERVER] ? { policy: options.sitePolicies[SERVER] } : {}),
    ...(options.deadSiteGraceMs !== undefined ? { deadSiteGraceMs: options.deadSiteGraceMs } : {}),
    ...(options.byeTimeoutMs !== undefined ? { byeTimeoutMs: options.byeTimeoutMs } : {}),
    joinTimeoutMs: options.joinTimeoutMs ?? 10_000,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  await engine.start();

  const runners = new Map<string, ClientRunner>();
  const running: Promise<void>[] = [];
  for (const site of options.sites) {
    const env = envOf(site);
    const fault = options.faults?.[site];
    const policy = options.sitePolicies?.[site];
    const runner = new ClientRunner({
      site,
      jobId,
      app: clientApps.get(site)!,
      endpoint: network.client(site),
      workspace: env.workspace,
      dataRoot: env.dataRoot,
      seed,
      logger,
      ...(policy ? { policy } : {}),
      ...(options.longPollMs !== undefined ? { longPollMs: options.longPollMs } : {}),
      ...(fault ? { faultFor: (task: TaskData) => dieSevers(matches(fault, task), site) } : {}),
    });
    runners.set(site, runner);
    running.push(
      runner.run().catch((err: unknown) => {
        logger.error({ job: jobId, site, error: safeMessage(err) }, 'site failed');
      }),
    );
  }
  // A dying site also drops off the network (frames in flight to it are lost).
  function dieSevers(kind: TaskFault | undefined, site: string): TaskFault | undefined {
    if (kind === 'die') network.sever(site);
    return kind;
  }

  options.onStart?.({
    killSite: (site) => {
      const runner = runners.get(site);
      if (runner === undefined) {
        throw new VflareError('INVALID_ARGUMENT', `killSite: "${site}" is not a site`);
      }
      network.sever(site);
      runner.kill();
    },
    network,
    engine,
  });

  const summary = await engine.run();
  await Promise.all(running);
  await writeSummary(summaryPath, summary);
  logger.info({ job: jobId, status: summary.status, workspace }, 'simulation finished');
  return summary;
}
