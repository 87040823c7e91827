/**
 * The site side of the gRPC transport: mutual TLS with the kit's certificate, registration for
 * a session token, a control stream with heartbeats, reconnection with doubling back-off, and one
 * job stream per running job (the engine's `ClientEndpoint`).
 *
 * Refusals are not outages. A registration the server refuses (CN mismatch, wrong project) ends
 * the client at once; a refused TLS handshake (wrong CA, expired certificate, told apart from an
 * outage by `handshake.ts`) ends it after `maxHandshakeRefusals` attempts. Either way it logs one
 * error line with the reason and `start()` / `waitConnected()` reject, so `vflare client start`
 * exits non-zero. Network outages keep the doubling back-off, without limit.
 */
import type { Duplex } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { type Logger, VflareError } from '../../runtime/core/index.js';
import type { ClientEndpoint, ClientFrameHandlers } from '../../runtime/transport/driver.js';
import type { StartupKit } from '../provision/kit.js';
import { probeHandshake } from './handshake.js';
import { Link, type LinkSettings } from './link.js';
import {
  decode,
  encode,
  federationService,
  JOB_HEADER,
  type RegisterReply,
  registerReplySchema,
  type ServerControl,
  type SiteControl,
  serverControlSchema,
  TOKEN_HEADER,
} from './protocol.js';

const FederationClientCtor = grpc.makeGenericClientConstructor(federationService, 'Federation');

export interface ChannelOptions {
  readonly kit: StartupKit;
  readonly link: LinkSettings;
  /** Overrides the kit's server address (tests, POC). */
  readonly host?: string;
  readonly port?: number;
}

/** A grpc-js client over mutual TLS with the kit's identity. */
export function makeGrpcClient(options: ChannelOptions): grpc.Client {
  const { kit } = options;
  const creds = grpc.credentials.createSsl(
    Buffer.from(kit.rootCaPem),
    Buffer.from(kit.keyPem),
    Buffer.from(kit.certPem),
  );
  const host = options.host ?? kit.config.server.host;
  const port = options.port ?? kit.config.server.port;
  const maxLen = Math.min(options.link.maxMessageBytes + 64 * 1024, 2 ** 31 - 1);
  return new FederationClientCtor(`${host.includes(':') ? `[${host}]` : host}:${port}`, creds, {
    'grpc.max_receive_message_length': maxLen,
    'grpc.max_send_message_length': maxLen,
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_permit_without_calls': 1,
    // Reconnection pacing is ours (doubling back-off below); keep grpc's own short.
    'grpc.initial_reconnect_backoff_ms': 200,
    'grpc.max_reconnect_backoff_ms': 2_000,
  });
}

type Unary = (
  req: Buffer,
  md: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res?: Buffer) => void,
) => void;
type Bidi = (md: grpc.Metadata, opts?: grpc.CallOptions) => grpc.ClientDuplexStream<Buffer, Buffer>;

/** Calls a unary method with a relative deadline. */
export function callUnary(
  client: grpc.Client,
  methodName: 'register' | 'admin',
  request: Buffer,
  timeoutMs: number,
  metadata = new grpc.Metadata(),
): Promise<Buffer> {
  const fn = (client as unknown as Record<string, Unary>)[methodName]!.bind(client);
  return new Promise((resolve, reject) => {
    fn(request, metadata, { deadline: Date.now() + timeoutMs }, (err, res) => {
      if (err) reject(err);
      else resolve(res ?? Buffer.alloc(0));
    });
  });
}

export interface FederationClientOptions extends ChannelOptions {
  readonly log: Logger;
  /** Control messages from the server (deploy, abort, shutdown). */
  readonly onControl: (message: Exclude<ServerControl, { type: 'ready' }>) => void;
  /** Job ids running here, reported with each heartbeat. */
  readonly runningJobs?: () => readonly string[];
  /** First reconnect delay (ms); doubles up to `maxBackoffMs`. Default 500 / 30 000. */
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Deadline of one registration call (ms); default 10 s. */
  readonly requestTimeoutMs?: number;
  /**
   * Refused TLS handshakes (since the last successful connection) after which the client gives
   * up; default 3. A registration the server refuses gives up at once.
   */
  readonly maxHandshakeRefusals?: number;
  /** Called once when the client gives up on a refusal (it is closed by then). */
  readonly onRefused?: (error: VflareError) => void;
}

interface Waiter {
  resolve(): void;
  reject(err: VflareError): void;
}

export class FederationClient {
  readonly site: string;
  readonly #o: FederationClientOptions;
  readonly #log: Logger;
  readonly #client: grpc.Client;
  #token: string | undefined;
  #control: Link | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #retry: NodeJS.Timeout | undefined;
  #failures = 0;
  #refusals = 0;
  #ready = false;
  #stopped = false;
  /** Set when the client gave up on a refusal. */
  #refused: VflareError | undefined;
  #connectedWaiters: Waiter[] = [];

  constructor(options: FederationClientOptions) {
    if (options.kit.config.kind !== 'site') {
      throw new VflareError('INVALID_CONFIG', `${options.kit.dir} is not a site kit`);
    }
    this.site = options.kit.config.name;
    this.#o = options;
    this.#log = options.log.child({ site: this.site });
    this.#client = makeGrpcClient(options);
  }

  /** True while registered with an open control stream. */
  get connected(): boolean {
    return this.#ready && this.#control !== undefined && !this.#control.closed;
  }

  /**
   * Starts connecting (and keeps reconnecting); resolves once connected the first time. Rejects
   * with `INVALID_CONFIG` when the server refuses this site's identity (see the file comment).
   */
  start(): Promise<void> {
    const ready = this.waitConnected();
    void this.#connect();
    return ready;
  }

  /** Resolves when connected; rejects once the client gave up on a refusal. */
  waitConnected(): Promise<void> {
    if (this.#refused !== undefined) return Promise.reject(this.#refused);
    if (this.connected) return Promise.resolve();
    return new Promise((resolve, reject) => this.#connectedWaiters.push({ resolve, reject }));
  }

  /** The refusal the client gave up on, if it did. */
  get refused(): VflareError | undefined {
    return this.#refused;
  }

  async sendControl(message: SiteControl): Promise<void> {
    const link = this.#control;
    if (link === undefined || link.closed) {
      throw new VflareError('PEER_FAILED', `site ${this.site}: not connected to the server`);
    }
    await link.send(encode(message));
  }

  /** The engine's endpoint for one job: a job stream opened on `connect`. */
  jobEndpoint(jobId: string): ClientEndpoint {
    let link: Link | undefined;
    return {
      identity: this.site,
      connect: async (handlers: ClientFrameHandlers) => {
        const token = this.#token;
        if (token === undefined) {
          throw new VflareError('PEER_FAILED', `site ${this.site}: not registered with the server`);
        }
        const md = new grpc.Metadata();
        md.set(TOKEN_HEADER, token);
        md.set(JOB_HEADER, jobId);
        const call = (this.#client as unknown as Record<string, Bidi>)['job']!.call(
          this.#client,
          md,
        );
        link = new Link(
          call as unknown as Duplex,
          this.#o.link,
          this.#log.child({ job: jobId }),
          {
            onMessage: (frame) => handlers.onFrame(frame),
            onClose: (reason) => handlers.onClose?.(reason),
          },
          // Half-close, so frames already written (the runner's bye) still reach the server;
          // cancel only if the server does not close its side in time.
          () => {
            call.end();
            setTimeout(() => call.cancel(), 5_000).unref();
          },
        );
      },
      send: async (frame) => {
        if (link === undefined) {
          throw new VflareError('PEER_FAILED', `job ${jobId}: stream not connected`);
        }
        await link.send(frame);
      },
      close: async () => {
        if (link === undefined) return;
        // End our side; the server ends its side in turn.
        link.close('site left the job');
      },
    };
  }

  async close(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retry);
    clearInterval(this.#heartbeat);
    this.#control?.close('site shutting down');
    this.#client.close();
  }

  async #connect(): Promise<void> {
    if (this.#stopped) return;
    try {
      const kit = this.#o.kit;
      const resources = kit.config.kind === 'site' ? (kit.config.resources ?? {}) : {};
      const raw = await callUnary(
        this.#client,
        'register',
        encode({ site: this.site, project: kit.config.project, resources }),
        this.#o.requestTimeoutMs ?? 10_000,
      );
      const reply: RegisterReply = decode(registerReplySchema, raw, 'registration reply');
      this.#token = reply.token;
      this.#openControl(reply.heartbeatMs);
    } catch (err) {
      await this.#onRegisterFailed(err as grpc.ServiceError);
    }
  }

  /** Retries an outage; gives up on a refusal (at once, or after repeated TLS refusals). */
  async #onRegisterFailed(e: grpc.ServiceError): Promise<void> {
    const details = e.details ?? e.message ?? 'registration failed';
    if (this.#stopped) return;
    if (e.code === grpc.status.PERMISSION_DENIED || e.code === grpc.status.INVALID_ARGUMENT) {
      this.#giveUp(`the server refused the registration: ${details}`, 1);
      return;
    }
    if (e.code === grpc.status.UNAVAILABLE) {
      const host = this.#o.host ?? this.#o.kit.config.server.host;
      const port = this.#o.port ?? this.#o.kit.config.server.port;
      const probe = await probeHandshake(this.#o.kit, host, port, this.#o.requestTimeoutMs);
      if (this.#stopped) return;
      if (probe.kind === 'refused') {
        this.#refusals++;
        // grpc-js names a certificate problem found on this side; otherwise the probe's words.
        const reason = /Failed to connect|No connection established/.test(details)
          ? probe.reason
          : details.replace(/^No connection established\. Last error: /, '');
        const max = this.#o.maxHandshakeRefusals ?? 3;
        if (this.#refusals >= max) {
          this.#giveUp(`TLS handshake refused ${this.#refusals} times: ${reason}`, this.#refusals);
          return;
        }
        this.#scheduleReconnect(`TLS handshake refused (${this.#refusals} of ${max}): ${reason}`);
        return;
      }
    }
    this.#scheduleReconnect(details);
  }

  #giveUp(reason: string, attempts: number): void {
    const error = new VflareError(
      'INVALID_CONFIG',
      `site ${this.site}: ${reason}; giving up. Check that the startup kit ${this.#o.kit.dir} ` +
        'belongs to this federation, that its certificate is valid and names this site, and ' +
        'that the server address is right',
      { context: { site: this.site } },
    );
    this.#refused = error;
    this.#log.error({ reason, attempts }, 'the server refuses this site; giving up');
    void this.close();
    const waiters = this.#connectedWaiters;
    this.#connectedWaiters = [];
    for (const w of waiters) w.reject(error);
    this.#o.onRefused?.(error);
  }

  #openControl(heartbeatMs: number): void {
    const md = new grpc.Metadata();
    md.set(TOKEN_HEADER, this.#token!);
    const call = (this.#client as unknown as Record<string, Bidi>)['control']!.call(
      this.#client,
      md,
    );
    const link: Link = new Link(
      call as unknown as Duplex,
      this.#o.link,
      this.#log,
      {
        onMessage: (bytes) => {
          let message: ServerControl;
          try {
            message = decode(serverControlSchema, bytes, 'server control message');
          } catch (err) {
            this.#log.warn({ reason: (err as Error).message }, 'refused a control message');
            return;
          }
          if (message.type === 'ready') this.#onConnected();
          else this.#o.onControl(message);
        },
        onClose: (reason) => {
          this.#ready = false;
          clearInterval(this.#heartbeat);
          if (this.#control === link) this.#control = undefined;
          if (!this.#stopped) this.#scheduleReconnect(reason);
        },
      },
      () => call.cancel(),
    );
    this.#control = link;
    const beat = () => {
      const jobs = [...(this.#o.runningJobs?.() ?? [])];
      link.send(encode({ type: 'heartbeat', jobs })).catch(() => undefined);
    };
    beat();
    this.#heartbeat = setInterval(beat, heartbeatMs);
    this.#heartbeat.unref();
  }

  #onConnected(): void {
    this.#ready = true;
    if (this.#failures > 0) this.#log.info('reconnected to the server');
    else this.#log.info('connected to the server');
    this.#failures = 0;
    this.#refusals = 0;
    const waiters = this.#connectedWaiters;
    this.#connectedWaiters = [];
    for (const w of waiters) w.resolve();
  }

  #scheduleReconnect(reason: string): void {
    if (this.#stopped) return;
    this.#failures++;
    const min = this.#o.minBackoffMs ?? 500;
    const max = this.#o.maxBackoffMs ?? 30_000;
    const delay = Math.min(max, min * 2 ** (this.#failures - 1));
    this.#log.warn({ reason, retryInMs: delay }, 'not connected to the server; retrying');
    clearTimeout(this.#retry);
    // Not unref'd: a site process waiting to reconnect must stay alive.
    this.#retry = setTimeout(() => void this.#connect(), delay);
  }
}
