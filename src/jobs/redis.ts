/**
 * The one place that opens Redis connections and runs our Lua scripts.
 *
 * Roles decide the retry behaviour, because the two sides of the queue want opposite things while Redis is
 * restarting:
 * - `commands` (the bot's producer API, the operator CLI): a command fails after a few reconnect attempts so a
 *   slash command can answer "try again" instead of hanging; the connection itself keeps reconnecting.
 * - `worker` / `blocking` / `subscriber` (BullMQ workers, stream readers, pub/sub): wait for Redis forever
 *   (`maxRetriesPerRequest: null`, which BullMQ requires for workers) and carry on once it is back.
 *
 * Where Redis is, is the target's topology: one server (REDIS_URL), a primary watched by Sentinels
 * (REDIS_SENTINELS + REDIS_SENTINEL_MASTER: every connection asks the Sentinels for the primary, and asks again
 * when it loses it, so a failover needs no restart) or a Redis Cluster (REDIS_CLUSTER_NODES). Every key of the
 * project starts with one hash tag (`{prefix}`, see keys.ts), so in a cluster they all live in one slot and the
 * scripts and transactions that span them stay legal.
 */
import { createHash } from 'node:crypto';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { HostPort, RedisTopology } from './config.ts';
import { RedisUnusableError } from './errors.ts';

export type RedisRole = 'commands' | 'worker' | 'blocking' | 'subscriber';

/** Where Redis is: REDIS_URL (credentials, database, TLS; the server too when there is no other topology) and the topology. */
export interface RedisTarget {
  url: string;
  topology: RedisTopology;
}

/** The target of a jobs config. */
export function redisTarget(config: { redisUrl: string; redisTopology: RedisTopology }): RedisTarget {
  return { url: config.redisUrl, topology: config.redisTopology };
}

const lastErrors = new WeakMap<Redis, Error>();

/** Reconnect quickly at first, then every 2 s for as long as it takes. */
const reconnectDelay = (times: number) => Math.min(100 * times, 2000);

/**
 * Opens a connection for `role`. A Cluster connection answers the same commands as a single server's (every key
 * of ours is in one slot), so it is handed out under the same type.
 */
export function openRedis(target: RedisTarget | string, role: RedisRole, name: string = role): Redis {
  const { url, topology } = typeof target === 'string' ? { url: target, topology: { kind: 'single' } as const } : target;
  const options: RedisOptions = {
    connectionName: `latentwalk-${name}`,
    retryStrategy: reconnectDelay,
    maxRetriesPerRequest: role === 'commands' ? 3 : null,
    enableReadyCheck: true,
    // A primary demoted under us (a failover it did not see coming) answers writes with READONLY: reconnect,
    // which asks the Sentinels (or the cluster) where the primary is now, and send the command again.
    reconnectOnError: (error) => (/^READONLY/.test(error.message) ? 2 : false),
  };
  let redis: Redis;
  if (topology.kind === 'sentinel') {
    redis = new Redis({
      ...credentialsOf(url),
      ...options,
      sentinels: topology.sentinels.map(({ host, port }) => ({ host, port })),
      name: topology.master,
      role: 'master',
      // Sentinels all away: keep asking, as for the server itself.
      sentinelRetryStrategy: reconnectDelay,
    });
  } else if (topology.kind === 'cluster') {
    const { db: _db, ...credentials } = credentialsOf(url);
    const clusterOptions: ClusterOptions = {
      clusterRetryStrategy: reconnectDelay,
      enableReadyCheck: true,
      // A failover in the cluster: wait for it instead of failing the command at once.
      retryDelayOnFailover: 200,
      retryDelayOnClusterDown: 200,
      retryDelayOnTryAgain: 200,
      redisOptions: { ...credentials, ...options },
    };
    redis = new Cluster(topology.nodes.map(({ host, port }) => ({ host, port })), clusterOptions) as unknown as Redis;
  } else {
    redis = new Redis(url, options);
  }
  // ioredis reports every failed reconnect as an 'error' event; without a listener Node would crash the process.
  // The last one is kept to say why a command could not be sent.
  redis.on('error', (error: Error) => lastErrors.set(redis, error));
  return redis;
}

/** What REDIS_URL adds to a Sentinel or Cluster topology: user, password, database and TLS (its host is not used). */
function credentialsOf(url: string): Pick<RedisOptions, 'username' | 'password' | 'db' | 'tls'> {
  const parsed = new URL(url);
  const db = Number.parseInt(parsed.pathname.replace(/^\//, ''), 10);
  return {
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(Number.isFinite(db) && db > 0 ? { db } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

/** Where Redis is, for logs and messages: the URL without its password, or the Sentinels / cluster nodes. */
export function describeRedisTarget(target: RedisTarget | string): string {
  if (typeof target === 'string') return redactUrl(target);
  const { topology } = target;
  const list = (nodes: readonly HostPort[]) => nodes.map(({ host, port }) => `${host}:${port}`).join(',');
  if (topology.kind === 'sentinel') return `Sentinel primary "${topology.master}" via ${list(topology.sentinels)}`;
  if (topology.kind === 'cluster') return `Redis Cluster via ${list(topology.nodes)}`;
  return redactUrl(target.url);
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
export async function checkRedisServer(redis: Redis, target: RedisTarget | string): Promise<RedisServerInfo> {
  const where = describeRedisTarget(target);
  const topology = typeof target === 'string' ? 'single' : target.topology.kind;
  let info: string;
  try {
    info = await redis.info();
  } catch (error) {
    const why = lastErrors.get(redis)?.message ?? (error as Error).message;
    const fix = topology === 'sentinel' ? 'REDIS_SENTINELS and REDIS_SENTINEL_MASTER' : topology === 'cluster' ? 'REDIS_CLUSTER_NODES' : 'REDIS_URL';
    throw new RedisUnusableError(`cannot reach Redis at ${where} (${why}); start it or set ${fix}`);
  }
  const field = (name: string) => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
  const version = field('valkey_version') ?? field('redis_version') ?? '0.0.0';
  if (compareVersions(version, MINIMUM_REDIS_VERSION) < 0) {
    throw new RedisUnusableError(
      `Redis at ${where} is version ${version}; the job queue needs ${MINIMUM_REDIS_VERSION} or newer`,
    );
  }
  const maxmemoryPolicy = field('maxmemory_policy') ?? 'unknown';
  if (maxmemoryPolicy !== 'noeviction') {
    throw new RedisUnusableError(
      `Redis at ${where} has maxmemory-policy ${maxmemoryPolicy}, which may evict queued jobs and locks; ` +
        `set it to noeviction (redis-cli CONFIG SET maxmemory-policy noeviction, and in redis.conf)`,
    );
  }
  const aofEnabled = field('aof_enabled') === '1';
  const warnings: string[] = [];
  if (!aofEnabled) {
    warnings.push(
      `Redis at ${where} has append-only persistence off: queued jobs are lost if Redis restarts ` +
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
 *
 * Our scripts build their key names from ARGV[1] (the base, which carries the hash tag) and take no KEYS; the
 * base is also passed as the one declared key so that a Redis Cluster routes the script to the node that owns
 * the slot of every key it touches.
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
    const declared = keys.length > 0 ? keys : args.length > 0 ? [String(args[0])] : [];
    try {
      return (await redis.evalsha(this.sha, declared.length, ...declared, ...args)) as T;
    } catch (error) {
      if (!String((error as Error).message).includes('NOSCRIPT')) throw error;
      return (await redis.eval(this.source, declared.length, ...declared, ...args)) as T;
    }
  }
}
