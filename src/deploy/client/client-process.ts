/**
 * A site's process: connects to the server with its startup kit, and for each deployed job
 * verifies the signature (chain to the federation root included), validates and instantiates
 * the client app with the site's own privacy policy, and runs it with the engine's client runner
 * over a job stream. `vflare client start KIT` runs one in the foreground.
 *
 * Site-owned settings live in `<kit>/local/site.json` (`{dataRoot?, privacy?}`, the same format
 * as the simulator's site configs): the privacy filters run before the job's at every job, and
 * no job can remove them. The file is checked at start and read again at every deploy, so an
 * operator can point the site at another study's data, or tighten its policy, between jobs
 * without restarting it; a job already deployed keeps the settings it was deployed with.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  type ClientApp,
  type Logger,
  type SitePolicy,
  safeMessage,
  silentLogger,
  VflareError,
} from '../../runtime/core/index.js';
import { ClientRunner } from '../../runtime/engine/index.js';
import {
  type ComponentRegistry,
  instantiateClientApp,
  loadJob,
  readSiteConfig,
  type SiteConfig,
  sitePolicy,
} from '../../runtime/jobs/index.js';
import { writeFolderFiles } from '../files.js';
import { FederationClient } from '../grpc/client.js';
import { linkSettings } from '../grpc/link.js';
import type { ServerControl } from '../grpc/protocol.js';
import { kitProblem } from '../provision/identity.js';
import { loadKit, type StartupKit } from '../provision/kit.js';
import { verifyJobFolder } from '../signing/signing.js';

export interface ClientProcessOptions {
  readonly kitDir: string;
  readonly logger?: Logger;
  readonly registry?: ComponentRegistry;
  /** Overrides the server address of the kit (tests). */
  readonly host?: string;
  readonly port?: number;
  /** Called when the server orders a shutdown. */
  readonly onShutdown?: () => void;
  /**
   * Called once if the server refuses this site after it had connected (the transport gave up
   * and is closed by then); the process should end with the error.
   */
  readonly onRefused?: (error: VflareError) => void;
  /** Reconnect back-off bounds (ms). */
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

interface Deployed {
  readonly app: ClientApp;
  readonly policy: SitePolicy;
  readonly jobDir: string;
  /** The data root at deploy time (the site config may change for later jobs). */
  readonly dataRoot: string;
  runner?: ClientRunner;
}

export class ClientProcess {
  readonly kit: StartupKit;
  readonly site: string;
  readonly transport: FederationClient;
  readonly #log: Logger;
  readonly #o: ClientProcessOptions;
  readonly #registry: ComponentRegistry;
  readonly #jobs = new Map<string, Deployed>();
  readonly #workspace: string;

  private constructor(kit: StartupKit, registry: ComponentRegistry, options: ClientProcessOptions) {
    this.kit = kit;
    this.site = kit.config.name;
    this.#o = options;
    this.#registry = registry;
    this.#log = (options.logger ?? silentLogger).child({ site: this.site });
    this.#workspace = join(kit.dir, 'workspace');
    this.transport = new FederationClient({
      kit,
      link: linkSettings(kit.config.transport),
      log: options.logger ?? silentLogger,
      onControl: (msg) => void this.#onControl(msg),
      runningJobs: () => [...this.#jobs.keys()],
      onRefused: (error) => {
        for (const job of this.#jobs.values()) job.runner?.kill();
        options.onRefused?.(error);
      },
      ...(options.host !== undefined ? { host: options.host } : {}),
      ...(options.port !== undefined ? { port: options.port } : {}),
      ...(options.minBackoffMs !== undefined ? { minBackoffMs: options.minBackoffMs } : {}),
      ...(options.maxBackoffMs !== undefined ? { maxBackoffMs: options.maxBackoffMs } : {}),
    });
  }

  /** Loads the kit and connects; resolves once the server accepted the site. */
  static async start(options: ClientProcessOptions): Promise<ClientProcess> {
    const kit = await loadKit(options.kitDir, 'site');
    const problem = kitProblem(kit);
    if (problem !== null)
      throw new VflareError('INVALID_CONFIG', `site kit ${kit.dir}: ${problem}`);
    // Checked now so that a broken site config stops the site at start, not at its first job.
    await readSiteConfig(join(kit.dir, 'local'), 'site');
    const registry = options.registry ?? (await import('../../components.js')).defaultRegistry();
    const client = new ClientProcess(kit, registry, options);
    await client.transport.start();
    return client;
  }

  /** Job ids deployed here and not yet ended. */
  get jobs(): readonly string[] {
    return [...this.#jobs.keys()];
  }

  /** The site vanishes at once (tests of a site killed mid-round): nothing more is sent. */
  kill(): void {
    for (const job of this.#jobs.values()) job.runner?.kill();
    void this.transport.close();
  }

  async stop(): Promise<void> {
    for (const job of this.#jobs.values()) job.runner?.kill();
    await this.transport.close();
  }

  #dataRoot(siteConfig: SiteConfig): string {
    const cfg = this.kit.config;
    const fromKit = cfg.kind === 'site' ? cfg.dataRoot : undefined;
    return (
      siteConfig.dataRoot ??
      (fromKit === undefined ? join(this.kit.dir, 'data') : resolve(this.kit.dir, fromKit))
    );
  }

  async #onControl(msg: Exclude<ServerControl, { type: 'ready' }>): Promise<void> {
    switch (msg.type) {
      case 'deploy': {
        const reason = await this.#deploy(msg.jobId, msg.files).catch((err: unknown) =>
          safeMessage(err),
        );
        if (reason !== null) this.#log.warn({ job: msg.jobId, reason }, 'refused a job');
        await this.transport
          .sendControl({
            type: 'deployed',
            jobId: msg.jobId,
            ok: reason === null,
            ...(reason === null ? {} : { reason }),
          })
          .catch(() => undefined);
        return;
      }
      case 'start':
        this.#start(msg.jobId);
        return;
      case 'abort': {
        const job = this.#jobs.get(msg.jobId);
        if (job === undefined) return;
        this.#log.info({ job: msg.jobId, reason: msg.reason }, 'job aborted by the server');
        job.runner?.kill();
        this.#jobs.delete(msg.jobId);
        return;
      }
      case 'shutdown':
        this.#log.info({ reason: msg.reason }, 'shutdown ordered by the server');
        await this.stop();
        this.#o.onShutdown?.();
        return;
    }
  }

  /** Writes, verifies and instantiates a job; returns null when deployed, else the reason. */
  async #deploy(jobId: string, files: readonly { path: string; data: Uint8Array }[]) {
    // A re-deploy (the server restarted mid-job) replaces whatever still runs for this job.
    this.#jobs.get(jobId)?.runner?.kill();
    this.#jobs.delete(jobId);
    const base = join(this.#workspace, jobId);
    const jobDir = join(base, 'job');
    await rm(base, { recursive: true, force: true });
    await writeFolderFiles(jobDir, files);
    const verified = await verifyJobFolder(jobDir, this.kit.rootCaPem);
    if (!verified.ok) return verified.reason;
    const { job } = await loadJob(jobDir, this.#registry);
    const app = Object.entries(job.meta.deployMap).find(
      ([, sites]) => sites.includes(this.site) || sites.includes('@ALL'),
    )?.[0];
    if (app === undefined) return `job "${job.meta.name}" deploys no app to site ${this.site}`;
    // Read again at each deploy (see the module comment); a broken edit refuses this job with
    // the file's problem.
    const siteConfig = await readSiteConfig(join(this.kit.dir, 'local'), 'site');
    const dataRoot = this.#dataRoot(siteConfig);
    const out = join(base, 'out');
    await mkdir(out, { recursive: true });
    const party = {
      site: this.site,
      jobDir,
      workspace: out,
      dataRoot,
      seed: 0,
      logger: this.#log.child({ job: jobId }),
      registry: this.#registry,
    };
    const clientApp = await instantiateClientApp(job, app, party);
    const policy = await sitePolicy(siteConfig, party);
    this.#jobs.set(jobId, { app: clientApp, policy, jobDir, dataRoot });
    this.#log.info({ job: jobId, name: job.meta.name }, 'job deployed');
    return null;
  }

  #start(jobId: string): void {
    const job = this.#jobs.get(jobId);
    if (job === undefined || job.runner !== undefined) return;
    const runner = new ClientRunner({
      site: this.site,
      jobId,
      app: job.app,
      endpoint: this.transport.jobEndpoint(jobId),
      workspace: join(this.#workspace, jobId, 'out'),
      dataRoot: job.dataRoot,
      seed: 0,
      logger: this.#o.logger ?? silentLogger,
      policy: job.policy,
    });
    job.runner = runner;
    runner
      .run()
      .catch((err: unknown) =>
        this.#log.error({ job: jobId, error: safeMessage(err) }, 'job failed at this site'),
      )
      .finally(() => {
        // A re-deploy of the same job (after a server restart) replaced this entry: keep it.
        if (this.#jobs.get(jobId) === job) this.#jobs.delete(jobId);
        this.#log.info({ job: jobId }, 'job ended at this site');
      });
  }
}
