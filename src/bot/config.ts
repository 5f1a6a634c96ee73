/**
 * The bot's settings, read once from the environment and validated with zod. A bad value stops the bot at
 * start with one line that names the variable; nothing is read from the environment later.
 *
 * The Discord token is only ever taken from `DISCORD_TOKEN`. It is kept in the config object (the client needs
 * it) but never printed: `describeBotConfig` leaves it out and `redactSecrets` scrubs it from any text that is
 * about to be logged.
 */
import { z } from 'zod';
import { loadJobsConfig, type JobsConfig } from '../jobs/config.ts';
import { describeRedisTarget, redisTarget } from '../jobs/redis.ts';
import { ConfigError, intSetting, readSetting, setting, settingDefault, settingOrDefault } from '../settings/index.ts';
import { OPS_SETTINGS, type LogLevel } from '../ops/config.ts';

export { redactSecrets } from '../ops/redact.ts';

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
  /** Tries to post one result before it is given up as undeliverable (the request message then says so). */
  resultAttempts: number;
  /** Wait before the second try to post a result; doubles each further try (at most 5 minutes). */
  resultRetryMs: number;
  /** Boards (open /grid or /morph) one member may have open at once in a server. */
  maxOpenBoards: number;
  /** Stops a /chain takes before it renders by itself, unless its starter says `stops`. */
  chainStops: number;
  /**
   * Signs button ids. Unset: a random key made once and kept in Redis, so buttons keep working across token
   * resets and restarts (and every bot process of a deployment shares it).
   */
  buttonSecret: string | undefined;
  /** Gateway shards, in this process and in all of them. */
  shards: ShardSettings;
  logLevel: LogLevel;
  jobs: JobsConfig;
}

/**
 * Which gateway shards the bot runs. `total` unset: as many as Discord recommends (`GET /gateway/bot`). `ids`
 * set: this process runs only these of `total` (a child of the shard supervisor, or a range run by hand on
 * another machine); unset: `latentwalk bot` runs all of them, in this process up to `perProcess`, past that
 * as child processes of `perProcess` shards each.
 */
export interface ShardSettings {
  total: number | undefined;
  ids: number[] | undefined;
  perProcess: number;
}

/** Discord's interaction token lifetime. */
export const INTERACTION_TOKEN_TTL_MS = 15 * 60_000;

const BOT = ['start', 'bot'] as const;

/** Environment variable → parser, allowed values, readers and meaning. Defaults: config/defaults.json. */
export const BOT_SETTINGS = {
  DISCORD_TOKEN: setting(
    z
      .string()
      .trim()
      .min(20, { error: 'does not look like a bot token (copy it from the Developer Portal, Bot tab)' })
      .regex(/^[A-Za-z0-9._-]+$/, { error: 'must contain only letters, digits, ".", "_" and "-" (no "Bot " prefix, no quotes)' }),
    'the bot token (Developer Portal → Applications → your app → Bot → Reset Token)',
    ['start', 'bot', 'cli'],
    'The bot\'s token. Required by `start`, `bot` and `register-commands`; never logged.',
    { secret: true },
  ),
  DISCORD_API_URL: setting(
    z
      .string()
      .trim()
      .regex(/^https?:\/\/[^\s/]+(\/[^\s]*)?$/, { error: 'must be an http(s) URL such as https://discord.com/api' })
      .transform((url) => url.replace(/\/+$/, '').replace(/\/v\d+$/, '')),
    'http(s) URL',
    ['start', 'bot', 'cli'],
    'Discord\'s REST base (the gateway URL is asked from it). Point it at a LocalDiscord server for tests and the playground.',
  ),
  DISCORD_APPLICATION_ID: setting(
    z.string().trim().regex(/^\d{5,25}$/, { error: 'must be the numeric application id' }),
    'numeric id',
    ['start', 'bot', 'cli'],
    'The application id; unset: asked from Discord at login.',
  ),
  LATENTWALK_BOARD_TTL_S: intSetting(10, 7 * 24 * 3600, BOT, 'How long a /grid or open /morph board stays open, in seconds.'),
  LATENTWALK_PROGRESS_INTERVAL_MS: intSetting(50, 600_000, BOT, 'Least time between two progress edits of one job\'s message.'),
  LATENTWALK_BOARD_SWEEP_MS: intSetting(50, 600_000, BOT, 'How often expired boards are looked for.'),
  LATENTWALK_TOKEN_MARGIN_S: intSetting(0, 600, BOT, 'Stop using an interaction token this long before its 15 minutes run out.'),
  LATENTWALK_REGISTER_COMMANDS: setting(
    z.string().trim().regex(/^(global|off|\d{5,25})$/, { error: 'must be global, off, or a numeric guild id' }),
    'global, off, or a guild id',
    BOT,
    'Where `latentwalk bot` registers the slash commands as it starts: global (every server; Discord may take a while to show changes), a guild id (that server only, at once) or off (use `latentwalk register-commands`).',
  ),
  LATENTWALK_BOT_INSTANCE: setting(
    z.string().trim().regex(/^[A-Za-z0-9_.-]{1,64}$/, { error: 'must be 1-64 letters, digits, _ . or -' }),
    '1-64 of A-Z a-z 0-9 _ . -',
    BOT,
    'Stable name of this bot in the result stream\'s consumer group (a restart resumes its entries). One per bot process.',
  ),
  LATENTWALK_RESULT_ATTEMPTS: intSetting(1, 50, BOT, 'Tries to post one result (a Discord error that may pass, or one the bot does not know) before it is given up and the request says so.'),
  LATENTWALK_RESULT_RETRY_MS: intSetting(10, 600_000, BOT, 'Wait before the second try to post a result; doubles each further try, at most 5 minutes.'),
  LATENTWALK_MAX_OPEN_BOARDS: intSetting(1, 100, BOT, 'Open /grid and /morph boards one member may have at once in a server.'),
  LATENTWALK_CHAIN_STOPS: intSetting(2, 8, BOT, 'Stops a /chain takes before it renders by itself (one per member), unless its starter sets `stops`; the starter may close it sooner.'),
  LATENTWALK_BUTTON_SECRET: setting(
    z.string().trim().min(16, { error: 'must be at least 16 characters (any random string)' }).max(512),
    '16-512 characters',
    BOT,
    'Key that signs button ids. Unset: a random key made once and kept in Redis. Buttons keep working across token resets either way; set it to keep them across a new Redis.',
    { secret: true },
  ),
  LATENTWALK_SHARDS: intSetting(1, 4096, BOT, 'Gateway shards in all (every process together). Unset: as many as Discord recommends in `GET /gateway/bot` (one per about 1,000 servers).'),
  LATENTWALK_SHARDS_PER_PROCESS: intSetting(1, 1024, BOT, 'Most gateway shards one bot process runs (discord.js internal sharding); past that, `latentwalk bot` runs one child process per range of this many shards, restarts a child that crashes, and passes SIGTERM on.'),
  LATENTWALK_SHARD_IDS: setting(
    z
      .string()
      .trim()
      .regex(/^\d{1,4}(-\d{1,4})?(,\d{1,4}(-\d{1,4})?)*$/, { error: 'must be shard ids and ranges such as 0-3 or 0,2,5-7' })
      .transform(parseShardIds)
      .pipe(z.array(z.number()).min(1, { error: 'must name at least one shard (a range runs low to high)' })),
    'shard ids and ranges, e.g. 0-3 or 0,2',
    BOT,
    'Run only these gateway shards of LATENTWALK_SHARDS in this process (set by `latentwalk bot` for its children; set it yourself to run a range of shards on another machine). Unset: all of them.',
  ),
} as const;

/** `0-3,5` → [0, 1, 2, 3, 5]: sorted, without repeats; a range written high to low counts as empty. */
export function parseShardIds(text: string): number[] {
  const ids = new Set<number>();
  for (const part of text.split(',')) {
    const [from, to = from] = part.split('-').map(Number) as [number, number?];
    for (let id = from; id <= to!; id++) ids.add(id);
  }
  return [...ids].sort((a, b) => a - b);
}

/** [0, 1, 2, 5] → `0-2,5`: how LATENTWALK_SHARD_IDS spells a list. */
export function formatShardIds(ids: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < ids.length; i++) {
    let j = i;
    while (j + 1 < ids.length && ids[j + 1] === ids[j]! + 1) j++;
    parts.push(i === j ? String(ids[i]) : `${ids[i]}-${ids[j]}`);
    i = j;
  }
  return parts.join(',');
}

/**
 * What to do without a token: exactly what to set and where to get it. `where` names where the process reads
 * it from (`npm start` also reads a .env file).
 */
export function missingTokenHelp(where: string): string {
  return (
    'DISCORD_TOKEN is not set. Get your bot token from the Discord Developer Portal ' +
    '(https://discord.com/developers/applications → your application → Bot → Reset Token, then Copy) and put ' +
    `DISCORD_TOKEN=<the token> in ${where}. No Discord application yet? See "Setting up the Discord application" ` +
    'in the README. To see the product without Discord: npm run demo'
  );
}

/** Discord's own REST base (the default of DISCORD_API_URL). */
export const DISCORD_API_URL: string = settingDefault(BOT_SETTINGS, 'DISCORD_API_URL')!;

type BotEnvKey = keyof typeof BOT_SETTINGS;

const read = <K extends BotEnvKey>(env: NodeJS.ProcessEnv, key: K) => readSetting(BOT_SETTINGS, env, key);
const orDefault = <K extends BotEnvKey>(env: NodeJS.ProcessEnv, key: K) => settingOrDefault(BOT_SETTINGS, env, key);

/** Where the bot registers its slash commands at start: everywhere, one guild, or not at all. */
export type RegisterScope = { scope: 'global' } | { scope: 'off' } | { scope: 'guild'; guildId: string };

export function loadRegisterScope(env: NodeJS.ProcessEnv = process.env): RegisterScope {
  const value = orDefault(env, 'LATENTWALK_REGISTER_COMMANDS') ?? 'global';
  return value === 'global' || value === 'off' ? { scope: value } : { scope: 'guild', guildId: value };
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
  if (!token) throw new ConfigError('DISCORD_TOKEN', missingTokenHelp('the environment'));
  return {
    token,
    apiUrl: overrides.apiUrl ?? orDefault(env, 'DISCORD_API_URL')!,
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
  // Every variable is read (and so validated) even when an override replaces it.
  const boardTtlS = orDefault(env, 'LATENTWALK_BOARD_TTL_S')!;
  const progressIntervalMs = orDefault(env, 'LATENTWALK_PROGRESS_INTERVAL_MS')!;
  const boardSweepMs = orDefault(env, 'LATENTWALK_BOARD_SWEEP_MS')!;
  const tokenMarginS = orDefault(env, 'LATENTWALK_TOKEN_MARGIN_S')!;
  const instance = orDefault(env, 'LATENTWALK_BOT_INSTANCE')!;
  const resultAttempts = orDefault(env, 'LATENTWALK_RESULT_ATTEMPTS')!;
  const resultRetryMs = orDefault(env, 'LATENTWALK_RESULT_RETRY_MS')!;
  const maxOpenBoards = orDefault(env, 'LATENTWALK_MAX_OPEN_BOARDS')!;
  const chainStops = orDefault(env, 'LATENTWALK_CHAIN_STOPS')!;
  const buttonSecret = read(env, 'LATENTWALK_BUTTON_SECRET');
  const shards = overrides.shards ?? loadShardSettings(env);
  const logLevel = settingOrDefault(OPS_SETTINGS, env, 'LATENTWALK_LOG_LEVEL')!;
  return {
    ...discord,
    boardTtlMs: overrides.boardTtlMs ?? boardTtlS * 1000,
    progressIntervalMs: overrides.progressIntervalMs ?? progressIntervalMs,
    boardSweepMs: overrides.boardSweepMs ?? boardSweepMs,
    tokenMarginMs: overrides.tokenMarginMs ?? tokenMarginS * 1000,
    instance: overrides.instance ?? instance,
    resultAttempts: overrides.resultAttempts ?? resultAttempts,
    resultRetryMs: overrides.resultRetryMs ?? resultRetryMs,
    maxOpenBoards: overrides.maxOpenBoards ?? maxOpenBoards,
    chainStops: overrides.chainStops ?? chainStops,
    buttonSecret: 'buttonSecret' in overrides ? overrides.buttonSecret : buttonSecret,
    shards,
    logLevel: overrides.logLevel ?? logLevel,
    jobs: overrides.jobs ?? loadJobsConfig(env),
  };
}

/** LATENTWALK_SHARDS, _PER_PROCESS and _IDS, checked against each other. */
export function loadShardSettings(env: NodeJS.ProcessEnv = process.env): ShardSettings {
  const total = read(env, 'LATENTWALK_SHARDS');
  const perProcess = orDefault(env, 'LATENTWALK_SHARDS_PER_PROCESS')!;
  const ids = read(env, 'LATENTWALK_SHARD_IDS');
  if (ids && total === undefined) {
    throw new ConfigError('LATENTWALK_SHARD_IDS', 'LATENTWALK_SHARD_IDS needs LATENTWALK_SHARDS (the shard count of all processes together)');
  }
  if (ids && total !== undefined && ids[ids.length - 1]! >= total) {
    throw new ConfigError('LATENTWALK_SHARD_IDS', `LATENTWALK_SHARD_IDS names shard ${ids[ids.length - 1]}, but shards are numbered 0 to ${total - 1} (LATENTWALK_SHARDS=${total})`);
  }
  return { total, ids, perProcess };
}

/** The config as it may be logged: no token. */
export function describeBotConfig(config: BotConfig): Record<string, unknown> {
  return {
    apiUrl: config.apiUrl,
    applicationId: config.applicationId,
    boardTtlMs: config.boardTtlMs,
    progressIntervalMs: config.progressIntervalMs,
    instance: config.instance,
    redis: describeRedisTarget(redisTarget(config.jobs)),
    queue: config.jobs.queueName,
    shards: config.shards.ids ? `${formatShardIds(config.shards.ids)} of ${config.shards.total}` : (config.shards.total ?? 'recommended'),
  };
}
