/**
 * Queue, worker and limit settings, read once from the environment and validated with zod.
 *
 * Every setting has a default in `config/defaults.json` (the one file with defaults, shared by every process)
 * that works on one machine with a local Redis; a bad value fails at start with a message that names the
 * variable and what it accepts (`LATENTWALK_MAX_FRAMES must be ...`), never later in the middle of a job.
 * Tests and the bench build a config with `jobsConfig({...overrides})` instead of touching `process.env`.
 *
 * The variables are declared with the settings machinery (src/settings/): each once, with its parser, its
 * allowed values, who reads it and what it means; the README's configuration table is generated from them.
 */
import { z } from 'zod';
import { ConfigError, intSetting, setting, settingDefault, settingOrDefault, type SettingUser, type SettingValue } from '../settings/index.ts';

// The job layer's public API has always carried the settings error; it is the settings module's.
export { ConfigError } from '../settings/index.ts';

export interface JobLimits {
  /** Frames of a morph / walk / loop. */
  maxFrames: number;
  /** Denoising steps. */
  maxSteps: number;
  /** Width and height, each, in pixels. */
  maxSide: number;
  /** Cells per side of a grid (gridSize x gridSize images). */
  maxGridSize: number;
  /** Characters per prompt (CLIP reads about 77 tokens anyway; this keeps job payloads small). */
  maxPromptChars: number;
  /** Largest artifact byte budget a job may ask for. */
  maxArtifactBytes: number;
}

export interface QueueCaps {
  /** Jobs a guild may have waiting or rendering at once. */
  perGuild: number;
  /** Jobs one requester may have waiting or rendering at once. */
  perUser: number;
  /** Jobs across all guilds; protects Redis and keeps wait times finite. */
  total: number;
}

/**
 * Who goes first among servers with nothing waiting: a server that submitted a lot lately queues a few rounds
 * later (see GuildQueue), so quiet servers are not held up by a busy one's steady stream.
 */
export interface QueueFairness {
  /** Half-life of a server's recent-use count (decayed count of its submits), in ms; 0 turns it off. */
  usageHalfLifeMs: number;
  /** Submits per round of push: a server whose decayed count is n queues floor(n / allowance) rounds later. */
  usageAllowance: number;
  /** Most rounds a server's recent use can push its next job back. */
  maxUsageRounds: number;
}

export interface WorkerSettings {
  /** Jobs rendered at once by one worker process (one per GPU is the sane default). */
  concurrency: number;
  /** BullMQ lock lifetime; renewed every half of it while a render runs. */
  lockMs: number;
  /** How often a worker looks for jobs whose worker died (lock expired). */
  stalledIntervalMs: number;
  /** Times a job may be orphaned by a dying worker before it is failed. */
  maxStalled: number;
  /** Render attempts per job (first try included) before it ends failed. */
  attempts: number;
  /** First retry delay; doubles on each further retry. */
  retryDelayMs: number;
  /** On SIGTERM: how long a running job may keep rendering before it is handed back to the queue. */
  shutdownGraceMs: number;
  /** Model pack directory; unset means the engine's bundled pack. */
  modelDir: string | undefined;
  provider: 'cpu' | 'webgpu' | 'cuda' | undefined;
  /** onnxruntime intra-op threads per session; unset: onnxruntime's default (one per core). */
  threads: number | undefined;
}

/** A Redis server's address. */
export interface HostPort {
  host: string;
  port: number;
}

/**
 * How Redis is deployed: one server at REDIS_URL, a primary watched by Sentinels (every process follows a
 * failover by itself), or a Redis Cluster. With Sentinels or a cluster REDIS_URL still gives the user name,
 * password, database and TLS (rediss://).
 */
export type RedisTopology =
  | { kind: 'single' }
  | { kind: 'sentinel'; sentinels: HostPort[]; master: string }
  | { kind: 'cluster'; nodes: HostPort[] };

/** Live previews: a small still of a render's newest frame in its progress message (worker and bot read them). */
export interface PreviewSettings {
  /** Least time between two previews of one job (they ride on progress edits, so never more often than those). */
  intervalMs: number;
  /** A still larger than this is not shown (a render whose stills come out bigger has no previews); 0: off. */
  maxBytes: number;
}

export interface JobsConfig {
  redisUrl: string;
  redisTopology: RedisTopology;
  /** With Sentinels: how long a submit waits for a replica to confirm it before it is acknowledged (0: no wait). */
  replicaWaitMs: number;
  /** Prefix of every Redis key this project writes (BullMQ's and ours). */
  prefix: string;
  /** BullMQ queue name. */
  queueName: string;
  limits: JobLimits;
  caps: QueueCaps;
  fairness: QueueFairness;
  worker: WorkerSettings;
  /** Artifact bytes live this long in Redis; the bot fetches (and deletes) them well before. */
  artifactTtlMs: number;
  /** Ceiling on artifact bytes held in Redis at once; a store beyond it is retried later. */
  artifactStoreBytes: number;
  /** Frame checkpoints of unfinished jobs expire after this long. */
  checkpointTtlMs: number;
  /** Finished jobs' bookkeeping (state, outcome) is kept this long for `jobs list` and position queries. */
  finishedTtlMs: number;
  /** Approximate length the result stream is trimmed to; must exceed what a consumer can fall behind by. */
  resultsMaxLen: number;
  preview: PreviewSettings;
}

// ---- the job layer's settings --------------------------------------------------------------------------------

const NAME = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9_-]{1,40}$/, { error: 'must be 1-40 letters, digits, _ or -' });
const ALL: readonly SettingUser[] = ['start', 'bot', 'worker', 'cli'];

/** `host:port,host:port,...` (at least one; IPv6 hosts in brackets). */
const HOST_PORTS = z
  .string()
  .trim()
  .transform((text, ctx) => {
    const nodes: HostPort[] = [];
    for (const item of text.split(/[\s,]+/).filter(Boolean)) {
      const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(item);
      const port = Number(match?.[2]);
      if (!match || port < 1 || port > 65_535) {
        ctx.issues.push({ code: 'custom', input: text, message: `must be a comma-separated list of host:port (${JSON.stringify(item)} is not one)` });
        return z.NEVER;
      }
      nodes.push({ host: match[1]!.replace(/^\[|\]$/g, ''), port });
    }
    return nodes;
  });
const SUBMIT: readonly SettingUser[] = ['start', 'bot', 'cli'];
const WORKER: readonly SettingUser[] = ['start', 'worker'];
const PREVIEW: readonly SettingUser[] = ['start', 'bot', 'worker'];

/** Environment variable → parser, allowed values, readers and meaning. Defaults: config/defaults.json. */
export const JOBS_SETTINGS = {
  REDIS_URL: setting(
    z.string().trim().regex(/^rediss?:\/\//, { error: 'must be a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379' }),
    'redis:// or rediss:// URL',
    ALL,
    'The Redis every process shares (queue, boards, results). `start` runs a private redis-server in LATENTWALK_DATA_DIR/redis when it is unset.',
  ),
  REDIS_SENTINELS: setting(
    HOST_PORTS,
    'host:port,host:port,...',
    ALL,
    'Redis Sentinels to ask where the primary is (with REDIS_SENTINEL_MASTER); every process then follows a failover by itself. REDIS_URL still gives the password, database and TLS.',
  ),
  REDIS_SENTINEL_MASTER: setting(
    z.string().trim().regex(/^[A-Za-z0-9._-]{1,100}$/, { error: 'must be the primary\'s name in the Sentinels\' `sentinel monitor <name> ...` line' }),
    'the monitored primary\'s name',
    ALL,
    'Name of the primary the Sentinels watch (their `sentinel monitor <name>` line); required with REDIS_SENTINELS.',
  ),
  REDIS_CLUSTER_NODES: setting(
    HOST_PORTS,
    'host:port,host:port,...',
    ALL,
    'Some nodes of a Redis Cluster (the rest are discovered). REDIS_URL still gives the password and TLS. Not with REDIS_SENTINELS.',
  ),
  LATENTWALK_REPLICA_WAIT_MS: intSetting(
    0,
    10_000,
    SUBMIT,
    'With REDIS_SENTINELS: how long a submit waits for a replica to confirm the job (WAIT 1) before the requester is told it is queued, so a failover cannot lose it; 0: no wait. No replica in time: queued anyway, and the wait is skipped for 30 s.',
  ),
  LATENTWALK_REDIS_PREFIX: setting(NAME, '1-40 of A-Z a-z 0-9 _ -', ALL, 'Prefix of every Redis key this project writes (BullMQ\'s and ours), used as a hash tag: keys start with `{prefix}`.'),
  LATENTWALK_QUEUE_NAME: setting(NAME, '1-40 of A-Z a-z 0-9 _ -', ALL, 'BullMQ queue name.'),
  LATENTWALK_MAX_FRAMES: intSetting(2, 1000, SUBMIT, 'Most frames of a morph, walk or loop.'),
  LATENTWALK_MAX_STEPS: intSetting(1, 200, SUBMIT, 'Most denoising steps.'),
  LATENTWALK_MAX_SIDE: intSetting(16, 4096, SUBMIT, 'Largest width and height, each, in pixels.'),
  LATENTWALK_MAX_GRID_SIZE: intSetting(2, 16, SUBMIT, 'Most cells per side of a /grid.'),
  LATENTWALK_MAX_PROMPT_CHARS: intSetting(1, 10_000, SUBMIT, 'Most characters per prompt.'),
  LATENTWALK_MAX_ARTIFACT_BYTES: intSetting(1024, undefined, SUBMIT, 'Largest byte budget a job may ask for.'),
  LATENTWALK_MAX_QUEUED_PER_GUILD: intSetting(1, 100_000, SUBMIT, 'Jobs one server may have waiting or rendering at once.'),
  LATENTWALK_MAX_QUEUED_PER_USER: intSetting(1, 100_000, SUBMIT, 'Jobs one member may have waiting or rendering at once.'),
  LATENTWALK_MAX_QUEUED_TOTAL: intSetting(1, 1_000_000, SUBMIT, 'Jobs waiting or rendering across all servers.'),
  LATENTWALK_QUEUE_USAGE_HALF_LIFE_S: intSetting(
    0,
    86_400,
    SUBMIT,
    'Half-life of a server\'s recent use (its decayed count of submits, n): its next job queues min(floor(n / LATENTWALK_QUEUE_USAGE_ALLOWANCE), LATENTWALK_QUEUE_USAGE_ROUNDS) rounds later, so quiet servers go before a busy one; 0: off.',
  ),
  LATENTWALK_QUEUE_USAGE_ALLOWANCE: intSetting(1, 1000, SUBMIT, 'Recent submits a server makes per round it is pushed back (see LATENTWALK_QUEUE_USAGE_HALF_LIFE_S).'),
  LATENTWALK_QUEUE_USAGE_ROUNDS: intSetting(0, 1000, SUBMIT, 'Most rounds a server\'s recent use can push its next job back (0: off).'),
  LATENTWALK_WORKER_CONCURRENCY: intSetting(1, 64, WORKER, 'Jobs one worker process renders at once (one per GPU).'),
  LATENTWALK_LOCK_MS: intSetting(1000, undefined, WORKER, 'Job lock lifetime; renewed every half of it while a render runs.'),
  LATENTWALK_STALLED_INTERVAL_MS: intSetting(500, undefined, WORKER, 'How often a worker looks for jobs whose worker died.'),
  LATENTWALK_MAX_STALLED: intSetting(1, 100, WORKER, 'Times a job may be orphaned by a dying worker before it fails.'),
  LATENTWALK_JOB_ATTEMPTS: intSetting(1, 100, SUBMIT, 'Render attempts per job (first try included); stored on the job at submit.'),
  LATENTWALK_RETRY_DELAY_MS: intSetting(0, undefined, SUBMIT, 'First retry delay; doubles on each further retry; stored on the job at submit.'),
  LATENTWALK_SHUTDOWN_GRACE_MS: intSetting(0, undefined, WORKER, 'On SIGTERM: how long running jobs may finish before they go back to the queue.'),
  LATENTWALK_MODEL_DIR: setting(
    z.string().trim().min(1, { error: 'must not be empty' }),
    'a bundled name or a pack directory',
    WORKER,
    'The model the worker loads: a bundled model\'s name (shapes, emoji) or an SD3 ONNX model pack directory; unset: the bundled default.',
  ),
  LATENTWALK_PROVIDER: setting(
    z.enum(['cpu', 'webgpu', 'cuda'], { error: 'must be one of cpu, webgpu, cuda' }),
    'cpu, webgpu, cuda',
    WORKER,
    'onnxruntime execution provider; unset: cuda where it starts, else cpu (webgpu only when named).',
  ),
  LATENTWALK_THREADS: intSetting(1, 256, WORKER, 'onnxruntime threads per model session; unset: one per core. On a busy host fewer can be faster.'),
  LATENTWALK_ARTIFACT_TTL_S: intSetting(10, undefined, WORKER, 'How long finished GIFs/PNGs stay in Redis for the bot to fetch.'),
  LATENTWALK_ARTIFACT_STORE_BYTES: intSetting(1024, undefined, WORKER, 'Ceiling on artifact bytes held in Redis at once.'),
  LATENTWALK_CHECKPOINT_TTL_S: intSetting(60, undefined, WORKER, 'Frame checkpoints of unfinished jobs expire after this long.'),
  LATENTWALK_FINISHED_TTL_S: intSetting(60, undefined, ALL, 'How long finished jobs stay listed (`jobs show`, positions).'),
  LATENTWALK_RESULTS_MAXLEN: intSetting(100, undefined, ALL, 'Approximate length the result stream is trimmed to.'),
  LATENTWALK_PREVIEW_INTERVAL_MS: intSetting(
    0,
    3_600_000,
    PREVIEW,
    'Least time between two live previews of a render (a small still of its newest frame in the progress message). They ride on progress edits, so never more often than those.',
  ),
  LATENTWALK_PREVIEW_MAX_BYTES: intSetting(0, 8 * 1024 * 1024, PREVIEW, 'Largest live preview still, in bytes: a render whose stills come out bigger shows none. 0 turns previews off everywhere.'),
} as const;

export type JobsEnvKey = keyof typeof JOBS_SETTINGS;

/** Every setting at its default (config/defaults.json). */
export const DEFAULT_JOBS_CONFIG: JobsConfig = configFrom((key) => settingDefault(JOBS_SETTINGS, key));

/** Builds the config from one source of values (the environment over the defaults, or the defaults alone). */
function configFrom(value: <K extends JobsEnvKey>(key: K) => SettingValue<typeof JOBS_SETTINGS, K> | undefined): JobsConfig {
  const need = <K extends JobsEnvKey>(key: K): NonNullable<SettingValue<typeof JOBS_SETTINGS, K>> => {
    const v = value(key);
    if (v === undefined || v === null) throw new Error(`config/defaults.json: ${key} needs a default`);
    return v as NonNullable<SettingValue<typeof JOBS_SETTINGS, K>>;
  };
  return {
    redisUrl: need('REDIS_URL'),
    redisTopology: topologyFrom(value('REDIS_SENTINELS'), value('REDIS_SENTINEL_MASTER'), value('REDIS_CLUSTER_NODES')),
    replicaWaitMs: need('LATENTWALK_REPLICA_WAIT_MS'),
    prefix: need('LATENTWALK_REDIS_PREFIX'),
    queueName: need('LATENTWALK_QUEUE_NAME'),
    limits: {
      maxFrames: need('LATENTWALK_MAX_FRAMES'),
      maxSteps: need('LATENTWALK_MAX_STEPS'),
      maxSide: need('LATENTWALK_MAX_SIDE'),
      maxGridSize: need('LATENTWALK_MAX_GRID_SIZE'),
      maxPromptChars: need('LATENTWALK_MAX_PROMPT_CHARS'),
      maxArtifactBytes: need('LATENTWALK_MAX_ARTIFACT_BYTES'),
    },
    caps: {
      perGuild: need('LATENTWALK_MAX_QUEUED_PER_GUILD'),
      perUser: need('LATENTWALK_MAX_QUEUED_PER_USER'),
      total: need('LATENTWALK_MAX_QUEUED_TOTAL'),
    },
    fairness: {
      usageHalfLifeMs: need('LATENTWALK_QUEUE_USAGE_HALF_LIFE_S') * 1000,
      usageAllowance: need('LATENTWALK_QUEUE_USAGE_ALLOWANCE'),
      maxUsageRounds: need('LATENTWALK_QUEUE_USAGE_ROUNDS'),
    },
    worker: {
      concurrency: need('LATENTWALK_WORKER_CONCURRENCY'),
      lockMs: need('LATENTWALK_LOCK_MS'),
      stalledIntervalMs: need('LATENTWALK_STALLED_INTERVAL_MS'),
      maxStalled: need('LATENTWALK_MAX_STALLED'),
      attempts: need('LATENTWALK_JOB_ATTEMPTS'),
      retryDelayMs: need('LATENTWALK_RETRY_DELAY_MS'),
      shutdownGraceMs: need('LATENTWALK_SHUTDOWN_GRACE_MS'),
      modelDir: value('LATENTWALK_MODEL_DIR'),
      provider: value('LATENTWALK_PROVIDER'),
      threads: value('LATENTWALK_THREADS') ?? undefined,
    },
    artifactTtlMs: need('LATENTWALK_ARTIFACT_TTL_S') * 1000,
    artifactStoreBytes: need('LATENTWALK_ARTIFACT_STORE_BYTES'),
    checkpointTtlMs: need('LATENTWALK_CHECKPOINT_TTL_S') * 1000,
    finishedTtlMs: need('LATENTWALK_FINISHED_TTL_S') * 1000,
    resultsMaxLen: need('LATENTWALK_RESULTS_MAXLEN'),
    preview: {
      intervalMs: need('LATENTWALK_PREVIEW_INTERVAL_MS'),
      maxBytes: need('LATENTWALK_PREVIEW_MAX_BYTES'),
    },
  };
}

/** One of the three deployments; the combinations that make no sense name the variable to fix. */
function topologyFrom(sentinels: HostPort[] | undefined, master: string | undefined, clusterNodes: HostPort[] | undefined): RedisTopology {
  if (sentinels && clusterNodes) {
    throw new ConfigError('REDIS_CLUSTER_NODES', 'REDIS_CLUSTER_NODES and REDIS_SENTINELS cannot both be set (a Redis Cluster fails over by itself; set one)');
  }
  if (sentinels) {
    if (!master) throw new ConfigError('REDIS_SENTINEL_MASTER', 'REDIS_SENTINEL_MASTER must be set with REDIS_SENTINELS: the name in the Sentinels\' `sentinel monitor <name> ...` line');
    return { kind: 'sentinel', sentinels, master };
  }
  if (master) throw new ConfigError('REDIS_SENTINELS', 'REDIS_SENTINELS must be set with REDIS_SENTINEL_MASTER: the Sentinels\' host:port list');
  if (clusterNodes) return { kind: 'cluster', nodes: clusterNodes };
  return { kind: 'single' };
}

export interface JobsConfigOverrides {
  redisUrl?: string;
  redisTopology?: RedisTopology;
  replicaWaitMs?: number;
  prefix?: string;
  queueName?: string;
  limits?: Partial<JobLimits>;
  caps?: Partial<QueueCaps>;
  fairness?: Partial<QueueFairness>;
  worker?: Partial<WorkerSettings>;
  artifactTtlMs?: number;
  artifactStoreBytes?: number;
  checkpointTtlMs?: number;
  finishedTtlMs?: number;
  resultsMaxLen?: number;
  preview?: Partial<PreviewSettings>;
}

/** Defaults, then explicit overrides (tests, bench, CLI flags). Does not read the environment. */
export function jobsConfig(overrides: JobsConfigOverrides = {}, base: JobsConfig = DEFAULT_JOBS_CONFIG): JobsConfig {
  return {
    ...base,
    ...stripUndefined({
      redisUrl: overrides.redisUrl,
      redisTopology: overrides.redisTopology,
      replicaWaitMs: overrides.replicaWaitMs,
      prefix: overrides.prefix,
      queueName: overrides.queueName,
      artifactTtlMs: overrides.artifactTtlMs,
      artifactStoreBytes: overrides.artifactStoreBytes,
      checkpointTtlMs: overrides.checkpointTtlMs,
      finishedTtlMs: overrides.finishedTtlMs,
      resultsMaxLen: overrides.resultsMaxLen,
    }),
    limits: { ...base.limits, ...stripUndefined(overrides.limits ?? {}) },
    caps: { ...base.caps, ...stripUndefined(overrides.caps ?? {}) },
    fairness: { ...base.fairness, ...stripUndefined(overrides.fairness ?? {}) },
    worker: { ...base.worker, ...stripUndefined(overrides.worker ?? {}) },
    preview: { ...base.preview, ...stripUndefined(overrides.preview ?? {}) },
  };
}

/** Reads `REDIS_URL` and `LATENTWALK_*` over config/defaults.json; throws ConfigError naming the first bad variable. */
export function loadJobsConfig(env: NodeJS.ProcessEnv = process.env, overrides: JobsConfigOverrides = {}): JobsConfig {
  return jobsConfig(overrides, configFrom((key) => settingOrDefault(JOBS_SETTINGS, env, key)));
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
