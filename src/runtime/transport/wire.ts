/**
 * The messages a site and the server exchange, as one discriminated union. Every driver carries
 * these as frames produced by the codec (`codec.ts`); the engine never sees raw bytes.
 *
 * The site's identity is never taken from a message: the driver authenticates the peer (mTLS
 * on the network, the link itself in memory) and the engine stamps or checks it.
 */
import type { Payload, TaskData, TaskResult } from '../core/messages.js';
import type { PeerReply } from '../core/peer.js';

/** Site → server, first message on a link: which job the site runs. */
export interface HelloMessage {
  readonly type: 'hello';
  readonly jobId: string;
}

/** Server → site, answer to `hello`: the job's parties and how often to heartbeat. */
export interface WelcomeMessage {
  readonly type: 'welcome';
  readonly jobId: string;
  /** Every party of the job: `server` and the sites, in deploy order. */
  readonly parties: readonly string[];
  readonly heartbeatIntervalMs: number;
  /**
   * The server takes a site's next long-poll inside its `result` (`ResultMessage.next`). A site
   * sends `next` only when told so, so a site and a server of different builds still agree.
   */
  readonly resultPolls?: boolean;
}

/** Site → server: long-poll for a task; the server answers within `waitMs`. */
export interface GetTaskMessage {
  readonly type: 'get-task';
  readonly reqId: number;
  readonly waitMs: number;
}

/**
 * Server → site: a task to run, the answer to the site's outstanding `get-task` (`resend` when
 * the site asked again before answering). It carries no request id, so a network driver may
 * send one encoded frame to every site that gets the same data.
 */
export interface TaskMessage {
  readonly type: 'task';
  readonly task: TaskData;
  readonly resend: boolean;
}

/** Server → site: nothing to do now; ask again. */
export interface NoTaskMessage {
  readonly type: 'no-task';
  readonly reqId: number;
}

/**
 * Site → server: the answer to a task (its `site` is checked against the link's identity).
 * `next` is the site's next long-poll, carried in the same frame (one message fewer per site and
 * task); the server handles it as a `get-task` right after the result.
 */
export interface ResultMessage {
  readonly type: 'result';
  readonly result: TaskResult;
  readonly next?: { readonly reqId: number; readonly waitMs: number };
}

/** Site → server: liveness. Any message counts, heartbeats cover idle and busy periods. */
export interface HeartbeatMessage {
  readonly type: 'heartbeat';
}

/** Site → server: metrics for `summary.json` (later values overwrite earlier ones). */
export interface MetricsMessage {
  readonly type: 'metrics';
  readonly metrics: Readonly<Record<string, number>>;
}

/**
 * Peer request, relayed by the server. The server checks `from` against the link's identity
 * and every target against the job's parties, then forwards the same bytes to each target.
 */
export interface PeerRequestMessage {
  readonly type: 'peer-request';
  /** Unique per sender. */
  readonly reqId: string;
  readonly from: string;
  readonly to: readonly string[];
  readonly topic: string;
  readonly payload: Payload | null;
  /** Relative: the target aborts its handler's signal after this long. 0 = no limit. */
  readonly timeoutMs: number;
  /** Fire-and-forget: targets send no reply. */
  readonly oneWay: boolean;
}

/** One target's reply to a peer request, relayed by the server to `to`. */
export interface PeerReplyMessage {
  readonly type: 'peer-reply';
  readonly reqId: string;
  readonly from: string;
  readonly to: string;
  readonly reply: PeerReply;
}

/** Server → site: stop running a task (its executor's AbortSignal fires). */
export interface AbortMessage {
  readonly type: 'abort';
  readonly taskId: string;
}

/**
 * Server → site: the job ended, finalize and leave. Site → server: finalized, leaving (sent
 * after the site's last `metrics`).
 */
export interface ByeMessage {
  readonly type: 'bye';
  readonly reason?: string;
}

export type WireMessage =
  | HelloMessage
  | WelcomeMessage
  | GetTaskMessage
  | TaskMessage
  | NoTaskMessage
  | ResultMessage
  | HeartbeatMessage
  | MetricsMessage
  | PeerRequestMessage
  | PeerReplyMessage
  | AbortMessage
  | ByeMessage;

export type WireMessageType = WireMessage['type'];
