/**
 * A private redis-server for one test file: free local port, temp dir, AOF with `appendfsync always` and
 * `maxmemory-policy noeviction`. Never the system Redis on 6379. Killed at process exit even if a test forgets.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { jobsConfig, type JobsConfig, type JobsConfigOverrides } from '../../src/jobs/config.ts';
import { startLocalRedis, type StartedRedis } from '../../src/jobs/local-redis.ts';

const running = new Set<StartedRedis>();
process.once('exit', () => {
  for (const server of running) server.process.kill('SIGKILL');
});

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export interface TestRedisOptions {
  maxmemoryPolicy?: string;
}

export class TestRedis {
  private current: StartedRedis | undefined;

  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly options: TestRedisOptions,
  ) {}

  static async start(options: TestRedisOptions = {}): Promise<TestRedis> {
    const dir = await mkdtemp(join(tmpdir(), 'latentwalk-redis-'));
    const server = new TestRedis(await freePort(), dir, options);
    await server.boot();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  private async boot(): Promise<void> {
    const started = await startLocalRedis({
      port: this.port,
      dir: this.dir,
      appendfsync: 'always',
      ...(this.options.maxmemoryPolicy ? { maxmemoryPolicy: this.options.maxmemoryPolicy } : {}),
    });
    running.add(started);
    this.current = started;
  }

  /** Kills the server (SIGKILL by default: nothing but the fsynced AOF survives) and starts it again on the same port. */
  async restart(options: { signal?: NodeJS.Signals; downMs?: number } = {}): Promise<void> {
    await this.kill(options.signal ?? 'SIGKILL');
    if (options.downMs) await new Promise((resolve) => setTimeout(resolve, options.downMs));
    await this.boot();
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const server = this.current;
    if (!server) return;
    this.current = undefined;
    server.process.kill(signal);
    await server.exited;
    running.delete(server);
  }

  /** A plain client for assertions; the caller quits it. */
  client(): Redis {
    const client = new Redis(this.url, { maxRetriesPerRequest: 3 });
    client.on('error', () => undefined);
    return client;
  }

  async stop(): Promise<void> {
    await this.kill('SIGKILL');
    await rm(this.dir, { recursive: true, force: true });
  }
}

let prefixCounter = 0;

/** A jobs config against this server with its own key prefix (tests sharing a server never see each other's keys). */
export function testJobsConfig(server: TestRedis, overrides: JobsConfigOverrides = {}): JobsConfig {
  return jobsConfig({
    redisUrl: server.url,
    prefix: `t${process.pid}-${++prefixCounter}`,
    ...overrides,
    worker: { retryDelayMs: 50, shutdownGraceMs: 2000, ...overrides.worker },
  });
}

/** Polls until `check` returns a truthy value; fails with `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 10_000, everyMs = 25): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** Environment for a worker / CLI subprocess that reproduces this config (`extra` wins). */
export function jobsEnv(config: JobsConfig, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const { limits, caps, worker } = config;
  const { redisTopology: topology } = config;
  const nodes = (list: { host: string; port: number }[]) => list.map(({ host, port }) => `${host}:${port}`).join(',');
  const env: Record<string, string | number | undefined> = {
    REDIS_URL: config.redisUrl,
    REDIS_SENTINELS: topology.kind === 'sentinel' ? nodes(topology.sentinels) : undefined,
    REDIS_SENTINEL_MASTER: topology.kind === 'sentinel' ? topology.master : undefined,
    REDIS_CLUSTER_NODES: topology.kind === 'cluster' ? nodes(topology.nodes) : undefined,
    LATENTWALK_REPLICA_WAIT_MS: config.replicaWaitMs,
    LATENTWALK_REDIS_PREFIX: config.prefix,
    LATENTWALK_QUEUE_NAME: config.queueName,
    LATENTWALK_MAX_FRAMES: limits.maxFrames,
    LATENTWALK_MAX_STEPS: limits.maxSteps,
    LATENTWALK_MAX_SIDE: limits.maxSide,
    LATENTWALK_MAX_GRID_SIZE: limits.maxGridSize,
    LATENTWALK_MAX_PROMPT_CHARS: limits.maxPromptChars,
    LATENTWALK_MAX_ARTIFACT_BYTES: limits.maxArtifactBytes,
    LATENTWALK_MAX_QUEUED_PER_GUILD: caps.perGuild,
    LATENTWALK_MAX_QUEUED_PER_USER: caps.perUser,
    LATENTWALK_MAX_QUEUED_TOTAL: caps.total,
    // Whole seconds in the environment; a sub-second half-life stays in-process only.
    LATENTWALK_QUEUE_USAGE_HALF_LIFE_S: config.fairness.usageHalfLifeMs % 1000 === 0 ? config.fairness.usageHalfLifeMs / 1000 : undefined,
    LATENTWALK_QUEUE_USAGE_ALLOWANCE: config.fairness.usageAllowance,
    LATENTWALK_QUEUE_USAGE_ROUNDS: config.fairness.maxUsageRounds,
    LATENTWALK_WORKER_CONCURRENCY: worker.concurrency,
    LATENTWALK_LOCK_MS: worker.lockMs,
    LATENTWALK_STALLED_INTERVAL_MS: worker.stalledIntervalMs,
    LATENTWALK_MAX_STALLED: worker.maxStalled,
    LATENTWALK_JOB_ATTEMPTS: worker.attempts,
    LATENTWALK_RETRY_DELAY_MS: worker.retryDelayMs,
    LATENTWALK_SHUTDOWN_GRACE_MS: worker.shutdownGraceMs,
    LATENTWALK_MODEL_DIR: worker.modelDir,
    LATENTWALK_PROVIDER: worker.provider,
    LATENTWALK_ARTIFACT_STORE_BYTES: config.artifactStoreBytes,
    LATENTWALK_RESULTS_MAXLEN: config.resultsMaxLen,
    LATENTWALK_PREVIEW_INTERVAL_MS: config.preview.intervalMs,
    LATENTWALK_PREVIEW_MAX_BYTES: config.preview.maxBytes,
    // These are whole seconds in the environment; sub-second test values stay in-process only.
    LATENTWALK_ARTIFACT_TTL_S: wholeSeconds(config.artifactTtlMs),
    LATENTWALK_CHECKPOINT_TTL_S: wholeSeconds(config.checkpointTtlMs),
    LATENTWALK_FINISHED_TTL_S: wholeSeconds(config.finishedTtlMs),
  };
  const defined = Object.entries(env).filter((entry): entry is [string, string | number] => entry[1] !== undefined);
  return { ...process.env, ...Object.fromEntries(defined.map(([key, value]) => [key, String(value)])), ...extra };
}

function wholeSeconds(ms: number): number | undefined {
  return ms % 1000 === 0 && ms >= 60_000 ? ms / 1000 : undefined;
}

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** A `latentwalk` subprocess (worker or jobs command) with its output collected. */
export class CliProcess {
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;

  constructor(readonly child: ChildProcess) {
    children.add(child);
    child.stdout?.on('data', (chunk: Buffer) => (this.stdout += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.exited = new Promise((resolve) =>
      child.once('close', (code, signal) => {
        children.delete(child);
        resolve(code ?? (signal ? null : code));
      }),
    );
  }

  /** Resolves when stdout has matched `pattern`; rejects if the process exits first. */
  async waitForOutput(pattern: RegExp, timeoutMs = 20_000): Promise<void> {
    let exited = false;
    void this.exited.then(() => (exited = true));
    await waitFor(`output ${pattern}`, () => {
      if (pattern.test(this.stdout)) return true;
      if (exited) throw new Error(`process exited before printing ${pattern}:\n${this.stdout}\n${this.stderr}`);
      return false;
    }, timeoutMs);
  }
}

/** Starts `latentwalk <args>` (through bin/latentwalk.js) against this config. */
export function spawnLatentwalk(config: JobsConfig, args: string[], env: Record<string, string> = {}): CliProcess {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/latentwalk.js'), ...args], {
    cwd: REPO_ROOT,
    env: jobsEnv(config, env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new CliProcess(child);
}

/** Runs `latentwalk <args>` to completion. */
export async function runLatentwalk(
  config: JobsConfig,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cli = spawnLatentwalk(config, args, env);
  const code = await cli.exited;
  return { code, stdout: cli.stdout, stderr: cli.stderr };
}
