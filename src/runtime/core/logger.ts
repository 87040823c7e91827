/**
 * The one injected logger. The runtime owns it and hands children with site/job/round
 * context to the parts it runs; algorithms never log (they expose hooks instead).
 */
import { pino } from 'pino';

/** The subset of pino's logger vflare uses, so tests can pass a collecting logger. */
export interface Logger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
  child(bindings: Record<string, string | number>): Logger;
}

export interface LoggerOptions {
  /** pino level; default `info`, or `LOG_LEVEL` from the environment. */
  readonly level?: string;
  /** Pretty-print for a terminal; default: when stderr is a TTY and not in CI. */
  readonly pretty?: boolean;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? process.env['LOG_LEVEL'] ?? 'info';
  const pretty = options.pretty ?? (process.stderr.isTTY === true && !process.env['CI']);
  if (pretty) {
    return pino({
      level,
      transport: {
        target: 'pino-pretty',
        options: { destination: 2, ignore: 'pid,hostname', translateTime: 'HH:MM:ss.l' },
      },
    });
  }
  return pino({ level }, pino.destination(2));
}

/** A logger that drops everything (tests, library use without a host). */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
};

export interface LogRecord {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly msg: string;
  readonly bindings: Record<string, string | number>;
  readonly obj: object | undefined;
}

/** A logger that keeps every record in memory, for tests that assert on logs. */
export function collectingLogger(
  records: LogRecord[] = [],
  bindings: Record<string, string | number> = {},
): Logger & { readonly records: LogRecord[] } {
  const at =
    (level: LogRecord['level']) =>
    (obj: object | string, msg?: string): void => {
      if (typeof obj === 'string') records.push({ level, msg: obj, bindings, obj: undefined });
      else records.push({ level, msg: msg ?? '', bindings, obj });
    };
  return {
    records,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (more) => collectingLogger(records, { ...bindings, ...more }),
  };
}
