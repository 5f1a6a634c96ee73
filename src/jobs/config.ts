/**
 * Queue, worker and limit settings, read once from the environment and validated with zod.
 *
 * Every setting has a default that works on one machine with a local Redis; a bad value fails at start with
 * a message that names the variable (`LATENTWALK_MAX_FRAMES must be ...`), never later in the middle of a job.
 * Tests and the bench build a config with `jobsConfig({...overrides})` instead of touching `process.env`.
 */
import { z } from 'zod';

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
}

export interface JobsConfig {
  redisUrl: string;
  /** Prefix of every Redis key this project writes (BullMQ's and ours). */
  prefix: string;
  /** BullMQ queue name. */
  queueName: string;
  limits: JobLimits;
  caps: QueueCaps;
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
}

const MiB = 1024 * 1024;

export const DEFAULT_JOBS_CONFIG: JobsConfig = {
  redisUrl: 'redis://127.0.0.1:6379',
  prefix: 'latentwalk',
  queueName: 'render',
  limits: { maxFrames: 60, maxSteps: 50, maxSide: 1024, maxGridSize: 6, maxPromptChars: 500, maxArtifactBytes: 100 * MiB },
  caps: { perGuild: 25, perUser: 3, total: 500 },
  worker: {
    concurrency: 1,
    lockMs: 30_000,
    stalledIntervalMs: 30_000,
    maxStalled: 2,
    attempts: 3,
    retryDelayMs: 5_000,
    shutdownGraceMs: 30_000,
    modelDir: undefined,
    provider: undefined,
  },
  artifactTtlMs: 6 * 3600_000,
  artifactStoreBytes: 1024 * MiB,
  checkpointTtlMs: 24 * 3600_000,
  finishedTtlMs: 7 * 24 * 3600_000,
  resultsMaxLen: 100_000,
};

/** Environment variable → where it lands in the config, and how it is parsed. */
const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, {
      error: max === Number.MAX_SAFE_INTEGER ? `must be a whole number, at least ${min}` : `must be a whole number between ${min} and ${max}`,
    })
    .transform(Number)
    .pipe(z.number().int().min(min, { error: `must be at least ${min}` }).max(max, { error: `must be at most ${max}` }));

const ENV = {
  REDIS_URL: z
    .string()
    .trim()
    .regex(/^rediss?:\/\//, { error: 'must be a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379' }),
  LATENTWALK_REDIS_PREFIX: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9_-]{1,40}$/, { error: 'must be 1-40 letters, digits, _ or -' }),
  LATENTWALK_QUEUE_NAME: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9_-]{1,40}$/, { error: 'must be 1-40 letters, digits, _ or -' }),
  LATENTWALK_MAX_FRAMES: int(2, 1000),
  LATENTWALK_MAX_STEPS: int(1, 200),
  LATENTWALK_MAX_SIDE: int(16, 4096),
  LATENTWALK_MAX_GRID_SIZE: int(2, 16),
  LATENTWALK_MAX_PROMPT_CHARS: int(1, 10_000),
  LATENTWALK_MAX_ARTIFACT_BYTES: int(1024),
  LATENTWALK_MAX_QUEUED_PER_GUILD: int(1, 100_000),
  LATENTWALK_MAX_QUEUED_PER_USER: int(1, 100_000),
  LATENTWALK_MAX_QUEUED_TOTAL: int(1, 1_000_000),
  LATENTWALK_WORKER_CONCURRENCY: int(1, 64),
  LATENTWALK_LOCK_MS: int(1000),
  LATENTWALK_STALLED_INTERVAL_MS: int(500),
  LATENTWALK_MAX_STALLED: int(1, 100),
  LATENTWALK_JOB_ATTEMPTS: int(1, 100),
  LATENTWALK_RETRY_DELAY_MS: int(0),
  LATENTWALK_SHUTDOWN_GRACE_MS: int(0),
  LATENTWALK_MODEL_DIR: z.string().trim().min(1, { error: 'must not be empty' }),
  LATENTWALK_PROVIDER: z.enum(['cpu', 'webgpu', 'cuda'], { error: 'must be one of cpu, webgpu, cuda' }),
  LATENTWALK_ARTIFACT_TTL_S: int(10),
  LATENTWALK_ARTIFACT_STORE_BYTES: int(1024),
  LATENTWALK_CHECKPOINT_TTL_S: int(60),
  LATENTWALK_FINISHED_TTL_S: int(60),
  LATENTWALK_RESULTS_MAXLEN: int(100),
} as const;

export type JobsEnvKey = keyof typeof ENV;

export class ConfigError extends Error {
  readonly key: string;
  constructor(key: string, message: string) {
    super(message);
    this.name = 'ConfigError';
    this.key = key;
  }
}

function read<K extends JobsEnvKey>(env: NodeJS.ProcessEnv, key: K): z.output<(typeof ENV)[K]> | undefined {
  const raw = env[key];
  if (raw === undefined || raw.trim() === '') return undefined;
  const parsed = ENV[key].safeParse(raw);
  if (!parsed.success) {
    const why = parsed.error.issues[0]?.message ?? 'is invalid';
    throw new ConfigError(key, `${key} ${why} (got ${JSON.stringify(raw)})`);
  }
  return parsed.data as z.output<(typeof ENV)[K]>;
}

export interface JobsConfigOverrides {
  redisUrl?: string;
  prefix?: string;
  queueName?: string;
  limits?: Partial<JobLimits>;
  caps?: Partial<QueueCaps>;
  worker?: Partial<WorkerSettings>;
  artifactTtlMs?: number;
  artifactStoreBytes?: number;
  checkpointTtlMs?: number;
  finishedTtlMs?: number;
  resultsMaxLen?: number;
}

/** Defaults, then explicit overrides (tests, bench, CLI flags). Does not read the environment. */
export function jobsConfig(overrides: JobsConfigOverrides = {}, base: JobsConfig = DEFAULT_JOBS_CONFIG): JobsConfig {
  return {
    ...base,
    ...stripUndefined({
      redisUrl: overrides.redisUrl,
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
    worker: { ...base.worker, ...stripUndefined(overrides.worker ?? {}) },
  };
}

/** Reads `REDIS_URL` and `LATENTWALK_*`; throws ConfigError naming the first bad variable. */
export function loadJobsConfig(env: NodeJS.ProcessEnv = process.env, overrides: JobsConfigOverrides = {}): JobsConfig {
  const seconds = (key: JobsEnvKey & `${string}_S`) => {
    const value = read(env, key) as number | undefined;
    return value === undefined ? undefined : value * 1000;
  };
  const fromEnv: JobsConfigOverrides = {
    redisUrl: read(env, 'REDIS_URL'),
    prefix: read(env, 'LATENTWALK_REDIS_PREFIX'),
    queueName: read(env, 'LATENTWALK_QUEUE_NAME'),
    limits: {
      maxFrames: read(env, 'LATENTWALK_MAX_FRAMES'),
      maxSteps: read(env, 'LATENTWALK_MAX_STEPS'),
      maxSide: read(env, 'LATENTWALK_MAX_SIDE'),
      maxGridSize: read(env, 'LATENTWALK_MAX_GRID_SIZE'),
      maxPromptChars: read(env, 'LATENTWALK_MAX_PROMPT_CHARS'),
      maxArtifactBytes: read(env, 'LATENTWALK_MAX_ARTIFACT_BYTES'),
    },
    caps: {
      perGuild: read(env, 'LATENTWALK_MAX_QUEUED_PER_GUILD'),
      perUser: read(env, 'LATENTWALK_MAX_QUEUED_PER_USER'),
      total: read(env, 'LATENTWALK_MAX_QUEUED_TOTAL'),
    },
    worker: {
      concurrency: read(env, 'LATENTWALK_WORKER_CONCURRENCY'),
      lockMs: read(env, 'LATENTWALK_LOCK_MS'),
      stalledIntervalMs: read(env, 'LATENTWALK_STALLED_INTERVAL_MS'),
      maxStalled: read(env, 'LATENTWALK_MAX_STALLED'),
      attempts: read(env, 'LATENTWALK_JOB_ATTEMPTS'),
      retryDelayMs: read(env, 'LATENTWALK_RETRY_DELAY_MS'),
      shutdownGraceMs: read(env, 'LATENTWALK_SHUTDOWN_GRACE_MS'),
      modelDir: read(env, 'LATENTWALK_MODEL_DIR'),
      provider: read(env, 'LATENTWALK_PROVIDER'),
    },
    artifactTtlMs: seconds('LATENTWALK_ARTIFACT_TTL_S'),
    artifactStoreBytes: read(env, 'LATENTWALK_ARTIFACT_STORE_BYTES'),
    checkpointTtlMs: seconds('LATENTWALK_CHECKPOINT_TTL_S'),
    finishedTtlMs: seconds('LATENTWALK_FINISHED_TTL_S'),
    resultsMaxLen: read(env, 'LATENTWALK_RESULTS_MAXLEN'),
  };
  return jobsConfig(overrides, jobsConfig(fromEnv));
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
