/**
 * The bot's settings, read once from the environment and validated with zod. A bad value stops the bot at
 * start with one line that names the variable; nothing is read from the environment later.
 *
 * The Discord token is only ever taken from `DISCORD_TOKEN`. It is kept in the config object (the client needs
 * it) but never printed: `describeBotConfig` leaves it out and `redactSecrets` scrubs it from any text that is
 * about to be logged.
 */
import { z } from 'zod';
import { ConfigError, loadJobsConfig, type JobsConfig } from '../jobs/config.ts';

export interface BotConfig {
  token: string;
  /** Discord's REST base (without /v10). Tests and the playground point it at LocalDiscord. */
  apiUrl: string;
  /** Known up front for `register-commands`; the bot itself learns it from READY when absent. */
  applicationId: string | undefined;
  /** How long a collaboration board stays open. */
  boardTtlMs: number;
  /** Least time between two progress edits of one job's message. */
  progressIntervalMs: number;
  /** How often expired boards are looked for. */
  boardSweepMs: number;
  /** Interaction tokens live 15 minutes; stop using one this long before that. */
  tokenMarginMs: number;
  /** Stable name of this bot instance in the result stream's consumer group (a restart resumes its entries). */
  instance: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  jobs: JobsConfig;
}

export const DISCORD_API_URL = 'https://discord.com/api';
/** Discord's interaction token lifetime. */
export const INTERACTION_TOKEN_TTL_MS = 15 * 60_000;

const int = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, { error: `must be a whole number between ${min} and ${max}` })
    .transform(Number)
    .pipe(z.number().int().min(min, { error: `must be at least ${min}` }).max(max, { error: `must be at most ${max}` }));

const ENV = {
  DISCORD_TOKEN: z
    .string()
    .trim()
    .min(20, { error: 'does not look like a bot token (copy it from the Developer Portal, Bot tab)' })
    .regex(/^[A-Za-z0-9._-]+$/, { error: 'must contain only letters, digits, ".", "_" and "-" (no "Bot " prefix, no quotes)' }),
  DISCORD_API_URL: z
    .string()
    .trim()
    .regex(/^https?:\/\/[^\s/]+(\/[^\s]*)?$/, { error: 'must be an http(s) URL such as https://discord.com/api' })
    .transform((url) => url.replace(/\/+$/, '').replace(/\/v\d+$/, '')),
  DISCORD_APPLICATION_ID: z.string().trim().regex(/^\d{5,25}$/, { error: 'must be the numeric application id' }),
  LATENTWALK_BOARD_TTL_S: int(10, 7 * 24 * 3600),
  LATENTWALK_PROGRESS_INTERVAL_MS: int(50, 600_000),
  LATENTWALK_BOARD_SWEEP_MS: int(50, 600_000),
  LATENTWALK_TOKEN_MARGIN_S: int(0, 600),
  LATENTWALK_BOT_INSTANCE: z.string().trim().regex(/^[A-Za-z0-9_.-]{1,64}$/, { error: 'must be 1-64 letters, digits, _ . or -' }),
  LATENTWALK_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
    error: 'must be one of fatal, error, warn, info, debug, trace, silent',
  }),
} as const;

type BotEnvKey = keyof typeof ENV;

function read<K extends BotEnvKey>(env: NodeJS.ProcessEnv, key: K): z.output<(typeof ENV)[K]> | undefined {
  const raw = env[key];
  if (raw === undefined || raw.trim() === '') return undefined;
  const parsed = ENV[key].safeParse(raw);
  if (!parsed.success) {
    const why = parsed.error.issues[0]?.message ?? 'is invalid';
    // The token's value is never echoed back.
    const shown = key === 'DISCORD_TOKEN' ? '' : ` (got ${JSON.stringify(raw)})`;
    throw new ConfigError(key, `${key} ${why}${shown}`);
  }
  return parsed.data as z.output<(typeof ENV)[K]>;
}

export type BotConfigOverrides = Partial<Omit<BotConfig, 'jobs'>> & { jobs?: JobsConfig };

export interface DiscordSettings {
  token: string;
  apiUrl: string;
  applicationId: string | undefined;
}

/** Just what talking to Discord's REST API needs (register-commands): the token, the API base, the app id. */
export function loadDiscordSettings(env: NodeJS.ProcessEnv = process.env, overrides: Partial<DiscordSettings> = {}): DiscordSettings {
  const token = overrides.token ?? read(env, 'DISCORD_TOKEN');
  if (!token) {
    throw new ConfigError('DISCORD_TOKEN', 'DISCORD_TOKEN is not set: export your bot token from the Developer Portal (Bot tab) as DISCORD_TOKEN');
  }
  return {
    token,
    apiUrl: overrides.apiUrl ?? read(env, 'DISCORD_API_URL') ?? DISCORD_API_URL,
    applicationId: overrides.applicationId ?? read(env, 'DISCORD_APPLICATION_ID'),
  };
}

/**
 * Reads `DISCORD_*` and `LATENTWALK_*` (and the job layer's own variables through loadJobsConfig). Throws
 * ConfigError naming the first bad variable.
 */
export function loadBotConfig(env: NodeJS.ProcessEnv = process.env, overrides: BotConfigOverrides = {}): BotConfig {
  const discord = loadDiscordSettings(env, {
    ...(overrides.token !== undefined ? { token: overrides.token } : {}),
    ...(overrides.apiUrl !== undefined ? { apiUrl: overrides.apiUrl } : {}),
    ...(overrides.applicationId !== undefined ? { applicationId: overrides.applicationId } : {}),
  });
  const seconds = (key: BotEnvKey) => {
    const value = read(env, key) as number | undefined;
    return value === undefined ? undefined : value * 1000;
  };
  return {
    ...discord,
    boardTtlMs: overrides.boardTtlMs ?? seconds('LATENTWALK_BOARD_TTL_S') ?? 30 * 60_000,
    progressIntervalMs: overrides.progressIntervalMs ?? read(env, 'LATENTWALK_PROGRESS_INTERVAL_MS') ?? 3000,
    boardSweepMs: overrides.boardSweepMs ?? read(env, 'LATENTWALK_BOARD_SWEEP_MS') ?? 10_000,
    tokenMarginMs: overrides.tokenMarginMs ?? seconds('LATENTWALK_TOKEN_MARGIN_S') ?? 60_000,
    instance: overrides.instance ?? read(env, 'LATENTWALK_BOT_INSTANCE') ?? 'bot-1',
    logLevel: overrides.logLevel ?? read(env, 'LATENTWALK_LOG_LEVEL') ?? 'info',
    jobs: overrides.jobs ?? loadJobsConfig(env),
  };
}

/** The config as it may be logged: no token. */
export function describeBotConfig(config: BotConfig): Record<string, unknown> {
  return {
    apiUrl: config.apiUrl,
    applicationId: config.applicationId,
    boardTtlMs: config.boardTtlMs,
    progressIntervalMs: config.progressIntervalMs,
    instance: config.instance,
    redis: config.jobs.redisUrl.replace(/\/\/[^@/]*@/, '//***@'),
    queue: config.jobs.queueName,
  };
}

/**
 * Removes secrets from text about to be logged: the bot token wherever it appears, and interaction tokens
 * inside webhook URLs (`/webhooks/<app>/<token>`, `/interactions/<id>/<token>`).
 */
export function redactSecrets(text: string, token?: string): string {
  let out = text;
  if (token && token.length > 0) out = out.split(token).join('[token]');
  return out
    .replace(/(\/webhooks\/\d+\/)[^/?\s"']+/g, '$1[token]')
    .replace(/(\/interactions\/\d+\/)[^/?\s"']+/g, '$1[token]')
    .replace(/(Bot\s+)[A-Za-z0-9._-]{20,}/g, '$1[token]');
}
