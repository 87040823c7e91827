/**
 * One small error hierarchy for the whole library. Every error vflare throws on purpose is a
 * `VflareError` with a stable `code`; codes are grouped by subsystem so callers can branch on
 * them without matching message text. Messages say what was wrong, for which input, and what to
 * do, and never carry private data (set items, keys, raw rows, gradients).
 */

/** Stable error codes, grouped by subsystem prefix. */
export type ErrorCode =
  // Input and configuration.
  | 'INVALID_ARGUMENT'
  | 'INVALID_CONFIG'
  | 'INVALID_JOB'
  | 'INVALID_DATA'
  | 'NOT_FOUND'
  // Runtime and workflows.
  | 'TASK_FAILED'
  | 'TASK_TIMEOUT'
  | 'ABORTED'
  | 'SITE_DEAD'
  | 'MIN_CLIENTS_NOT_MET'
  | 'AGGREGATION_FAILED'
  | 'PEER_FAILED'
  | 'TOPIC_UNKNOWN'
  | 'CODEC_FAILED'
  | 'MESSAGE_TOO_BIG'
  | 'FILTER_FAILED'
  | 'CONTENT_BLOCKED'
  // Protocols and algorithms.
  | 'PROTOCOL_ERROR'
  | 'CRYPTO_ERROR'
  | 'UNSUPPORTED'
  | 'INTERNAL';

/** Where an error happened, for operators. Never private data. */
export interface ErrorContext {
  readonly site?: string;
  readonly job?: string;
  readonly round?: number;
  readonly task?: string;
  readonly [key: string]: string | number | boolean | undefined;
}

export interface VflareErrorOptions {
  readonly cause?: unknown;
  readonly context?: ErrorContext;
}

export class VflareError extends Error {
  override readonly name: string = 'VflareError';
  readonly code: ErrorCode;
  readonly context: ErrorContext;

  constructor(code: ErrorCode, message: string, options: VflareErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.context = options.context ?? {};
  }
}

/** Raised by job validation; `problems` lists every problem found, not just the first. */
export class JobValidationError extends VflareError {
  override readonly name = 'JobValidationError';
  readonly problems: readonly string[];

  constructor(jobName: string, problems: readonly string[]) {
    super('INVALID_JOB', `job "${jobName}" is invalid:\n  - ${problems.join('\n  - ')}`);
    this.problems = problems;
  }
}

/**
 * Type guard that also works across realms (worker threads, duplicated module copies), where
 * `instanceof` fails: it checks the shape instead.
 */
export function isVflareError(value: unknown): value is VflareError {
  return (
    value instanceof VflareError ||
    (value instanceof Error &&
      typeof (value as { code?: unknown }).code === 'string' &&
      typeof (value as { context?: unknown }).context === 'object')
  );
}

/**
 * A message safe to send to another party or log: never a stack, never a non-vflare error's
 * text.
 */
export function safeMessage(err: unknown): string {
  if (isVflareError(err)) return `${err.code}: ${err.message}`;
  if (err instanceof Error) return `${err.name}`;
  return 'unknown error';
}
