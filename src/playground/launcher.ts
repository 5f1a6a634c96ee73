/**
 * Starts the whole playground on one machine:
 * - LocalDiscord (the Discord-compatible gateway + REST server) with the playground's guild, serving the page
 *   and its WebSocket on the same port (bridge.ts);
 * - the stack of `npm start` (src/app/stack.ts): Redis (a private redis-server with AOF + noeviction in a temp
 *   data dir of this run, unless REDIS_URL is set, in which case that server is used under a key prefix of this
 *   run only, removed again at stop), `latentwalk worker` on the bundled model (or --model) and `latentwalk bot`,
 *   unchanged, as supervised child processes; the bot is pointed at LocalDiscord with DISCORD_API_URL and a
 *   token made up for this run; the slash commands are registered in the playground's guild first.
 *
 * `stop()` stops the stack (bot and worker first, Redis last), then the server, and removes the run's data.
 * No process is left behind.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { startStack, type RunningStack } from '../app/stack.ts';
import { registerCommands } from '../cli/register-commands.ts';
import { loadJobsConfig } from '../jobs/index.ts';
import { keyPrefix } from '../jobs/keys.ts';
import { LocalDiscord } from '../local-discord/index.ts';
import type { LogFields, OpsLogger } from '../ops/log.ts';
import { PlaygroundBridge } from './bridge.ts';
import { PLAYGROUND_BOT, PLAYGROUND_GUILD_ID, playgroundGuild } from './seed.ts';
import { resolveModelDir } from '../engine/pack/bundled.ts';

export const DEFAULT_PLAYGROUND_PORT = 5199;

export interface PlaygroundOptions {
  /** Default 127.0.0.1: nothing outside this machine can reach it. */
  host?: string;
  /** Default 5199, or any free port when that one is taken; 0 for any free port. */
  port?: number;
  /** Model pack for the worker (default: the bundled one, or LATENTWALK_MODEL_DIR). */
  modelDir?: string;
  provider?: 'cpu' | 'webgpu' | 'cuda';
  /** Environment the stack starts from (default process.env); DISCORD_* in it are never passed on. */
  env?: NodeJS.ProcessEnv;
  /** Extra environment for the worker / the bot (tests: limits, intervals). */
  workerEnv?: Record<string, string>;
  botEnv?: Record<string, string>;
  /** Status and warning lines, as text; default: nothing. */
  log?: (line: string) => void;
  /** Every line the worker and the bot print, prefixed with their name (--verbose). */
  echo?: (line: string) => void;
  /** How long the worker may take to load its model (default 180 s). */
  workerReadyTimeoutMs?: number;
  /** Aborting it while starting stops what has started and rejects. */
  signal?: AbortSignal;
}

export interface Playground {
  /** The page: `http://HOST:PORT/` (127.0.0.1 when listening on every interface). */
  readonly url: string;
  readonly discord: LocalDiscord;
  readonly bridge: PlaygroundBridge;
  readonly stack: RunningStack;
  /** Resolves with the reason when the stack stops on its own (a part kept failing). */
  readonly failed: Promise<string>;
  /** A second stop request: the worker hands its running jobs back at once; a third kills everything. */
  hurry(): void;
  stop(): Promise<void>;
}

export async function startPlayground(options: PlaygroundOptions = {}): Promise<Playground> {
  const log = options.log ?? (() => undefined);
  const host = options.host ?? '127.0.0.1';
  const token = `playground.${randomBytes(24).toString('hex')}`;
  const bridge = new PlaygroundBridge({ guildId: PLAYGROUND_GUILD_ID, log });
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const step of cleanups.splice(0).reverse()) await step().catch((error: Error) => log(`playground: while stopping: ${error.message}`));
  };

  try {
    const discord = await startDiscord(options, host, token, bridge);
    bridge.attach(discord);
    cleanups.push(async () => {
      await bridge.close();
      await discord.close();
    });
    // The bot always talks to the server over loopback when the server listens on every interface.
    const localBase = /^(0\.0\.0\.0|::|\[::\])$/.test(host) ? `http://127.0.0.1:${discord.port}` : discord.baseUrl;

    // The stack's environment: the user's, without anything of a real Discord application, with a data
    // directory of this run (the server's messages live in memory, so old queued jobs would point nowhere).
    const env: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(options.env ?? process.env)) {
      if (!key.startsWith('DISCORD_') && key !== 'LATENTWALK_METRICS_PORT' && value !== undefined) env[key] = value;
    }
    const dataDir = await mkdtemp(join(tmpdir(), 'latentwalk-playground-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    env['LATENTWALK_DATA_DIR'] = dataDir;
    // Ctrl-C should not wait long for a render: its job goes back to the queue (which goes away anyway).
    env['LATENTWALK_SHUTDOWN_GRACE_MS'] ??= '1000';
    // No rate limit to respect here: a live preview with every progress edit (once a second).
    env['LATENTWALK_PREVIEW_INTERVAL_MS'] ??= '1000';
    if (options.modelDir) env['LATENTWALK_MODEL_DIR'] = resolveModelDir(options.modelDir);
    if (options.provider) env['LATENTWALK_PROVIDER'] = options.provider;
    const external = env['REDIS_URL']?.trim();
    if (external) {
      const prefix = `lwplay-${randomBytes(4).toString('hex')}`;
      env['LATENTWALK_REDIS_PREFIX'] = prefix;
      log(`playground: using REDIS_URL, keys under ${keyPrefix(prefix)}:`);
      cleanups.push(() => removeKeys(external, prefix));
    }

    // The commands, as `latentwalk register-commands --guild` would register them (the bot also registers them
    // itself as it starts, with LATENTWALK_REGISTER_COMMANDS): the message box knows them from the start.
    log('playground: registering the slash commands');
    await registerCommands({ token, apiUrl: `${localBase}/api`, applicationId: PLAYGROUND_BOT.id }, loadJobsConfig(env).limits, PLAYGROUND_GUILD_ID);

    if (options.signal?.aborted) throw new Error('stopped while starting');
    log('playground: starting Redis, the worker and the bot');
    let modelName: string | undefined;
    const stack = await startStack({
      env,
      redis: external ? external : 'private',
      worker: { args: ['--name', 'playground-worker'], env: { ...options.workerEnv } },
      bot: {
        env: {
          DISCORD_TOKEN: token,
          DISCORD_API_URL: `${localBase}/api`,
          DISCORD_APPLICATION_ID: PLAYGROUND_BOT.id,
          LATENTWALK_REGISTER_COMMANDS: PLAYGROUND_GUILD_ID,
          LATENTWALK_BOT_INSTANCE: 'playground',
          LATENTWALK_PROGRESS_INTERVAL_MS: '1000',
          ...options.botEnv,
        },
      },
      log: textLogger(log),
      output: (service, line) => {
        if (service === 'worker') modelName ??= workerModel(line);
        options.echo?.(`[${service}] ${line}`);
      },
      readyTimeoutMs: { worker: options.workerReadyTimeoutMs ?? 180_000, bot: 60_000 },
      ...(options.signal ? { signal: options.signal } : {}),
    });
    cleanups.push(() => stack.stop());
    bridge.setStatus({ worker: 'ready', ...(modelName ? { detail: `model ${modelName}` } : {}) });

    const failed = stack.done.then((exit) => {
      bridge.setStatus({ worker: 'stopped' });
      return exit.code !== 0 ? exit.reason : new Promise<string>(() => undefined);
    });
    let stopping: Promise<void> | undefined;
    return {
      url: `${localBase}/`,
      discord,
      bridge,
      stack,
      failed,
      hurry: () => stack.hurry(),
      stop: () => (stopping ??= cleanup()),
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/** The model a worker's log line says it loaded (its JSON `ready` line, or the plain-text one). */
function workerModel(line: string): string | undefined {
  try {
    const entry = JSON.parse(line) as { event?: unknown; model?: unknown };
    if (entry.event === 'ready' && typeof entry.model === 'string') return entry.model;
  } catch {
    // not JSON
  }
  return /model (.+?) loaded in/.exec(line)?.[1];
}

/** The stack's own log lines as plain text: warnings and errors (its info and debug lines are left out). */
function textLogger(log: (line: string) => void, fields: LogFields = {}): OpsLogger {
  const at = (level: string) => (message: string, extra?: LogFields) => {
    if (level === 'debug' || level === 'info') return;
    const context = { ...fields, ...extra };
    const detail = Object.entries(context)
      .filter(([, value]) => value !== undefined && value !== null)
      .map(([key, value]) => `${key}=${String(value)}`)
      .join(' ');
    log(`${level}: ${message}${detail ? ` (${detail})` : ''}`);
  };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (more) => textLogger(log, { ...fields, ...more }),
    level: 'info',
  };
}

async function startDiscord(options: PlaygroundOptions, host: string, token: string, bridge: PlaygroundBridge): Promise<LocalDiscord> {
  const start = (port: number) =>
    LocalDiscord.start({
      host,
      port,
      token,
      botUser: PLAYGROUND_BOT,
      guilds: [playgroundGuild()],
      // A long session: keep the request log short (the playground never reads it).
      requestLogLimit: 500,
      log: (level, message) => {
        if (level === 'warn') options.log?.(message);
      },
      onHttpRequest: (req, res) => bridge.handleHttp(req, res),
      onUpgrade: (req, socket, head) => bridge.handleUpgrade(req, socket, head),
    });
  const port = options.port ?? DEFAULT_PLAYGROUND_PORT;
  try {
    return await start(port);
  } catch (error) {
    // The default port being taken (another playground, say) is no reason to fail; a chosen one is.
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE' && options.port === undefined) return start(0);
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new Error(`port ${port} on ${host} is in use; pick another with --port (0: any free port)`);
    throw error;
  }
}

/** Removes this run's keys from a shared Redis. */
async function removeKeys(url: string, prefix: string): Promise<void> {
  const client = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
  client.on('error', () => undefined);
  try {
    await client.connect();
    let cursor = '0';
    do {
      // Every key starts with the hash tag; braces are plain characters in a SCAN pattern.
      const [next, keys] = await client.scan(cursor, 'MATCH', `${keyPrefix(prefix)}:*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await client.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
}
