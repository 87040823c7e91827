/**
 * The server side of the gRPC transport: a TLS listener that requires a client certificate
 * issued by the federation's root CA (mutual TLS), feeding authenticated connections into a
 * grpc-js server. Owning the TLS listener lets the server log every refused handshake (wrong CA,
 * expired certificate) with its reason, which grpc-js alone would swallow.
 *
 * A site registers with the name in its certificate's CN (anything else is refused) and gets a
 * random session token; its control and job streams must carry that token and come from a
 * connection authenticated as the same site. All durations are relative (monotonic clock).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { type Logger, VflareError } from '../../runtime/core/index.js';
import type { ServerEndpoint, ServerFrameHandlers } from '../../runtime/transport/driver.js';
import type { CertIdentity } from '../provision/identity.js';
import { identityOf } from '../provision/identity.js';
import type { StartupKit } from '../provision/kit.js';
import { Link, type LinkSettings } from './link.js';
import {
  decode,
  encode,
  federationService,
  JOB_HEADER,
  registerRequestSchema,
  type ServerControl,
  type SiteControl,
  siteControlSchema,
  TOKEN_HEADER,
} from './protocol.js';

export interface FederationServerOptions {
  readonly kit: StartupKit;
  readonly log: Logger;
  readonly link: LinkSettings;
  /** Sites' heartbeat period (ms), told to them at registration; default 5 s. */
  readonly heartbeatMs?: number;
  /** A site silent this long is offline (ms); default 30 s. */
  readonly deadSiteGraceMs?: number;
  /** Listen address; default the kit's `listen`, else 0.0.0.0 and the kit's server port. */
  readonly host?: string;
  readonly port?: number;
  /** Runs one admin command for an authenticated admin; returns the encoded reply. */
  readonly onAdmin?: (user: CertIdentity, request: Uint8Array) => Promise<Uint8Array>;
  /** A control message from a site. */
  readonly onControl?: (site: string, message: SiteControl) => void;
  /** A site registered (again) and declared its resources. */
  readonly onSiteJoined?: (site: string, resources: Readonly<Record<string, number>>) => void;
}

interface SiteSession {
  readonly site: string;
  readonly token: Buffer;
  control: Link | undefined;
  lastSeen: number;
}

type AnyDuplex = grpc.ServerDuplexStream<Buffer, Buffer>;

interface WithAuth {
  getAuthContext(): { sslPeerCertificate?: { raw?: Buffer } | undefined };
}

function peerIdentity(call: WithAuth): CertIdentity | undefined {
  const cert = call.getAuthContext().sslPeerCertificate;
  if (cert?.raw === undefined) return undefined;
  try {
    return identityOf(
      `-----BEGIN CERTIFICATE-----\n${cert.raw.toString('base64')}\n-----END CERTIFICATE-----`,
    );
  } catch {
    return undefined;
  }
}

function statusError(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });
}

/** A job's server endpoint over the network: frames to and from the job streams of its sites. */
class JobEndpoint implements ServerEndpoint {
  readonly jobId: string;
  readonly links = new Map<string, Link>();
  handlers: ServerFrameHandlers | undefined;
  closed = false;

  constructor(jobId: string) {
    this.jobId = jobId;
  }

  async start(handlers: ServerFrameHandlers): Promise<void> {
    this.handlers = handlers;
  }

  async send(site: string, frame: Uint8Array): Promise<void> {
    const link = this.links.get(site);
    if (link === undefined || link.closed) {
      throw new VflareError('PEER_FAILED', `site "${site}" is not connected to job ${this.jobId}`, {
        context: { site, job: this.jobId },
      });
    }
    await link.send(frame);
  }

  connectedSites(): readonly string[] {
    return [...this.links.entries()].filter(([, l]) => !l.closed).map(([s]) => s);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const link of this.links.values()) link.close('job ended');
    this.links.clear();
  }
}

export class FederationServer {
  readonly #o: FederationServerOptions;
  readonly #log: Logger;
  readonly #grpc: grpc.Server;
  readonly #sessions = new Map<string, SiteSession>();
  readonly #jobs = new Map<string, JobEndpoint>();
  readonly #tls;
  readonly #sockets = new Set<TLSSocket>();
  readonly #heartbeatMs: number;
  readonly #graceMs: number;

  constructor(options: FederationServerOptions) {
    this.#o = options;
    this.#log = options.log;
    this.#heartbeatMs = options.heartbeatMs ?? 5_000;
    this.#graceMs = options.deadSiteGraceMs ?? 30_000;
    const maxLen = options.link.maxMessageBytes + 64 * 1024;
    this.#grpc = new grpc.Server({
      'grpc.max_receive_message_length': Math.min(maxLen, 2 ** 31 - 1),
      'grpc.max_send_message_length': Math.min(maxLen, 2 ** 31 - 1),
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_permit_without_calls': 1,
    });
    this.#grpc.addService(federationService, {
      register: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
        this.#register(call, cb),
      control: (call: AnyDuplex) => this.#control(call),
      job: (call: AnyDuplex) => this.#job(call),
      admin: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
        this.#admin(call, cb),
    });
    const injector = this.#grpc.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    const { kit } = options;
    this.#tls = createTlsServer({
      key: kit.keyPem,
      cert: kit.certPem,
      ca: kit.rootCaPem,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
      ALPNProtocols: ['h2'],
    });
    this.#tls.on('secureConnection', (socket: TLSSocket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
      injector.injectConnection(socket);
    });
    this.#tls.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
      this.#log.warn(
        { remote: socket.remoteAddress ?? 'unknown', reason: err.code ?? err.message },
        'refused a TLS connection: its certificate is not valid for this federation',
      );
    });
  }

  /** Starts listening; resolves with the bound port. */
  async listen(): Promise<number> {
    const cfg = this.#o.kit.config;
    const listen = cfg.kind === 'server' ? cfg.listen : undefined;
    const host = this.#o.host ?? listen?.host ?? '0.0.0.0';
    const port = this.#o.port ?? listen?.port ?? cfg.server.port;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        reject(
          err.code === 'EADDRINUSE'
            ? new VflareError(
                'INVALID_CONFIG',
                `cannot listen on ${host}:${port}: the port is in use (is a server already ` +
                  'running from this kit?); stop it or change the port in startup/kit.json',
              )
            : err,
        );
      };
      this.#tls.once('error', onError);
      this.#tls.listen(port, host, () => {
        this.#tls.off('error', onError);
        resolve();
      });
    });
    return (this.#tls.address() as AddressInfo).port;
  }

  /** Sites registered, with an open control stream, heard from within the grace period. */
  onlineSites(): string[] {
    const now = performance.now();
    return [...this.#sessions.values()]
      .filter((s) => s.control !== undefined && !s.control.closed)
      .filter((s) => now - s.lastSeen <= this.#graceMs)
      .map((s) => s.site)
      .sort();
  }

  /** Sends a control message to a site; rejects when it is offline. */
  async sendControl(site: string, message: ServerControl): Promise<void> {
    const link = this.#sessions.get(site)?.control;
    if (link === undefined || link.closed) {
      throw new VflareError('PEER_FAILED', `site "${site}" is not connected`, {
        context: { site },
      });
    }
    await link.send(encode(message));
  }

  /** The endpoint the engine uses for one job; sites join it by opening their job stream. */
  jobEndpoint(jobId: string): ServerEndpoint {
    let ep = this.#jobs.get(jobId);
    if (ep === undefined || ep.closed) {
      ep = new JobEndpoint(jobId);
      this.#jobs.set(jobId, ep);
    }
    return ep;
  }

  /** Forgets a job's endpoint (closes its streams). */
  async endJob(jobId: string): Promise<void> {
    await this.#jobs.get(jobId)?.close();
    this.#jobs.delete(jobId);
  }

  async close(): Promise<void> {
    for (const ep of this.#jobs.values()) await ep.close();
    for (const s of this.#sessions.values()) s.control?.close('server shutting down');
    await new Promise<void>((resolve) => {
      this.#tls.close(() => resolve());
      for (const socket of this.#sockets) socket.destroy();
    });
    this.#grpc.forceShutdown();
  }

  #register(call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>): void {
    const peer = peerIdentity(call);
    let req: ReturnType<typeof registerRequestSchema.parse>;
    try {
      req = decode(registerRequestSchema, call.request, 'registration');
    } catch (err) {
      this.#log.warn({ reason: (err as Error).message }, 'refused a malformed registration');
      cb(statusError(grpc.status.INVALID_ARGUMENT, (err as Error).message));
      return;
    }
    const refuse = (reason: string) => {
      this.#log.warn({ site: req.site, reason }, 'refused a site registration');
      cb(statusError(grpc.status.PERMISSION_DENIED, reason));
    };
    const project = this.#o.kit.config.project;
    const problem =
      peer === undefined
        ? 'no vflare client certificate on the connection'
        : peer.role !== 'client'
          ? `certificate of "${peer.name}" is not a site's`
          : peer.name !== req.site
            ? `certificate CN "${peer.name}" does not match the claimed site "${req.site}"`
            : req.project !== project
              ? `site belongs to project "${req.project}", not "${project}"`
              : undefined;
    if (problem !== undefined) {
      refuse(problem);
      return;
    }
    const old = this.#sessions.get(req.site);
    // A site kit runs in one process at a time. While the registered one is connected and
    // heartbeating, a second registration is refused (the newcomer keeps retrying, so it takes
    // over once the first is gone); replacing it instead would make the two take turns forever.
    const silentMs = old === undefined ? 0 : performance.now() - old.lastSeen;
    if (old?.control !== undefined && !old.control.closed && silentMs <= 2 * this.#heartbeatMs) {
      const reason =
        `site "${req.site}" is already connected from another process (last heartbeat ` +
        `${Math.round(silentMs)} ms ago); stop that process, or this one takes over once it ` +
        'has gone';
      this.#log.warn({ site: req.site }, 'refused a second registration of a connected site');
      cb(statusError(grpc.status.ALREADY_EXISTS, reason));
      return;
    }
    old?.control?.close('replaced by a new registration of the same site');
    const token = randomBytes(32);
    this.#sessions.set(req.site, {
      site: req.site,
      token,
      control: undefined,
      lastSeen: performance.now(),
    });
    this.#log.info({ site: req.site }, 'site registered');
    this.#o.onSiteJoined?.(req.site, req.resources);
    cb(null, encode({ token: token.toString('hex'), heartbeatMs: this.#heartbeatMs }));
  }

  /** The site a stream belongs to, or a refusal (logged, sent to the peer as a status). */
  #authenticate(call: AnyDuplex): SiteSession | undefined {
    const refuse = (reason: string) => {
      this.#log.warn({ reason }, 'refused an unauthenticated stream');
      call.emit('error', statusError(grpc.status.UNAUTHENTICATED, reason));
      return undefined;
    };
    const peer = peerIdentity(call);
    const tokenHex = call.metadata.get(TOKEN_HEADER)[0];
    if (typeof tokenHex !== 'string' || !/^[0-9a-f]{64}$/.test(tokenHex)) {
      return refuse('missing or malformed session token; register first');
    }
    const session = peer === undefined ? undefined : this.#sessions.get(peer.name);
    if (session === undefined || !timingSafeEqual(session.token, Buffer.from(tokenHex, 'hex'))) {
      return refuse('unknown or expired session token (server restarted?); register again');
    }
    return session;
  }

  #control(call: AnyDuplex): void {
    const session = this.#authenticate(call);
    if (session === undefined) return;
    const log = this.#log.child({ site: session.site });
    session.control?.close('replaced by a new control stream');
    const link: Link = new Link(
      call as unknown as Duplex,
      this.#o.link,
      log,
      {
        onMessage: (bytes) => {
          session.lastSeen = performance.now();
          let message: SiteControl;
          try {
            message = decode(siteControlSchema, bytes, 'control message');
          } catch (err) {
            log.warn({ reason: (err as Error).message }, 'refused a control message');
            return;
          }
          this.#o.onControl?.(session.site, message);
        },
        onClose: (reason) => {
          log.info({ reason }, 'site control stream closed');
          if (session.control === link) session.control = undefined;
        },
      },
      (reason) => call.emit('error', statusError(grpc.status.ABORTED, reason)),
    );
    session.control = link;
    session.lastSeen = performance.now();
    link.send(encode({ type: 'ready' } satisfies ServerControl)).catch(() => undefined);
  }

  #job(call: AnyDuplex): void {
    const session = this.#authenticate(call);
    if (session === undefined) return;
    const jobId = call.metadata.get(JOB_HEADER)[0];
    const ep = typeof jobId === 'string' ? this.#jobs.get(jobId) : undefined;
    if (ep === undefined || ep.closed) {
      const reason = `no job ${String(jobId)} is running on the server`;
      this.#log.warn({ site: session.site, reason }, 'refused a job stream');
      call.emit('error', statusError(grpc.status.NOT_FOUND, reason));
      return;
    }
    const site = session.site;
    const log = this.#log.child({ site, job: ep.jobId });
    ep.links.get(site)?.close('replaced by a new job stream');
    const link: Link = new Link(
      call as unknown as Duplex,
      this.#o.link,
      log,
      {
        onMessage: (frame) => {
          session.lastSeen = performance.now();
          ep.handlers?.onFrame(site, frame);
        },
        onClose: () => {
          if (ep.links.get(site) === link) {
            ep.links.delete(site);
            ep.handlers?.onDisconnect?.(site);
          }
        },
      },
      (reason) => call.emit('error', statusError(grpc.status.ABORTED, reason)),
    );
    ep.links.set(site, link);
  }

  #admin(call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>): void {
    const peer = peerIdentity(call);
    if (peer === undefined || peer.role === 'server' || peer.role === 'client') {
      const reason = 'admin commands need an admin certificate of this federation';
      this.#log.warn({ who: peer?.name ?? 'unknown' }, reason);
      cb(statusError(grpc.status.PERMISSION_DENIED, reason));
      return;
    }
    const handler = this.#o.onAdmin;
    if (handler === undefined) {
      cb(statusError(grpc.status.UNIMPLEMENTED, 'this server runs no admin service'));
      return;
    }
    handler(peer, call.request).then(
      (reply) => cb(null, Buffer.from(reply.buffer, reply.byteOffset, reply.byteLength)),
      (err: unknown) => {
        this.#log.error({ who: peer.name }, 'admin command failed unexpectedly');
        cb(
          statusError(grpc.status.INTERNAL, err instanceof VflareError ? err.message : 'internal'),
        );
      },
    );
  }
}
