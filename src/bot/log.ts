/**
 * The bot's logger: pino (JSON lines on stderr), behind a small interface that only accepts a message and
 * flat fields. Every string goes through `redactSecrets` first, so neither the bot token nor an interaction
 * token (which sits inside webhook URLs of discord.js errors) can reach a log line. Errors are reduced to
 * `describeError` (name, status, code, message): a DiscordAPIError also carries the request body and URL,
 * which are never logged.
 */
import { pino, type Logger as Pino } from 'pino';
import { redactSecrets } from './config.ts';

export type LogFields = Record<string, string | number | boolean | undefined | null>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

export function createLogger(options: { level: string; token?: string; destination?: NodeJS.WritableStream }): Logger {
  const base: Pino = pino(
    { name: 'latentwalk-bot', level: options.level, base: { pid: process.pid } },
    options.destination ?? pino.destination(2),
  );
  const clean = (fields: LogFields | undefined): Record<string, unknown> | undefined => {
    if (!fields) return undefined;
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(fields)) {
      if (value === undefined) continue;
      out[key] = typeof value === 'string' ? redactSecrets(value, options.token) : value;
    }
    return out;
  };
  const at = (level: 'debug' | 'info' | 'warn' | 'error') => (message: string, fields?: LogFields) => {
    const text = redactSecrets(message, options.token);
    const extra = clean(fields);
    if (extra) base[level](extra, text);
    else base[level](text);
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** A logger that drops everything (tests that do not care). */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

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
