/**
 * Peer messaging endpoint (NVFlare 2.3's aux channel), one per party. Requests travel as
 * `peer-request` frames relayed by the server, one reply per target comes back as `peer-reply`.
 * The endpoint keeps the pending requests and the topic handlers; how frames move is the
 * `PeerLink` its owner (client runner or server engine) provides.
 */

import { safeMessage, VflareError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Payload } from '../core/messages.js';
import type {
  PeerHandler,
  PeerMessenger,
  PeerReply,
  PeerRequestOptions,
  PeerTarget,
} from '../core/peer.js';
import { ALL, SERVER } from '../core/peer.js';
import type { PeerReplyMessage, PeerRequestMessage } from '../transport/wire.js';
import { payloadProblem } from './check.js';

/** How an endpoint's frames leave the party. Failures to deliver come back as `deliverFailure`. */
export interface PeerLink {
  /** Sends to every target in `msg.to`; throws synchronously only if encoding fails. */
  sendRequest(msg: PeerRequestMessage): void;
  sendReply(msg: PeerReplyMessage): void;
}

interface Pending {
  readonly order: readonly string[];
  readonly replies: Map<string, PeerReply>;
  readonly finish: (missing: PeerReply) => void;
}

export class PeerEndpoint implements PeerMessenger {
  readonly self: string;
  readonly #parties: () => readonly string[];
  readonly #link: PeerLink;
  readonly #logger: Logger;
  readonly #handlers = new Map<string, PeerHandler>();
  readonly #pending = new Map<string, Pending>();
  readonly #running = new Set<AbortController>();
  #seq = 0;
  #closed = false;

  constructor(self: string, parties: () => readonly string[], link: PeerLink, logger: Logger) {
    this.self = self;
    this.#parties = parties;
    this.#link = link;
    this.#logger = logger;
  }

  register(topic: string, handler: PeerHandler): void {
    if (this.#handlers.has(topic)) {
      throw new VflareError(
        'INVALID_ARGUMENT',
        `peer topic "${topic}" already has a handler at "${this.self}"; unregister it first`,
      );
    }
    this.#handlers.set(topic, handler);
  }

  unregister(topic: string): void {
    this.#handlers.delete(topic);
  }

  /** Expands `SERVER`, `ALL`, a name or a list into distinct party names, checked. */
  resolveTargets(targets: PeerTarget): string[] {
    const parties = this.#parties();
    const list = typeof targets === 'string' ? [targets] : [...targets];
    const out: string[] = [];
    for (const t of list) {
      const names = t === ALL ? parties.filter((p) => p !== this.self) : [t];
      for (const name of names) {
        if (name === this.self) {
          throw new VflareError('INVALID_ARGUMENT', `peer target: "${name}" is the sender itself`);
        }
        if (!parties.includes(name)) {
          throw new VflareError(
            'INVALID_ARGUMENT',
            `peer target: "${name}" is not a party of this job (parties: ${parties.join(', ')})`,
          );
        }
        if (!out.includes(name)) out.push(name);
      }
    }
    if (out.length === 0) throw new VflareError('INVALID_ARGUMENT', 'peer target: no targets');
    return out;
  }

  request(
    targets: PeerTarget,
    topic: string,
    payload: Payload | null,
    options: PeerRequestOptions,
  ): Promise<ReadonlyMap<string, PeerReply>> {
    return new Promise((resolve, reject) => {
      const { timeoutMs, signal } = options;
      if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
        throw new VflareError(
          'INVALID_ARGUMENT',
          `peer request timeoutMs: expected a positive number of ms, got ${timeoutMs}` +
            ' (use fireAndForget to send without waiting)',
        );
      }
      if (this.#closed) throw new VflareError('ABORTED', `"${this.self}": the job has ended`);
      if (signal?.aborted) throw new VflareError('ABORTED', 'peer request: signal already aborted');
      const to = this.resolveTargets(targets);
      const reqId = `${this.self}#${++this.#seq}`;
      const replies = new Map<string, PeerReply>();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const onAbort = () => finish({ rc: 'task-aborted', payload: null, reason: 'aborted' });
      const finish = (missing: PeerReply) => {
        if (!this.#pending.delete(reqId)) return;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const out = new Map<string, PeerReply>();
        for (const t of to) out.set(t, replies.get(t) ?? missing);
        resolve(out);
      };
      this.#pending.set(reqId, { order: to, replies, finish });
      timer = setTimeout(
        () => finish({ rc: 'timeout', payload: null, reason: `no reply within ${timeoutMs} ms` }),
        timeoutMs,
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      const msg: PeerRequestMessage = {
        type: 'peer-request',
        reqId,
        from: this.self,
        to,
        topic,
        payload,
        timeoutMs: Math.ceil(timeoutMs),
        oneWay: false,
      };
      try {
        this.#link.sendRequest(msg);
      } catch (err) {
        this.#pending.delete(reqId);
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        reject(err);
      }
    });
  }

  fireAndForget(targets: PeerTarget, topic: string, payload: Payload | null): void {
    if (this.#closed) throw new VflareError('ABORTED', `"${this.self}": the job has ended`);
    const to = this.resolveTargets(targets);
    const reqId = `${this.self}#${++this.#seq}`;
    this.#link.sendRequest({
      type: 'peer-request',
      reqId,
      from: this.self,
      to,
      topic,
      payload,
      timeoutMs: 0,
      oneWay: true,
    });
  }

  /** Runs the topic's handler for an incoming request and sends the reply (unless one-way). */
  handleRequest(msg: PeerRequestMessage): void {
    if (this.#closed) return;
    const reply = (r: PeerReply) => {
      if (msg.oneWay || this.#closed) return;
      this.#link.sendReply({
        type: 'peer-reply',
        reqId: msg.reqId,
        from: this.self,
        to: msg.from,
        reply: r,
      });
    };
    const handler = this.#handlers.get(msg.topic);
    if (handler === undefined) {
      reply({ rc: 'topic-unknown', payload: null, reason: `no handler for topic "${msg.topic}"` });
      return;
    }
    const controller = new AbortController();
    this.#running.add(controller);
    const timer =
      msg.timeoutMs > 0 ? setTimeout(() => controller.abort(), msg.timeoutMs) : undefined;
    const done = () => {
      clearTimeout(timer);
      this.#running.delete(controller);
    };
    Promise.resolve()
      .then(() =>
        handler({
          from: msg.from,
          topic: msg.topic,
          payload: msg.payload,
          signal: controller.signal,
        }),
      )
      .then(
        (out) => {
          done();
          const problem = out === null ? undefined : payloadProblem(out);
          if (problem !== undefined) {
            reply({
              rc: 'handler-exception',
              payload: null,
              reason: `handler returned ${problem}`,
            });
          } else {
            reply({ rc: 'ok', payload: out ?? null });
          }
        },
        (err: unknown) => {
          done();
          this.#logger.warn(
            { topic: msg.topic, from: msg.from, error: safeMessage(err) },
            'peer handler failed',
          );
          reply({ rc: 'handler-exception', payload: null, reason: safeMessage(err) });
        },
      )
      .catch((err: unknown) => {
        this.#logger.error({ topic: msg.topic, error: safeMessage(err) }, 'peer reply not sent');
      });
  }

  /** Takes one target's reply to a pending request. */
  handleReply(msg: PeerReplyMessage): void {
    if (msg.to !== this.self) return;
    this.deliverReply(msg.reqId, msg.from, msg.reply);
  }

  /** Records a reply for `from` (also used for local delivery failures). */
  deliverReply(reqId: string, from: string, reply: PeerReply): void {
    const pending = this.#pending.get(reqId);
    if (pending === undefined || !pending.order.includes(from) || pending.replies.has(from)) {
      return;
    }
    pending.replies.set(from, reply);
    if (pending.replies.size === pending.order.length) {
      pending.finish({ rc: 'error', payload: null });
    }
  }

  /** Ends the endpoint: running handlers are aborted, pending requests answer `task-aborted`. */
  close(): void {
    this.#closed = true;
    for (const c of this.#running) c.abort();
    this.#running.clear();
    for (const p of [...this.#pending.values()]) {
      p.finish({ rc: 'task-aborted', payload: null, reason: 'the job ended' });
    }
  }
}

export { ALL, SERVER };
