/**
 * The one place that opens Redis connections and runs our Lua scripts.
 *
 * Roles decide the retry behaviour, because the two sides of the queue want opposite things while Redis is
 * restarting:
 * - `commands` (the bot's producer API, the operator CLI): a command fails after a few reconnect attempts so a
 *   slash command can answer "try again" instead of hanging; the connection itself keeps reconnecting.
 * - `worker` / `blocking` / `subscriber` (BullMQ workers, stream readers, pub/sub): wait for Redis forever
 *   (`maxRetriesPerRequest: null`, which BullMQ requires for workers) and carry on once it is back.
 */
import { createHash } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { RedisUnusableError } from './errors.ts';

export type RedisRole = 'commands' | 'worker' | 'blocking' | 'subscriber';

const lastErrors = new WeakMap<Redis, Error>();

export function openRedis(url: string, role: RedisRole, name: string = role): Redis {
  const options: RedisOptions = {
    connectionName: `latentwalk-${name}`,
    // Reconnect quickly at first, then every 2 s for as long as it takes.
    retryStrategy: (times) => Math.min(100 * times, 2000),
    maxRetriesPerRequest: role === 'commands' ? 3 : null,
    enableReadyCheck: true,
  };
  const redis = new Redis(url, options);
  // ioredis reports every failed reconnect as an 'error' event; without a listener Node would crash the process.
  // The last one is kept to say why a command could not be sent.
  redis.on('error', (error: Error) => lastErrors.set(redis, error));
  return redis;
}

/** Closes a connection without waiting for a server that may be gone. */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'end') return;
  try {
    if (redis.status === 'ready') {
      await Promise.race([redis.quit(), new Promise((resolve) => setTimeout(resolve, 1000))]);
    }
  } catch {
    // already closing
  } finally {
    redis.disconnect();
  }
}

export interface RedisServerInfo {
  version: string;
  maxmemoryPolicy: string;
  aofEnabled: boolean;
  /** Things that work but that an operator should fix (printed by the worker at start). */
  warnings: string[];
}

/** BullMQ itself refuses below 5.0 and warns below 6.2; we want the 6.2 behaviour, so we require it. */
export const MINIMUM_REDIS_VERSION = '6.2.0';

/**
 * Checks that the server is fit for BullMQ, with messages that say what to change. Uses INFO only (CONFIG is
 * often disabled on managed Redis).
 */
export async function checkRedisServer(redis: Redis, url: string): Promise<RedisServerInfo> {
  let info: string;
  try {
    info = await redis.info();
  } catch (error) {
    const why = lastErrors.get(redis)?.message ?? (error as Error).message;
    throw new RedisUnusableError(`cannot reach Redis at ${redactUrl(url)} (${why}); start it or set REDIS_URL`);
  }
  const field = (name: string) => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
  const version = field('valkey_version') ?? field('redis_version') ?? '0.0.0';
  if (compareVersions(version, MINIMUM_REDIS_VERSION) < 0) {
    throw new RedisUnusableError(
      `Redis at ${redactUrl(url)} is version ${version}; the job queue needs ${MINIMUM_REDIS_VERSION} or newer`,
    );
  }
  const maxmemoryPolicy = field('maxmemory_policy') ?? 'unknown';
  if (maxmemoryPolicy !== 'noeviction') {
    throw new RedisUnusableError(
      `Redis at ${redactUrl(url)} has maxmemory-policy ${maxmemoryPolicy}, which may evict queued jobs and locks; ` +
        `set it to noeviction (redis-cli CONFIG SET maxmemory-policy noeviction, and in redis.conf)`,
    );
  }
  const aofEnabled = field('aof_enabled') === '1';
  const warnings: string[] = [];
  if (!aofEnabled) {
    warnings.push(
      `Redis at ${redactUrl(url)} has append-only persistence off: queued jobs are lost if Redis restarts ` +
        `(set appendonly yes)`,
    );
  }
  return { version, maxmemoryPolicy, aofEnabled, warnings };
}

export function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//***@');
}

function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map((part) => Number.parseInt(part, 10) || 0);
  const pb = b.split('.').map((part) => Number.parseInt(part, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const diff = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}

/** Messages of ioredis, BullMQ and Node's sockets that mean "Redis was not there" (not that a command was wrong). */
const REDIS_UNAVAILABLE = [
  /max retries per request/i,
  /Connection is closed/i,
  /Stream isn't writeable/i,
  /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH/,
  /LOADING Redis is loading/i,
  /READONLY You can't write against a read only replica/i,
  /Missing lock for job/i,
];

export function isRedisUnavailable(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name;
  if (name === 'MaxRetriesPerRequestError') return true;
  const message = error instanceof Error ? error.message : String(error);
  return REDIS_UNAVAILABLE.some((pattern) => pattern.test(message));
}

/** What a requester is told when Redis being away ended their job (never ioredis' own words). */
export const REDIS_UNAVAILABLE_REASON =
  "the render queue's database (Redis) was unreachable for too long while this rendered; press Reroll to try again";

export type RedisArg = string | number | Buffer;

/**
 * A Lua script run with EVALSHA, falling back to EVAL when the server does not know it (first use, or after a
 * Redis restart flushed the script cache).
 */
export class LuaScript {
  readonly sha: string;

  constructor(
    readonly name: string,
    readonly source: string,
  ) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run<T = unknown>(redis: Redis, keys: readonly string[], args: readonly RedisArg[]): Promise<T> {
    try {
      return (await redis.evalsha(this.sha, keys.length, ...keys, ...args)) as T;
    } catch (error) {
      if (!String((error as Error).message).includes('NOSCRIPT')) throw error;
      return (await redis.eval(this.source, keys.length, ...keys, ...args)) as T;
    }
  }
}
