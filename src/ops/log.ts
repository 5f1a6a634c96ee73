/**
 * Structured logs for every process: pino, one JSON object per line, with `service` (start, bot, worker) and
 * whatever ids the line is about (`jobId`, `guildId`, `workerId`, ...) as fields.
 *
 * Secrets never reach a line, at three levels: the interface only takes a message and flat fields, and every
 * string goes through `redactSecrets` (the bot token, interaction tokens inside webhook URLs, Redis
 * passwords); pino's `redact` censors fields named like a secret (`token`, `authorization`, ...); and the
 * finished line passes `redactSecrets` once more on its way to the file descriptor, which also covers anything
 * pino serialised by itself.
 */
import { pino, type DestinationStream, type Logger as Pino } from 'pino';
import type { LogLevel } from './config.ts';
import { redactSecrets } from './redact.ts';

export type LogFields = Record<string, string | number | boolean | undefined | null>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/** A logger that can make children carrying extra fields on every line (a worker id, a job id). */
export interface OpsLogger extends Logger {
  child(fields: LogFields): OpsLogger;
  /** The underlying level, for code that wants to skip building expensive fields. */
  readonly level: string;
}

export type ServiceName = 'start' | 'bot' | 'worker' | (string & {});

export interface LoggerOptions {
  service: ServiceName;
  level: LogLevel | string;
  /** The bot token, scrubbed from every line (when the process knows it). */
  token?: string | undefined;
  /** A stream (tests) or a file descriptor; default stderr for the bot and start, stdout for the worker. */
  destination?: NodeJS.WritableStream | number;
  /** Fields on every line. */
  base?: LogFields;
}

/** Field names whose values are never logged, whatever they hold. */
const SECRET_PATHS = ['token', 'password', 'authorization', 'DISCORD_TOKEN', '*.token', '*.password', '*.authorization', '*.DISCORD_TOKEN'];

export function createLogger(options: LoggerOptions): OpsLogger {
  const token = options.token && options.token.length > 0 ? options.token : undefined;
  const sink = scrubbingDestination(options.destination ?? (options.service === 'worker' ? 1 : 2), token);
  const root = pino(
    {
      level: options.level,
      base: { pid: process.pid, service: options.service, ...clean(options.base, token) },
      redact: { paths: SECRET_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    sink,
  );
  return wrap(root, token);
}

function wrap(base: Pino, token: string | undefined): OpsLogger {
  const at = (level: 'debug' | 'info' | 'warn' | 'error') => (message: string, fields?: LogFields) => {
    const text = redactSecrets(message, token);
    const extra = clean(fields, token);
    if (extra) base[level](extra, text);
    else base[level](text);
  };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (fields) => wrap(base.child(clean(fields, token) ?? {}), token),
    get level() {
      return base.level;
    },
  };
}

function clean(fields: LogFields | undefined, token: string | undefined): Record<string, unknown> | undefined {
  if (!fields) return undefined;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    out[key] = typeof value === 'string' ? redactSecrets(value, token) : value;
  }
  return out;
}

/** Writes each finished line through `redactSecrets`, synchronously (nothing is lost on exit). */
function scrubbingDestination(target: NodeJS.WritableStream | number, token: string | undefined): DestinationStream {
  const out: { write(line: string): unknown } = typeof target === 'number' ? pino.destination({ dest: target, sync: true }) : target;
  return { write: (line: string) => void out.write(redactSecrets(line, token)) };
}

/** A logger that drops everything (tests that do not care). */
export const silentLogger: OpsLogger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child: () => silentLogger,
  level: 'silent',
};

/** One line about an error, without request bodies, URLs or stacks. */
export function describeError(error: unknown): string {
  if (error && typeof error === 'object') {
    const e = error as { name?: unknown; message?: unknown; status?: unknown; code?: unknown };
    const parts = [typeof e.name === 'string' ? e.name : 'Error'];
    if (typeof e.status === 'number') parts.push(String(e.status));
    if (typeof e.code === 'number' || typeof e.code === 'string') parts.push(`code ${String(e.code)}`);
    const message = typeof e.message === 'string' ? e.message.split('\n')[0] : '';
    return `${parts.join(' ')}: ${message}`;
  }
  return String(error);
}
