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
import { appendFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import {
  type ClientApp,
  isVflareError,
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
import { safeTarget } from '../files.js';
import { FederationClient } from '../grpc/client.js';
import { DEPLOY_WINDOW, type FragmentWrite, JobPartReceiver } from '../grpc/job-parts.js';
import { linkSettings } from '../grpc/link.js';
import type { DeployPart, ServerControl } from '../grpc/protocol.js';
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

/** A job being received: its checks, its folder, and the writes queued for it. */
interface Staging {
  readonly receiver: JobPartReceiver;
  readonly base: string;
  readonly jobDir: string;
  /** The deploy's writes, in order. */
  chain: Promise<void>;
  /** Parts accepted and not yet written (each held in memory until then). */
  pending: number;
  timer: NodeJS.Timeout | undefined;
  ended: boolean;
}

/** Deploys received at once; each holds at most `DEPLOY_WINDOW` parts in memory. */
const MAX_STAGING = 8;
const DEFAULT_MAX_JOB_BYTES = 0xffff_ffff;

/** A refusal's reason for the server's deploy details: our own errors without their code. */
function reasonOf(err: unknown): string {
  return isVflareError(err) ? err.message : safeMessage(err);
}

/** Writes a part's fragments in order (offset 0 creates the file, refusing an existing one). */
async function writeFragments(jobDir: string, writes: readonly FragmentWrite[]): Promise<void> {
  for (const w of writes) {
    const target = safeTarget(jobDir, w.path);
    if (w.offset === 0) {
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, w.data, { flag: 'wx' });
    } else await appendFile(target, w.data);
  }
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
  readonly #staging = new Map<string, Staging>();
  /** Jobs whose deploy this site refused: the rest of their parts is dropped quietly. */
  readonly #refused = new Set<string>();
  readonly #maxJobBytes: number;
  readonly #progressTimeoutMs: number;

  private constructor(kit: StartupKit, registry: ComponentRegistry, options: ClientProcessOptions) {
    this.kit = kit;
    this.site = kit.config.name;
    this.#o = options;
    this.#registry = registry;
    this.#log = (options.logger ?? silentLogger).child({ site: this.site });
    this.#workspace = join(kit.dir, 'workspace');
    const link = linkSettings(kit.config.transport);
    this.#maxJobBytes = kit.config.transport?.maxJobBytes ?? DEFAULT_MAX_JOB_BYTES;
    this.#progressTimeoutMs = link.progressTimeoutMs;
    this.transport = new FederationClient({
      kit,
      link,
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
    for (const s of [...this.#staging.values()]) this.#endStaging(s);
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
      case 'deploy_part':
        this.#onPart(msg);
        return;
      case 'start':
        this.#start(msg.jobId);
        return;
      case 'abort': {
        const staging = this.#staging.get(msg.jobId);
        if (staging !== undefined) {
          this.#log.info({ job: msg.jobId, reason: msg.reason }, 'job deploy ended by the server');
          this.#endStaging(staging);
        }
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

  // -------------------------------------------------------------------------------------------
  // Receiving a job (see `deploy_part` in grpc/protocol.ts)

  /**
   * Takes one part of a job being deployed. Parts are written in order, one after the other, on
   * the deploy's own chain; each is acknowledged once written. At most `DEPLOY_WINDOW` parts wait
   * in memory per deploy (the server must not run further ahead), and at most
   * `MAX_STAGING` deploys are received at once.
   */
  #onPart(part: DeployPart): void {
    const { jobId } = part;
    let staging = this.#staging.get(jobId);
    if (part.seq === 0) {
      // A new deploy of this job (the server restarted, or retried): it replaces the old one,
      // once the old one's queued writes and its clean-up are done.
      const previous = staging;
      if (previous !== undefined) this.#endStaging(previous);
      if (this.#staging.size >= MAX_STAGING) {
        this.#refuseDeploy(
          jobId,
          `this site already receives ${MAX_STAGING} jobs at once; ` +
            'try again when they are deployed',
        );
        return;
      }
      let receiver: JobPartReceiver;
      try {
        receiver = new JobPartReceiver(part, this.#maxJobBytes);
      } catch (err) {
        this.#refuseDeploy(jobId, reasonOf(err));
        return;
      }
      this.#refused.delete(jobId);
      const base = join(this.#workspace, jobId);
      staging = {
        receiver,
        base,
        jobDir: join(base, 'job'),
        chain: (previous?.chain ?? Promise.resolve()).then(() => this.#prepareStaging(jobId, base)),
        pending: 0,
        timer: undefined,
        ended: false,
      };
      this.#staging.set(jobId, staging);
    } else if (staging === undefined) {
      // The rest of a deploy already refused here is dropped quietly: its reason was sent.
      if (!this.#refused.has(jobId)) {
        this.#refuseDeploy(jobId, `malformed job deploy: part ${part.seq} arrived without part 0`);
      }
      return;
    }
    const s = staging;
    if (s.pending >= DEPLOY_WINDOW) {
      this.#failStaging(
        s,
        `malformed job deploy: the server sent more than ${DEPLOY_WINDOW} parts ahead of ` +
          'their acknowledgements',
      );
      return;
    }
    let writes: FragmentWrite[];
    try {
      writes = s.receiver.accept(part);
    } catch (err) {
      this.#failStaging(s, reasonOf(err));
      return;
    }
    s.pending++;
    this.#watchProgress(s);
    s.chain = s.chain
      .then(async () => {
        if (s.ended) return;
        await writeFragments(s.jobDir, writes);
        s.pending--;
        if (s.ended) return;
        // A slow disk is progress too: the timeout counts from the last part or write.
        this.#watchProgress(s);
        await this.transport
          .sendControl({ type: 'deploy_ack', jobId, seq: part.seq })
          .catch(() => undefined);
        if (!part.last) return;
        clearTimeout(s.timer);
        if (this.#staging.get(jobId) === s) this.#staging.delete(jobId);
        s.ended = true;
        const reason = await this.#install(jobId, s.base, s.jobDir).catch((err: unknown) =>
          safeMessage(err),
        );
        if (reason !== null) this.#log.warn({ job: jobId, reason }, 'refused a job');
        await this.#answer(jobId, reason);
      })
      .catch((err: unknown) =>
        this.#failStaging(s, `could not write the job: ${safeMessage(err)}`),
      );
  }

  /** Clears what an earlier deploy of the job left (and stops its run, if it still runs). */
  async #prepareStaging(jobId: string, base: string): Promise<void> {
    this.#jobs.get(jobId)?.runner?.kill();
    this.#jobs.delete(jobId);
    await rm(base, { recursive: true, force: true });
    await mkdir(join(base, 'job'), { recursive: true });
  }

  /** Restarts the deploy's progress timer: a deploy with no new part for the timeout fails. */
  #watchProgress(s: Staging): void {
    clearTimeout(s.timer);
    if (s.receiver.complete) return;
    const ms = this.#progressTimeoutMs;
    s.timer = setTimeout(() => {
      const r = s.receiver;
      this.#failStaging(
        s,
        `job deploy stalled: no part arrived for ${ms} ms ` +
          `(${r.receivedBytes} of ${r.totalBytes} bytes received)`,
      );
    }, ms);
    s.timer.unref();
  }

  /** Ends a deploy in progress without answering (its folder is removed). */
  #endStaging(s: Staging): void {
    if (s.ended) return;
    s.ended = true;
    clearTimeout(s.timer);
    const jobId = s.receiver.jobId;
    if (this.#staging.get(jobId) === s) this.#staging.delete(jobId);
    const base = s.base;
    // After the writes already queued, so nothing recreates the folder behind the removal.
    s.chain = s.chain.then(() => rm(base, { recursive: true, force: true })).catch(() => undefined);
  }

  /** Fails a deploy in progress: logged, answered to the server with the reason. */
  #failStaging(s: Staging, reason: string): void {
    if (s.ended) return;
    this.#endStaging(s);
    this.#refuseDeploy(s.receiver.jobId, reason);
  }

  #refuseDeploy(jobId: string, reason: string): void {
    this.#refused.add(jobId);
    // Bounded: only the most recent refusals matter (to drop the rest of their parts quietly).
    if (this.#refused.size > 1_000) {
      this.#refused.delete(this.#refused.values().next().value!);
    }
    this.#log.warn({ job: jobId, reason }, 'refused a job');
    void this.#answer(jobId, reason);
  }

  async #answer(jobId: string, reason: string | null): Promise<void> {
    await this.transport
      .sendControl({
        type: 'deployed',
        jobId,
        ok: reason === null,
        ...(reason === null ? {} : { reason }),
      })
      .catch(() => undefined);
  }

  /**
   * Verifies and instantiates a job whose files were all written to `jobDir`; returns null when
   * deployed, else the reason.
   */
  async #install(jobId: string, base: string, jobDir: string): Promise<string | null> {
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
