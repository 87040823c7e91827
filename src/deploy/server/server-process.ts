/**
 * The federation server process: the gRPC transport, the job store, the scheduler, job
 * deployment (signature check, validation, instantiation, deploy to sites, the task engine) and
 * the admin service. `vflare server start KIT` runs one in the foreground.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import {
  isVflareError,
  type Logger,
  type RunSummary,
  type ServerApp,
  safeMessage,
  silentLogger,
  VflareError,
} from '../../runtime/core/index.js';
import { ServerEngine } from '../../runtime/engine/index.js';
import {
  type ComponentRegistry,
  instantiateServerApp,
  type Job,
  loadJob,
  planDeployment,
} from '../../runtime/jobs/index.js';
import { writeSummary } from '../../runtime/sim/index.js';
import type { AdminReply, AdminRequest, DownloadTicket, SystemStatus } from '../admin/protocol.js';
import { adminRequestSchema, jobFilesSchema } from '../admin/protocol.js';
import { type AdminCommand, authorize } from '../authz/authz.js';
import { type FileEntry, readFolderFiles, writeFolderFiles } from '../files.js';
import { CHUNK_HEADER_BYTES, encodeChunkHeader, Reassembler } from '../grpc/chunks.js';
import { DEPLOY_WINDOW, deployPartsOf } from '../grpc/job-parts.js';
import { type LinkSettings, linkSettings } from '../grpc/link.js';
import { type DeployPart, decode, encode, type SiteControl } from '../grpc/protocol.js';
import { FederationServer } from '../grpc/server.js';
import {
  isFinished,
  type JobRecord,
  type JobRequirements,
  type JobRunStatus,
  JobStore,
} from '../jobstore/store.js';
import { type CertIdentity, kitProblem } from '../provision/identity.js';
import { loadKit, type StartupKit } from '../provision/kit.js';
import { isAdminRole } from '../provision/pki.js';
import { ResourceLedger, Scheduler } from '../scheduler/scheduler.js';
import { verifyJobFolder } from '../signing/signing.js';
import { resumeJob } from './resume.js';

export interface ServerProcessOptions {
  readonly kitDir: string;
  readonly logger?: Logger;
  /** Component registry; default: every built-in component. */
  readonly registry?: ComponentRegistry;
  /** Overrides the kit's listen address (tests bind 127.0.0.1 on port 0). */
  readonly host?: string;
  readonly port?: number;
  /** Job store folder; default `<kit>/workspace/jobs`. */
  readonly storeDir?: string;
  /**
   * After a start, sites get this long to reconnect before the first scheduling pass (so a job
   * cut off by a restart is not declared unschedulable while its sites reconnect); default the
   * kit's `scheduler.startupGraceMs`, else 10 000 ms.
   */
  readonly startupGraceMs?: number;
  /** Scheduler pass period (ms); default 1 000. */
  readonly tickMs?: number;
  /**
   * A site that has received a whole job and not answered in this long failed its deploy (ms);
   * default 60 000. While the job's parts flow, the transport's `progressTimeoutMs` applies to
   * each acknowledgement instead.
   */
  readonly deployTimeoutMs?: number;
  /** How long a finished job waits for sites to finalize (ms); default: the engine's (10 s). */
  readonly byeTimeoutMs?: number;
  /** Called once a `shutdown` admin command was accepted. */
  readonly onShutdown?: () => void;
}

/** A deploy to one site in progress: what the site acknowledged and answered. */
interface DeployWatch {
  /** Highest part sequence number the site acknowledged; -1 before the first. */
  acked: number;
  /** Parts sent so far. */
  sent: number;
  verdict: string | undefined;
  /** Wakes the sender waiting on this deploy. */
  wake: (() => void) | undefined;
}

interface RunningJob {
  readonly abort: AbortController;
  readonly done: Promise<void>;
}

/** A job folder being uploaded in chunks (admin `upload_chunk`), by one admin. */
interface Upload {
  readonly owner: string;
  readonly parts: Reassembler;
  data: Uint8Array | undefined;
  last: number;
}

/** A job result being downloaded in chunks (admin `download_chunk`), by one admin. */
interface Download {
  readonly owner: string;
  readonly data: Uint8Array;
  readonly chunkBytes: number;
  readonly chunks: number;
  last: number;
}

/** Uploads (and downloads) in progress at once; each holds its folder in memory. */
const MAX_TRANSFERS = 8;
const DEFAULT_MAX_JOB_BYTES = 0xffff_ffff;

const STATUS_OF: Readonly<Record<RunSummary['status'], JobRunStatus>> = {
  completed: 'finished:completed',
  aborted: 'finished:aborted',
  'execution-exception': 'finished:execution-exception',
  'failed-to-run': 'finished:failed-to-run',
};

function requirementsOf(job: Job): JobRequirements {
  const { deployMap, minClients, mandatoryClients, resourceSpec } = job.meta;
  const lists = Object.values(deployMap);
  const all = lists.some((l) => l.includes('@ALL'));
  const sites = all ? ('@ALL' as const) : [...new Set(lists.flat().filter((s) => s !== 'server'))];
  return { sites, minClients, mandatoryClients: [...mandatoryClients], resourceSpec };
}

export class ServerProcess {
  readonly kit: StartupKit;
  readonly store: JobStore;
  readonly transport: FederationServer;
  readonly #log: Logger;
  readonly #o: ServerProcessOptions;
  readonly #registry: ComponentRegistry;
  readonly #scheduler: Scheduler;
  readonly #ledger = new ResourceLedger();
  readonly #running = new Map<string, RunningJob>();
  /** Deploys in progress, by `<job id>/<site>`. */
  readonly #deploys = new Map<string, DeployWatch>();
  readonly #knownSites = new Set<string>();
  readonly #uploads = new Map<string, Upload>();
  readonly #downloads = new Map<string, Download>();
  readonly #link: LinkSettings;
  readonly #maxJobBytes: number;
  #timer: NodeJS.Timeout | undefined;
  #begin: NodeJS.Timeout | undefined;
  #ticking = false;
  #stopping = false;
  /**
   * After `crash()` or `suspend()`, nothing more is recorded about running jobs: the store keeps
   * them `running`, and the next start resumes them.
   */
  #crashed = false;
  port = 0;

  private constructor(
    kit: StartupKit,
    store: JobStore,
    registry: ComponentRegistry,
    options: ServerProcessOptions,
    log: Logger,
  ) {
    this.kit = kit;
    this.store = store;
    this.#o = options;
    this.#log = log;
    this.#registry = registry;
    const cfg = kit.config.kind === 'server' ? kit.config : undefined;
    this.#scheduler = new Scheduler(cfg?.scheduler ?? {});
    this.#link = linkSettings(kit.config.transport);
    this.#maxJobBytes = kit.config.transport?.maxJobBytes ?? DEFAULT_MAX_JOB_BYTES;
    this.transport = new FederationServer({
      kit,
      log,
      link: linkSettings(kit.config.transport),
      ...(kit.config.transport?.heartbeatMs
        ? { heartbeatMs: kit.config.transport.heartbeatMs }
        : {}),
      ...(kit.config.transport?.deadSiteGraceMs
        ? { deadSiteGraceMs: kit.config.transport.deadSiteGraceMs }
        : {}),
      ...(options.host !== undefined ? { host: options.host } : {}),
      ...(options.port !== undefined ? { port: options.port } : {}),
      onAdmin: (user, bytes) => this.#admin(user, bytes),
      onControl: (site, msg) => this.#onControl(site, msg),
      onSiteJoined: (site, resources) => {
        this.#knownSites.add(site);
        this.#ledger.declare(site, resources);
      },
    });
  }

  /** Loads the kit and the job store, starts listening and scheduling. */
  static async start(options: ServerProcessOptions): Promise<ServerProcess> {
    const kit = await loadKit(options.kitDir, 'server');
    const problem = kitProblem(kit);
    if (problem !== null) {
      throw new VflareError('INVALID_CONFIG', `server kit ${kit.dir}: ${problem}`);
    }
    const log = (options.logger ?? silentLogger).child({ site: 'server' });
    const store = await JobStore.open(options.storeDir ?? join(kit.dir, 'workspace', 'jobs'), log);
    const registry = options.registry ?? (await import('../../components.js')).defaultRegistry();
    const server = new ServerProcess(kit, store, registry, options, log);
    server.port = await server.transport.listen();
    log.info({ port: server.port, jobs: store.list().length }, 'server started');
    const tick = options.tickMs ?? 1_000;
    const kitGrace =
      kit.config.kind === 'server' ? kit.config.scheduler?.startupGraceMs : undefined;
    const grace = options.startupGraceMs ?? kitGrace ?? 10_000;
    const begin = setTimeout(() => {
      if (server.#stopping) return;
      server.#timer = setInterval(() => void server.#tick(), tick);
      void server.#tick();
    }, grace);
    server.#begin = begin;
    return server;
  }

  /**
   * Shuts the federation down (the admin `shutdown` command, `vflare poc stop`): running jobs
   * are aborted (final: they never resume), the sites are told to leave, then the server closes.
   */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    clearTimeout(this.#begin);
    clearInterval(this.#timer);
    for (const [, job] of this.#running) job.abort.abort();
    await Promise.allSettled([...this.#running.values()].map((j) => j.done));
    for (const site of this.transport.onlineSites()) {
      await this.transport
        .sendControl(site, { type: 'shutdown', reason: 'server stopped' })
        .catch(() => undefined);
    }
    // Give the sites a moment to receive the order and leave on their own.
    const until = performance.now() + 2_000;
    while (this.transport.onlineSites().length > 0 && performance.now() < until) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await this.transport.close();
    this.#log.info('server stopped');
  }

  /**
   * Stops for a restart (SIGTERM/SIGINT of `vflare server start`: a service manager restarting
   * the server, an upgrade). Unlike `stop()`, running jobs are not aborted: their engines stop,
   * their records stay `running`, and the next start resumes them from their last persisted
   * round. The sites are not told to leave: they keep their processes and reconnect with
   * back-off, so the restarted server finds them again.
   */
  async suspend(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#crashed = true;
    clearTimeout(this.#begin);
    clearInterval(this.#timer);
    const jobs = [...this.#running.keys()];
    for (const [, job] of this.#running) job.abort.abort();
    await Promise.allSettled([...this.#running.values()].map((j) => j.done));
    await this.transport.close();
    this.#log.info(
      { jobs },
      'server stopped for a restart; its running jobs resume at the next start',
    );
  }

  /**
   * Stops without touching job state, as a crash would: running jobs stay `running` in the
   * store and resume on the next start.
   */
  async crash(): Promise<void> {
    this.#stopping = true;
    this.#crashed = true;
    clearTimeout(this.#begin);
    clearInterval(this.#timer);
    for (const [, job] of this.#running) job.abort.abort();
    await this.transport.close();
  }

  // -------------------------------------------------------------------------------------------
  // Scheduling

  async #tick(): Promise<void> {
    if (this.#ticking || this.#stopping) return;
    this.#ticking = true;
    try {
      const online = this.transport.onlineSites();
      // Jobs the store shows as dispatched or running but that no longer run here were cut off
      // by a server restart: they are scheduled again, ahead of new submissions.
      const orphaned = this.store
        .list()
        .filter(
          (j) => (j.status === 'dispatched' || j.status === 'running') && !this.#running.has(j.id),
        );
      const submitted = this.store.list().filter((j) => j.status === 'submitted');
      const candidates = [...orphaned, ...submitted].map((j) => ({
        id: j.id,
        requirements: j.requirements,
        scheduleCount: j.scheduleCount,
      }));
      const decisions = this.#scheduler.tick(
        performance.now(),
        candidates,
        this.#running.size,
        online,
        this.#ledger,
      );
      for (const d of decisions) {
        if (d.kind === 'start') this.#launch(d.jobId, d.sites);
        else if (d.kind === 'retry') {
          // Kept on the record so `get_job_meta` tells a waiting user what the job waits for.
          await this.store.update(d.jobId, { scheduleCount: d.count, scheduleProblem: d.reason });
          this.#log.info({ job: d.jobId, reason: d.reason }, 'job not schedulable yet; will retry');
        } else {
          this.#log.warn({ job: d.jobId, reason: d.reason }, 'job cannot be scheduled');
          await this.#finish(d.jobId, 'finished:can-not-schedule', d.reason);
        }
      }
    } catch (err) {
      this.#log.error({ error: safeMessage(err) }, 'scheduling pass failed');
    } finally {
      this.#ticking = false;
    }
  }

  #launch(jobId: string, sites: readonly string[]): void {
    const abort = new AbortController();
    const done = this.#runJob(jobId, sites, abort.signal)
      .catch((err: unknown) => {
        this.#log.error({ job: jobId, error: safeMessage(err) }, 'job run failed');
        return this.#finish(jobId, 'finished:failed-to-run', safeMessage(err));
      })
      .finally(() => {
        this.#running.delete(jobId);
        this.#ledger.release(jobId);
        void this.transport.endJob(jobId);
      });
    this.#running.set(jobId, { abort, done });
  }

  /** Sets a finished status unless the job already has one (abort wins races). */
  async #finish(jobId: string, status: JobRunStatus, reason?: string): Promise<void> {
    const rec = this.store.get(jobId);
    if (this.#crashed || rec === undefined || isFinished(rec.status)) return;
    await this.store.setStatus(jobId, status, reason === undefined ? {} : { reason });
  }

  async #runJob(jobId: string, sites: readonly string[], signal: AbortSignal): Promise<void> {
    const rec = this.store.get(jobId)!;
    const log = this.#log.child({ job: jobId });
    const detail: Record<string, string> = {};
    if (rec.status === 'submitted')
      await this.store.setStatus(jobId, 'dispatched', { sites: [...sites] });
    const jobDir = this.store.jobDir(jobId);

    // The server checks the signature itself: the store's copy may have been altered on disk.
    const verified = await verifyJobFolder(jobDir, this.kit.rootCaPem);
    if (!verified.ok) {
      detail['server'] = verified.reason;
      await this.store.update(jobId, { deployDetail: detail });
      return this.#finish(jobId, 'finished:failed-to-run', verified.reason);
    }
    let job: Job;
    let serverApp: ServerApp;
    const workspace = this.store.workspaceDir(jobId);
    try {
      job = (await loadJob(jobDir, this.#registry)).job;
      planDeployment(job, sites);
      await mkdir(join(workspace, 'server'), { recursive: true });
      const appName = this.#serverAppName(job);
      if (rec.status === 'running') {
        // Cut off by a server restart: continue after the last persisted round.
        const r = await resumeJob(job, appName, join(workspace, 'server'), this.#dataRoot, jobId);
        if (r.resume !== null) {
          log.info({ savedRound: r.resume.round }, 'resuming the job after its last saved round');
          await this.store.update(jobId, { lastRound: r.resume.round });
        }
        job = r.job;
      }
      serverApp = await instantiateServerApp(job, appName, {
        site: 'server',
        jobDir,
        workspace: join(workspace, 'server'),
        dataRoot: this.#dataRoot,
        seed: 0,
        logger: log,
        registry: this.#registry,
      });
      detail['server'] = 'ok';
    } catch (err) {
      detail['server'] = safeMessage(err);
      await this.store.update(jobId, { deployDetail: detail });
      return this.#finish(jobId, 'finished:failed-to-run', `server: ${safeMessage(err)}`);
    }

    // Deploy to every chosen site; drop the ones that fail unless that breaks the job. The
    // parts are cut once and shared: each is a view of the files read here.
    let parts: DeployPart[];
    try {
      parts = deployPartsOf(
        jobId,
        job.meta.name,
        await readFolderFiles(jobDir),
        this.#link.maxMessageBytes,
      );
    } catch (err) {
      detail['server'] = safeMessage(err);
      await this.store.update(jobId, { deployDetail: detail });
      return this.#finish(jobId, 'finished:failed-to-run', `server: ${safeMessage(err)}`);
    }
    const outcomes = await Promise.all(
      sites.map(async (site) => [site, await this.#deployTo(site, jobId, parts)] as const),
    );
    const good: string[] = [];
    for (const [site, outcome] of outcomes) {
      detail[site] = outcome;
      if (outcome === 'ok') good.push(site);
      else {
        this.#ledger.releaseSite(jobId, site);
        log.warn({ peer: site, reason: outcome }, 'deploy failed at a site');
        // The site may still be receiving or may have deployed late: it must not keep the job.
        void this.transport
          .sendControl(site, { type: 'abort', jobId, reason: `deploy failed: ${outcome}` })
          .catch(() => undefined);
      }
    }
    await this.store.update(jobId, { deployDetail: detail, sites: good });
    const failedMandatory = job.meta.mandatoryClients.filter((m) => detail[m] !== 'ok');
    if (failedMandatory.length > 0 || good.length < job.meta.minClients || signal.aborted) {
      const reason = signal.aborted
        ? 'aborted during deployment'
        : failedMandatory.length > 0
          ? `deploy failed at mandatory site(s) ${failedMandatory.join(', ')}`
          : `deploy succeeded at ${good.length} site(s), minClients is ${job.meta.minClients}`;
      for (const site of good) {
        await this.transport
          .sendControl(site, { type: 'abort', jobId, reason })
          .catch(() => undefined);
      }
      log.warn({ reason }, 'job failed to deploy');
      return this.#finish(
        jobId,
        signal.aborted ? 'finished:aborted' : 'finished:failed-to-run',
        reason,
      );
    }

    const t = this.kit.config.transport;
    const engine = new ServerEngine({
      jobId,
      jobName: job.meta.name,
      clients: good,
      app: serverApp,
      endpoint: this.transport.jobEndpoint(jobId),
      workspace: join(workspace, 'server'),
      seed: 0,
      logger: this.#log,
      signal,
      ...(this.#o.byeTimeoutMs === undefined ? {} : { byeTimeoutMs: this.#o.byeTimeoutMs }),
      ...(t?.heartbeatMs ? { heartbeatIntervalMs: t.heartbeatMs } : {}),
      ...(t?.deadSiteGraceMs ? { deadSiteGraceMs: t.deadSiteGraceMs } : {}),
    });
    await engine.start();
    if (this.store.get(jobId)?.status === 'dispatched')
      await this.store.setStatus(jobId, 'running');
    for (const site of good) {
      await this.transport
        .sendControl(site, { type: 'start', jobId })
        .catch((err: unknown) =>
          log.warn({ peer: site, error: safeMessage(err) }, 'could not start the job at a site'),
        );
    }
    log.info({ sites: good }, 'job running');
    const summary = await engine.run();
    if (this.#crashed) return;
    await writeSummary(join(workspace, 'summary.json'), summary);
    log.info({ status: summary.status }, 'job finished');
    await this.#finish(jobId, STATUS_OF[summary.status], summary.error);
  }

  /** Where server-side data paths of jobs resolve: the kit's `dataRoot`, else `<kit>/data`. */
  get #dataRoot(): string {
    const cfg = this.kit.config;
    const set = cfg.kind === 'server' ? cfg.dataRoot : undefined;
    return set === undefined ? join(this.kit.dir, 'data') : resolve(this.kit.dir, set);
  }

  #serverAppName(job: Job): string {
    for (const [app, list] of Object.entries(job.meta.deployMap)) {
      if (list.includes('server') || list.includes('@ALL')) return app;
    }
    throw new VflareError('INVALID_JOB', `job "${job.meta.name}" deploys no app to the server`);
  }

  /**
   * Streams the job's parts to a site and waits for its verdict: 'ok' or the reason it failed.
   * At most `DEPLOY_WINDOW` parts are unacknowledged at once. Timeouts measure progress: the
   * site must acknowledge a part within the transport's `progressTimeoutMs` while parts flow,
   * and answer within `deployTimeoutMs` of its last acknowledgement once all are sent (it then
   * verifies the signatures and instantiates its app).
   */
  async #deployTo(site: string, jobId: string, parts: readonly DeployPart[]): Promise<string> {
    const key = `${jobId}/${site}`;
    const watch: DeployWatch = { acked: -1, sent: 0, verdict: undefined, wake: undefined };
    this.#deploys.set(key, watch);
    const progressMs = this.#link.progressTimeoutMs;
    const answerMs = this.#o.deployTimeoutMs ?? 60_000;
    /** Waits for an acknowledgement or the verdict; false when none came in `ms`. */
    const next = (ms: number) =>
      new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          watch.wake = undefined;
          resolve(false);
        }, ms);
        watch.wake = () => {
          clearTimeout(timer);
          watch.wake = undefined;
          resolve(true);
        };
      });
    try {
      for (const part of parts) {
        while (watch.verdict === undefined && part.seq - watch.acked > DEPLOY_WINDOW) {
          if (!(await next(progressMs))) {
            return (
              `no deploy progress: the site acknowledged no part for ${progressMs} ms ` +
              `(${watch.acked + 1} of ${parts.length} parts written)`
            );
          }
        }
        if (watch.verdict !== undefined) return watch.verdict;
        // Counted as sent before the send resolves: the site may acknowledge the part before
        // the last of its bytes has drained here.
        watch.sent = part.seq + 1;
        try {
          await this.transport.sendControl(site, part);
        } catch (err) {
          return `could not send the job: ${safeMessage(err)}`;
        }
      }
      while (watch.verdict === undefined) {
        const waited = watch.acked < parts.length - 1 ? progressMs : answerMs;
        if (!(await next(waited))) {
          return watch.acked < parts.length - 1
            ? `no deploy progress: the site acknowledged no part for ${waited} ms ` +
                `(${watch.acked + 1} of ${parts.length} parts written)`
            : `no deploy answer within ${waited} ms after the job was received`;
        }
      }
      return watch.verdict;
    } finally {
      this.#deploys.delete(key);
    }
  }

  #onControl(site: string, msg: SiteControl): void {
    if (msg.type === 'heartbeat') return;
    const watch = this.#deploys.get(`${msg.jobId}/${site}`);
    if (watch === undefined) {
      this.#log.warn(
        { peer: site, job: msg.jobId, type: msg.type },
        'unexpected deploy answer ignored',
      );
      return;
    }
    if (msg.type === 'deploy_ack') {
      if (msg.seq < watch.sent) watch.acked = Math.max(watch.acked, msg.seq);
      else {
        this.#log.warn(
          { peer: site, job: msg.jobId, seq: msg.seq },
          'ignored an acknowledgement of a deploy part not sent yet',
        );
      }
    } else watch.verdict = msg.ok ? 'ok' : (msg.reason ?? 'refused');
    watch.wake?.();
  }

  // -------------------------------------------------------------------------------------------
  // Admin service

  async #admin(user: CertIdentity, bytes: Uint8Array): Promise<Uint8Array> {
    let reply: AdminReply;
    try {
      const req = decode(adminRequestSchema, bytes, 'admin request');
      reply = { ok: true, result: await this.#command(user, req) };
    } catch (err) {
      const code = isVflareError(err) ? err.code : 'INTERNAL';
      const error = isVflareError(err) ? err.message : 'internal error';
      if (!isVflareError(err))
        this.#log.error({ error: safeMessage(err) }, 'admin command crashed');
      reply = { ok: false, code, error };
    }
    return encode(reply);
  }

  #allow(user: CertIdentity, command: AdminCommand, rec?: JobRecord): void {
    if (!isAdminRole(user.role)) throw new VflareError('INVALID_ARGUMENT', 'not an admin');
    const owner =
      rec === undefined ? undefined : { name: rec.submitter.name, org: rec.submitter.org };
    const d = authorize({ name: user.name, org: user.org, role: user.role }, command, owner);
    if (!d.ok) {
      this.#log.warn({ who: user.name, command }, 'admin command refused');
      throw new VflareError('INVALID_ARGUMENT', `not authorised: ${d.reason}`);
    }
  }

  #job(jobId: string): JobRecord {
    const rec = this.store.get(jobId);
    if (rec === undefined) {
      throw new VflareError(
        'NOT_FOUND',
        `no job with id ${jobId} (give the whole id); list_jobs shows the known ids`,
      );
    }
    return rec;
  }

  async #command(user: CertIdentity, req: AdminRequest): Promise<unknown> {
    this.#sweepTransfers();
    switch (req.command) {
      case 'upload_chunk':
        this.#allow(user, 'submit_job');
        return this.#uploadChunk(user, req.uploadId, req.chunk);
      case 'submit_job': {
        this.#allow(user, 'submit_job');
        if ((req.uploadId === undefined) === (req.files === undefined)) {
          throw new VflareError('INVALID_ARGUMENT', 'submit_job: give an uploadId or files');
        }
        return this.#submit(user, req.files ?? this.#takeUpload(user, req.uploadId!));
      }
      case 'download_chunk':
        return this.#downloadChunk(user, req.downloadId, req.index);
      case 'list_jobs': {
        this.#allow(user, 'list_jobs');
        const { command: _c, ...opts } = req;
        return this.store.list(opts);
      }
      case 'get_job_meta':
        this.#allow(user, 'get_job_meta');
        return this.#job(req.jobId);
      case 'abort_job':
        this.#allow(user, 'abort_job', this.#job(req.jobId));
        return this.#abort(user, req.jobId);
      case 'clone_job': {
        this.#allow(user, 'clone_job', this.#job(req.jobId));
        const rec = await this.store.clone(req.jobId, user);
        return rec.id;
      }
      case 'delete_job':
        this.#allow(user, 'delete_job', this.#job(req.jobId));
        this.#scheduler.forget(req.jobId);
        await this.store.delete(req.jobId);
        return req.jobId;
      case 'download_job': {
        const rec = this.#job(req.jobId);
        this.#allow(user, 'download_job', rec);
        // A job still on its way has no result yet, only a partial workspace (or none).
        if (!rec.status.startsWith('finished')) {
          throw new VflareError(
            'INVALID_ARGUMENT',
            `job ${req.jobId} is ${rec.status}, not finished: its result can be downloaded once ` +
              'it ends (watch it with list_jobs or get_job_meta)',
          );
        }
        return this.#startDownload(user, req.jobId);
      }
      case 'check_status': {
        this.#allow(user, 'check_status');
        const online = new Set(this.transport.onlineSites());
        const status: SystemStatus = {
          project: this.kit.config.project,
          server: this.#stopping ? 'shutting-down' : 'started',
          sites: [...new Set([...this.#knownSites, ...online])]
            .sort()
            .map((name) => ({ name, online: online.has(name) })),
          runningJobs: [...this.#running.keys()],
        };
        return status;
      }
      case 'shutdown':
        this.#allow(user, 'shutdown');
        this.#log.info({ who: user.name }, 'shutdown requested');
        setTimeout(() => {
          void this.stop().then(() => this.#o.onShutdown?.());
        }, 50);
        return 'shutting down';
    }
  }

  // -------------------------------------------------------------------------------------------
  // Chunked transfers of job folders and results (see admin/protocol.ts)

  /** Forgets transfers that made no progress for the progress timeout (a client went away). */
  #sweepTransfers(): void {
    const now = performance.now();
    const idle = (t: { last: number }) => now - t.last > this.#link.progressTimeoutMs;
    for (const [id, u] of this.#uploads) if (idle(u)) this.#uploads.delete(id);
    for (const [id, d] of this.#downloads) if (idle(d)) this.#downloads.delete(id);
  }

  #uploadChunk(user: CertIdentity, uploadId: string | undefined, chunk: Uint8Array): string {
    const now = performance.now();
    let id = uploadId;
    let upload: Upload | undefined;
    if (id === undefined) {
      if (this.#uploads.size >= MAX_TRANSFERS) {
        throw new VflareError(
          'INVALID_ARGUMENT',
          `the server already receives ${MAX_TRANSFERS} job uploads; try again shortly`,
        );
      }
      id = randomUUID();
      upload = {
        owner: user.name,
        parts: new Reassembler({
          maxMessageBytes: this.#maxJobBytes,
          // The gRPC message limit already bounds a chunk; the client picks its size.
          maxChunkBytes: this.#link.maxMessageBytes,
          maxInFlight: 1,
          progressTimeoutMs: this.#link.progressTimeoutMs,
        }),
        data: undefined,
        last: now,
      };
      this.#uploads.set(id, upload);
    } else {
      upload = this.#uploads.get(id);
      if (upload === undefined || upload.owner !== user.name) {
        throw new VflareError(
          'NOT_FOUND',
          `no job upload ${id} in progress (it stalled for more than ` +
            `${this.#link.progressTimeoutMs} ms, or failed); submit the job again`,
        );
      }
    }
    try {
      if (upload.data !== undefined) throw new VflareError('PROTOCOL_ERROR', 'upload complete');
      const whole = upload.parts.push(chunk, now);
      if (whole !== null) upload.data = whole;
    } catch (err) {
      this.#uploads.delete(id);
      if (isVflareError(err) && err.code === 'MESSAGE_TOO_BIG') {
        throw new VflareError(
          'MESSAGE_TOO_BIG',
          `the job is larger than this server accepts (${this.#maxJobBytes} bytes packed, ` +
            'transport.maxJobBytes of its kit)',
        );
      }
      throw new VflareError('INVALID_ARGUMENT', `job upload refused: ${safeMessage(err)}`);
    }
    upload.last = now;
    return id;
  }

  #takeUpload(user: CertIdentity, uploadId: string): FileEntry[] {
    const upload = this.#uploads.get(uploadId);
    if (upload === undefined || upload.owner !== user.name) {
      throw new VflareError(
        'NOT_FOUND',
        `no job upload ${uploadId} (it stalled, failed or was submitted); submit the job again`,
      );
    }
    this.#uploads.delete(uploadId);
    if (upload.data === undefined) {
      throw new VflareError('INVALID_ARGUMENT', `job upload ${uploadId} is incomplete`);
    }
    return decode(jobFilesSchema, upload.data, 'uploaded job');
  }

  async #startDownload(user: CertIdentity, jobId: string): Promise<DownloadTicket> {
    if (this.#downloads.size >= MAX_TRANSFERS) {
      throw new VflareError(
        'INVALID_ARGUMENT',
        `the server already sends ${MAX_TRANSFERS} job results; try again shortly`,
      );
    }
    const data = encode(await readFolderFiles(this.store.workspaceDir(jobId)));
    if (data.byteLength > this.#maxJobBytes) {
      throw new VflareError(
        'MESSAGE_TOO_BIG',
        `the result of job ${jobId} packs to ${data.byteLength} bytes, more than the ` +
          `${this.#maxJobBytes} bytes of transport.maxJobBytes in the server's kit`,
      );
    }
    // Room for the chunk header and the reply's envelope within one message.
    const chunkBytes = Math.max(
      1,
      Math.min(this.#link.chunkBytes, this.#link.maxMessageBytes - CHUNK_HEADER_BYTES - 64),
    );
    const chunks = Math.max(1, Math.ceil(data.byteLength / chunkBytes));
    const downloadId = randomUUID();
    this.#downloads.set(downloadId, {
      owner: user.name,
      data,
      chunkBytes,
      chunks,
      last: performance.now(),
    });
    return { downloadId, bytes: data.byteLength, chunks };
  }

  #downloadChunk(user: CertIdentity, downloadId: string, index: number): Uint8Array {
    const d = this.#downloads.get(downloadId);
    if (d === undefined || d.owner !== user.name) {
      throw new VflareError(
        'NOT_FOUND',
        `no job download ${downloadId} in progress (it stalled or ended); run download_job again`,
      );
    }
    if (index >= d.chunks) {
      throw new VflareError(
        'INVALID_ARGUMENT',
        `download_chunk: index ${index} is past the last chunk (${d.chunks - 1})`,
      );
    }
    const offset = index * d.chunkBytes;
    const body = d.data.subarray(offset, Math.min(offset + d.chunkBytes, d.data.byteLength));
    const chunk = Buffer.allocUnsafe(CHUNK_HEADER_BYTES + body.byteLength);
    encodeChunkHeader(chunk, 1, d.data.byteLength, offset);
    chunk.set(body, CHUNK_HEADER_BYTES);
    d.last = performance.now();
    if (index === d.chunks - 1) this.#downloads.delete(downloadId);
    return chunk;
  }

  async #submit(user: CertIdentity, files: readonly FileEntry[]): Promise<string> {
    const tmp = await mkdtemp(join(tmpdir(), `vflare-submit-${randomUUID().slice(0, 8)}-`));
    try {
      await writeFolderFiles(tmp, files);
      const verified = await verifyJobFolder(tmp, this.kit.rootCaPem);
      if (!verified.ok) {
        this.#log.warn({ who: user.name, reason: verified.reason }, 'job submission refused');
        throw new VflareError('INVALID_JOB', verified.reason);
      }
      const { job } = await loadJob(tmp, this.#registry).catch((err: unknown) => {
        // The loader names the job by its folder, here a temporary one: say "the job" instead.
        if (err instanceof VflareError) {
          const msg = err.message.replaceAll(`job "${basename(tmp)}"`, 'the job');
          throw new VflareError(err.code, msg.replaceAll(tmp, '<job>'));
        }
        throw err;
      });
      const rec = await this.store.create(tmp, {
        name: job.meta.name,
        submitter: { name: user.name, org: user.org, role: user.role },
        requirements: requirementsOf(job),
      });
      this.#log.info({ job: rec.id, name: rec.name, who: user.name }, 'job submitted');
      if (this.#timer !== undefined) void this.#tick();
      return rec.id;
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  async #abort(user: CertIdentity, jobId: string): Promise<string> {
    const rec = this.#job(jobId);
    if (isFinished(rec.status)) {
      throw new VflareError('INVALID_ARGUMENT', `job ${jobId} is already ${rec.status}`);
    }
    // Final first: whatever happens next, this job never starts (or restarts) again.
    await this.store.setStatus(jobId, 'finished:aborted', { reason: `aborted by ${user.name}` });
    this.#scheduler.forget(jobId);
    // A running job's engine aborts its tasks and ends the job at every live site itself (the
    // sites finalize and leave); dead sites are not waited on beyond the engine's bye timeout.
    this.#running.get(jobId)?.abort.abort();
    this.#log.info({ job: jobId, who: user.name }, 'job aborted');
    return 'finished:aborted';
  }
}
