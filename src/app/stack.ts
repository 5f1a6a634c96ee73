/**
 * The whole stack on one machine, as a function: `latentwalk start` (npm start) and the playground use it.
 *
 * 1. Validates every setting first (src/app/config.ts); a bad one throws StackConfigError before anything runs.
 * 2. Redis: REDIS_URL when set (checked to be reachable and fit for the queue), else a private redis-server from
 *    PATH on a free loopback port, with append-only persistence and noeviction in <LATENTWALK_DATA_DIR>/redis.
 * 3. Starts `latentwalk worker` and `latentwalk bot` as child processes and waits until each says it is ready
 *    (over an IPC channel; a child whose supervisor disappears shuts itself down). The bot registers the slash
 *    commands as it starts (LATENTWALK_REGISTER_COMMANDS).
 * 4. Supervises: a child that exits on its own is restarted with backoff (1 s, 2 s, 4 s ... 30 s); more than
 *    five restarts in five minutes stop the stack with an error. A private Redis that dies is restarted on the
 *    same port and files.
 * 5. `stop()` stops bot and worker (SIGTERM; the worker hands running jobs back to the queue), then Redis, and
 *    resolves when every process it started has exited. Each child runs in its own process group, so a signal
 *    to the group reaches anything the child started, and a Ctrl-C in the terminal reaches only this process,
 *    which then stops the others in order. If this process exits any other way, its children are killed.
 */
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { startLocalRedis, type StartedRedis } from '../jobs/local-redis.ts';
import { checkRedisServer, closeRedis, describeRedisTarget, openRedis, redactUrl, redisTarget } from '../jobs/redis.ts';
import { createLogger, type OpsLogger } from '../ops/log.ts';
import { validateStackConfig, type StackConfig } from './config.ts';
import { delay, ManagedChild, signalGroup, type ChildInfo } from './child.ts';


export type ServiceName = 'redis' | 'worker' | 'bot';

export interface StackOptions {
  /** The stack's environment (default process.env). `latentwalk start` merges a .env file under it first. */
  env?: NodeJS.ProcessEnv;
  /** 'private': a redis-server of our own; a URL: that Redis. Default: REDIS_URL when set, else private. */
  redis?: 'private' | string;
  /** Run a render worker (default true); `args` are extra `latentwalk worker` flags, `env` extra variables. */
  worker?: boolean | { args?: string[]; env?: Record<string, string> };
  /** Run the bot (default true); `env` overrides its variables (DISCORD_TOKEN, DISCORD_API_URL...). */
  bot?: boolean | { env?: Record<string, string> };
  /** Where relative settings (LATENTWALK_DATA_DIR, LATENTWALK_MODEL_DIR) start; default process.cwd(). */
  cwd?: string;
  /** The stack's own log lines (default: JSON on stdout, service "start"). */
  log?: OpsLogger;
  /** Every line a child writes (default: copied to stdout, secrets scrubbed). */
  output?: (service: 'worker' | 'bot', line: string) => void;
  /** Aborting it stops the stack. */
  signal?: AbortSignal;
  /** How long a child may take to become ready (default: worker 10 min, bot 2 min). */
  readyTimeoutMs?: { worker?: number; bot?: number };
  /** Restart limits (default 5 restarts per 5 minutes per child). */
  restarts?: { max: number; windowMs: number };
  /** How to say where the token goes in the missing-token message. */
  tokenWhere?: string;
}

/** The start was aborted (StackOptions.signal) before the stack was up; everything started was stopped. */
export class StackAbortedError extends Error {
  constructor() {
    super('stopped while starting');
    this.name = 'StackAbortedError';
  }
}

export type { ChildInfo } from './child.ts';

export interface StackExit {
  /** 0 after stop(), 1 when the stack stopped because a part of it kept failing. */
  code: number;
  reason: string;
}

export interface RunningStack {
  readonly config: StackConfig;
  readonly redisUrl: string;
  /** The private redis-server, when there is one. */
  readonly redis: { pid: number; port: number; dir: string } | undefined;
  readonly worker: ChildInfo | undefined;
  readonly bot: ChildInfo | undefined;
  /** Every process the stack runs right now. */
  pids(): number[];
  /** Stops everything it started; resolves when every process has exited. Idempotent. */
  stop(): Promise<void>;
  /** A second stop request: the worker hands running jobs back at once; a third kills everything. */
  hurry(): void;
  /** Resolves when the stack has stopped, by stop() or because a part kept failing. */
  readonly done: Promise<StackExit>;
}

/** Starts the stack; throws StackConfigError (bad settings) or Error (a part did not start), leaving nothing running. */
export async function startStack(options: StackOptions = {}): Promise<RunningStack> {
  const env = options.env ?? process.env;
  const withWorker = options.worker !== false;
  const withBot = options.bot !== false;
  const botEnv = typeof options.bot === 'object' ? (options.bot.env ?? {}) : {};
  const merged: NodeJS.ProcessEnv = { ...env, ...botEnv };
  if (options.redis && options.redis !== 'private') merged['REDIS_URL'] = options.redis;
  if (options.redis === 'private') delete merged['REDIS_URL'];
  const config = validateStackConfig(merged, {
    bot: withBot,
    worker: withWorker,
    ...(options.cwd ? { cwd: options.cwd } : {}),
    ...(options.tokenWhere ? { tokenWhere: options.tokenWhere } : {}),
  });
  const log = options.log ?? createLogger({ service: 'start', level: config.ops.logLevel, destination: 1, token: config.bot?.token });
  for (const warning of config.warnings) log.warn(warning);
  const stack = new Stack(config, options, log);
  try {
    await stack.boot(withWorker, withBot);
  } catch (error) {
    await stack.stop();
    throw error;
  }
  return stack;
}

class Stack implements RunningStack {
  redisUrl = '';
  private privateRedis: StartedRedis | undefined;
  private redisPort = 0;
  private workerChild: ManagedChild | undefined;
  private botChild: ManagedChild | undefined;
  private stopping: Promise<void> | undefined;
  private hurried = 0;
  private resolveDone!: (exit: StackExit) => void;
  readonly done: Promise<StackExit>;
  private exit: StackExit = { code: 0, reason: 'stopped' };
  private readonly killAll = () => {
    for (const pid of this.pids()) signalGroup(pid, 'SIGKILL');
  };

  constructor(
    readonly config: StackConfig,
    private readonly options: StackOptions,
    private readonly log: OpsLogger,
  ) {
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    process.on('exit', this.killAll);
    // While booting, an abort only ends the boot (which then stops what it started); afterwards it stops the stack.
    options.signal?.addEventListener('abort', () => (this.booted ? void this.stop() : this.abortBoot?.()), { once: true });
  }

  get redis() {
    const server = this.privateRedis;
    return server?.process.pid ? { pid: server.process.pid, port: this.redisPort, dir: this.redisDir } : undefined;
  }

  get worker() {
    return this.workerChild?.info;
  }

  get bot() {
    return this.botChild?.info;
  }

  private get redisDir(): string {
    return join(this.config.start.dataDir, 'redis');
  }

  pids(): number[] {
    const pids = [this.privateRedis?.process, this.workerChild?.process, this.botChild?.process]
      .filter((child): child is ChildProcess => !!child && child.exitCode === null && child.signalCode === null && child.pid !== undefined)
      .map((child) => child.pid!);
    return pids;
  }

  async boot(withWorker: boolean, withBot: boolean): Promise<void> {
    const { config } = this;
    const aborted = new Promise<never>((_, reject) => {
      this.abortBoot = () => reject(new StackAbortedError());
      if (this.options.signal?.aborted) this.abortBoot();
    });
    aborted.catch(() => undefined);
    const step = <T>(work: Promise<T>): Promise<T> => Promise.race([work, aborted]);
    // Whatever a step started is recorded before it resolves, so stop() after an abort finds it.
    await step(config.privateRedis ? this.startPrivateRedis() : this.checkExternalRedis());
    config.jobs.redisUrl = this.redisUrl;

    const ops = config.ops.metricsPort;
    const childEnv = (service: 'worker' | 'bot', extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
      const out: NodeJS.ProcessEnv = { ...config.env, REDIS_URL: this.redisUrl, ...extra };
      if (config.jobs.worker.modelDir) out['LATENTWALK_MODEL_DIR'] = config.jobs.worker.modelDir;
      if (ops !== undefined) out['LATENTWALK_METRICS_PORT'] = String(ops === 0 ? 0 : service === 'bot' || !withBot ? ops : ops + 1);
      // The worker never needs Discord's secrets.
      if (service === 'worker') for (const key of Object.keys(out)) if (key.startsWith('DISCORD_')) delete out[key];
      return out;
    };
    const restarts = this.options.restarts ?? { max: 5, windowMs: 5 * 60_000 };
    const starting: Promise<unknown>[] = [];
    if (withWorker) {
      const spec = typeof this.options.worker === 'object' ? this.options.worker : {};
      this.workerChild = new ManagedChild({
        service: 'worker',
        args: ['worker', ...(spec.args ?? [])],
        env: childEnv('worker', spec.env),
        cwd: this.options.cwd ?? process.cwd(),
        readyTimeoutMs: this.options.readyTimeoutMs?.worker ?? 600_000,
        stopGraceMs: config.jobs.worker.shutdownGraceMs + 30_000,
        restarts,
        log: this.log,
        token: config.bot?.token,
        output: this.options.output,
        onGiveUp: (reason) => this.fail(reason),
      });
      starting.push(this.workerChild.start());
    }
    if (withBot) {
      this.botChild = new ManagedChild({
        service: 'bot',
        args: ['bot'],
        env: childEnv('bot'),
        cwd: this.options.cwd ?? process.cwd(),
        readyTimeoutMs: this.options.readyTimeoutMs?.bot ?? 120_000,
        stopGraceMs: 20_000,
        restarts,
        log: this.log,
        token: config.bot?.token,
        output: this.options.output,
        onGiveUp: (reason) => this.fail(reason),
      });
      starting.push(this.botChild.start());
    }
    const results = await step(Promise.allSettled(starting));
    const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed) throw failed.reason;
    this.booted = true;
    this.log.info('stack ready', {
      event: 'ready',
      redis: config.privateRedis ? redactUrl(this.redisUrl) : describeRedisTarget(redisTarget(config.jobs)),
      privateRedis: config.privateRedis,
      dataDir: config.privateRedis ? this.redisDir : undefined,
      workerPid: this.worker?.pid,
      workerOps: this.worker?.opsUrl,
      botPid: this.bot?.pid,
      botOps: this.bot?.opsUrl,
    });
  }

  // ---- Redis --------------------------------------------------------------------------------------------------

  private redisBinary = 'redis-server';
  private booted = false;
  /** The private Redis being started (stop() waits for it, so an abort mid-start leaves no server). */
  private redisLaunch: Promise<void> | undefined;
  private abortBoot: (() => void) | undefined;

  private async startPrivateRedis(): Promise<void> {
    const binary = findOnPath('redis-server', this.config.env['PATH']);
    if (!binary) {
      throw new Error(
        'redis-server is not on PATH: install Redis 6.2 or newer (apt install redis-server, brew install redis) ' +
          'or set REDIS_URL to a Redis you run',
      );
    }
    this.redisBinary = binary;
    const dir = this.redisDir;
    mkdirSync(dir, { recursive: true });
    await this.takeOverDataDir(dir);
    this.redisPort = await freePort();
    this.redisLaunch = this.launchRedis();
    await this.redisLaunch;
    this.log.info(`private redis-server on ${this.redisUrl} (append-only files in ${dir})`, { redisPid: this.privateRedis?.process.pid });
  }

  private async launchRedis(): Promise<void> {
    let server: StartedRedis;
    try {
      server = await startLocalRedis({ port: this.redisPort, dir: this.redisDir, detached: true }, this.redisBinary);
    } catch (error) {
      throw new Error(`the private redis-server did not start: ${(error as Error).message}`);
    }
    this.privateRedis = server;
    this.redisUrl = server.url;
    const owner: OwnerRecord = {
      supervisorPid: process.pid,
      supervisorStart: startTime(process.pid),
      redisPid: server.process.pid,
      redisStart: server.process.pid === undefined ? undefined : startTime(server.process.pid),
      port: this.redisPort,
    };
    writeFileSync(join(this.redisDir, OWNER_FILE), JSON.stringify(owner));
    const restarts: number[] = [];
    void server.exited.then((code) => {
      if (this.stopping || this.privateRedis !== server) return;
      const now = Date.now();
      restarts.push(now);
      while (restarts.length && restarts[0]! < now - 5 * 60_000) restarts.shift();
      if (restarts.length > 5) {
        this.fail(`the private redis-server keeps exiting (code ${code}); see the files in ${this.redisDir}`);
        return;
      }
      this.log.error(`the private redis-server exited (code ${code}); restarting it on the same port and files`);
      setTimeout(() => {
        if (this.stopping) return;
        this.launchRedis().catch((error: Error) => this.fail(error.message));
      }, 1000).unref();
    });
  }

  /** A redis-server left running in our data directory by a `start` that was killed: stop it. Another live `start` there: refuse. */
  private async takeOverDataDir(dir: string): Promise<void> {
    const file = join(dir, OWNER_FILE);
    if (!existsSync(file)) return;
    let owner: Partial<OwnerRecord>;
    try {
      owner = JSON.parse(readFileSync(file, 'utf8')) as Partial<OwnerRecord>;
    } catch {
      return;
    }
    // The same process, not another one that got its pid since: same pid and same start time.
    const same = (pid: number | undefined, start: number | undefined): pid is number =>
      pid !== undefined && isAlive(pid) && (start === undefined || startTime(pid) === undefined || startTime(pid) === start);
    if (owner.supervisorPid !== process.pid && same(owner.supervisorPid, owner.supervisorStart)) {
      throw new Error(
        `another latentwalk start (pid ${owner.supervisorPid}) is using ${dir}; stop it first, or set LATENTWALK_DATA_DIR to another directory`,
      );
    }
    if (same(owner.redisPid, owner.redisStart) && commandLine(owner.redisPid).includes('redis-server')) {
      this.log.warn(`stopping a redis-server (pid ${owner.redisPid}) left running in ${dir} by an earlier start`);
      try {
        process.kill(owner.redisPid, 'SIGTERM');
      } catch {
        // gone meanwhile
      }
      const deadline = Date.now() + 10_000;
      while (isAlive(owner.redisPid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      if (isAlive(owner.redisPid)) throw new Error(`the redis-server (pid ${owner.redisPid}) left in ${dir} does not stop; kill it and start again`);
    }
    rmSync(file, { force: true });
  }

  private async checkExternalRedis(): Promise<void> {
    const url = this.config.jobs.redisUrl;
    const target = redisTarget(this.config.jobs);
    const redis = openRedis(target, 'commands', 'start-check');
    try {
      const info = await checkRedisServer(redis, target);
      for (const warning of info.warnings) this.log.warn(warning);
    } finally {
      await closeRedis(redis);
    }
    this.redisUrl = url;
  }

  // ---- stopping -----------------------------------------------------------------------------------------------

  private fail(reason: string): void {
    if (this.stopping) return;
    this.log.error(`stopping the stack: ${reason}`);
    this.exit = { code: 1, reason };
    void this.stop();
  }

  hurry(): void {
    this.hurried++;
    if (this.hurried === 1) {
      this.log.warn('asked again to stop: the worker hands its jobs back now');
      this.workerChild?.signal('SIGTERM');
      this.botChild?.signal('SIGTERM');
    } else {
      this.log.warn('asked a third time: killing everything');
      this.killAll();
    }
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await Promise.all([this.botChild?.stop(), this.workerChild?.stop()]);
      await this.redisLaunch?.catch(() => undefined);
      const redis = this.privateRedis;
      if (redis?.process.pid !== undefined && redis.process.exitCode === null && redis.process.signalCode === null) {
        signalGroup(redis.process.pid, 'SIGTERM');
        const exited = await Promise.race([redis.exited.then(() => true), delay(10_000).then(() => false)]);
        if (!exited) {
          signalGroup(redis.process.pid, 'SIGKILL');
          await redis.exited;
        }
        rmSync(join(this.redisDir, OWNER_FILE), { force: true });
      }
      process.off('exit', this.killAll);
      this.log.info('stack stopped', { code: this.exit.code });
      this.resolveDone(this.exit);
    })();
    return this.stopping;
  }
}

/** Who runs the private Redis of a data directory (so a later start can tell a leftover from a live stack). */
const OWNER_FILE = 'latentwalk-start.json';

interface OwnerRecord {
  supervisorPid: number;
  /** Process start times (clock ticks after boot, from /proc) tell a live owner from a reused pid. */
  supervisorStart: number | undefined;
  redisPid: number | undefined;
  redisStart: number | undefined;
  port: number;
}

function startTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const value = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    return Number.isFinite(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

// ---- small helpers ------------------------------------------------------------------------------------------------

/** A process that exists and has not exited (a zombie has). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    return !/^\d+ \(.*\) Z/s.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true; // no /proc: trust kill(0)
  }
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** The first executable `name` in a PATH list. */
function findOnPath(name: string, path: string | undefined): string | undefined {
  for (const dir of (path ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** A free TCP port on the loopback interface. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no free port'))));
    });
  });
}
