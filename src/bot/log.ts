/**
 * The bot's logger: the project's pino logger (src/ops/log.ts) with `service: "bot"`, JSON lines on stderr.
 * It only accepts a message and flat fields, and every string goes through `redactSecrets` first, so neither
 * the bot token nor an interaction token (which sits inside webhook URLs of discord.js errors) can reach a log
 * line. Errors are reduced to `describeError` (name, status, code, message): a DiscordAPIError also carries the
 * request body and URL, which are never logged.
 */
import { createLogger as createOpsLogger, type OpsLogger } from '../ops/log.ts';

export { describeError, silentLogger, type LogFields, type Logger } from '../ops/log.ts';

export function createLogger(options: { level: string; token?: string; destination?: NodeJS.WritableStream }): OpsLogger {
  return createOpsLogger({
    service: 'bot',
    level: options.level,
    ...(options.token !== undefined ? { token: options.token } : {}),
    ...(options.destination ? { destination: options.destination } : {}),
  });
}
