/**
 * A sharded world for the bot (test/bot-sharding.test.ts and `npm run bench:scale`): LocalDiscord with 8 guilds,
 * 2 per shard (it recommends 4 shards and refuses an unsharded session), a private redis-server, a real worker on
 * the tiny pack, the slash commands registered; and the user's side: a /loop from every guild, its first response
 * timed, its result awaited.
 */
import assert from 'node:assert/strict';
import { BotApp } from '../../src/bot/BotApp.ts';
import { loadBotConfig } from '../../src/bot/config.ts';
import { createLogger, silentLogger, type LogFields, type Logger } from '../../src/bot/log.ts';
import { registerCommands } from '../../src/cli/register-commands.ts';
import type { JobsConfig } from '../../src/jobs/index.ts';
import { LocalDiscord, type InteractionHandle } from '../../src/local-discord/index.ts';
import { TINY_PACK } from './packs.ts';
import { spawnLatentwalk, testJobsConfig, TestRedis, waitFor, type CliProcess } from './redis.ts';
import { scaleGuilds, type ScaleGuild } from './shards.ts';

export const SHARD_TOKEN = 'latentwalk-shards-bot-token.0123456789abcdef';
export const SHARDS = 4;
const verbose = process.env['LATENTWALK_E2E_LOG'] === '1';

export class ShardWorld {
  private constructor(
    readonly redis: TestRedis,
    readonly discord: LocalDiscord,
    readonly jobs: JobsConfig,
    readonly worker: CliProcess,
    readonly guilds: ScaleGuild[],
  ) {}

  static async start(): Promise<ShardWorld> {
    const { seeds, guilds } = scaleGuilds(8, SHARDS, 1, 2);
    const redis = await TestRedis.start();
    const discord = await LocalDiscord.start({
      token: SHARD_TOKEN,
      guilds: seeds,
      guildsPerShard: 2,
      maxGuildsPerSession: 2,
      maxConcurrency: 16,
      log: (level, message) => {
        if (verbose || level === 'warn') process.stderr.write(`[local-discord] ${message}\n`);
      },
    });
    const jobs = testJobsConfig(redis, { caps: { perGuild: 50, perUser: 20 }, worker: { modelDir: TINY_PACK }, preview: { maxBytes: 0 } });
    await registerCommands({ token: SHARD_TOKEN, apiUrl: discord.restUrl, applicationId: undefined }, jobs.limits);
    const worker = spawnLatentwalk(jobs, ['worker', '--model', TINY_PACK, '--name', 'shards-worker'], { LATENTWALK_LOCK_MS: '5000', LATENTWALK_STALLED_INTERVAL_MS: '1000' });
    await worker.waitForOutput(/ready:/, 180_000);
    return new ShardWorld(redis, discord, jobs, worker, guilds);
  }

  /** The bot in this process with the recommended shards (internal sharding). */
  startBot(log: Logger, instance = 'shards-internal'): Promise<BotApp> {
    const config = loadBotConfig({ DISCORD_TOKEN: SHARD_TOKEN }, { apiUrl: this.discord.restUrl, instance, progressIntervalMs: 250, logLevel: 'debug', jobs: this.jobs });
    return BotApp.start(config, { log, waitGuildTimeoutMs: 5000 });
  }

  /** `latentwalk bot` with at most `perProcess` shards a process. */
  spawnBot(perProcess: number, instance = 'shards-multi'): CliProcess {
    return spawnLatentwalk(this.jobs, ['bot'], {
      DISCORD_TOKEN: SHARD_TOKEN,
      DISCORD_API_URL: this.discord.restUrl,
      LATENTWALK_SHARDS_PER_PROCESS: String(perProcess),
      LATENTWALK_BOT_INSTANCE: instance,
      LATENTWALK_REGISTER_COMMANDS: 'off',
      LATENTWALK_PROGRESS_INTERVAL_MS: '250',
      LATENTWALK_LOG_LEVEL: 'info',
    });
  }

  /** The connected gateway sessions as `id/count`, sorted. */
  sessions(): string[] {
    return this.discord.connectedShards.map(([id, count]) => `${id}/${count}`).sort();
  }

  async stop(): Promise<void> {
    this.worker.child.kill('SIGKILL');
    await this.worker.exited;
    await this.discord.close().catch(() => undefined);
    await this.redis.stop().catch(() => undefined);
  }
}

export interface Done {
  guild: ScaleGuild;
  jobId: string;
  messageId: string;
  firstResponseMs: number;
}

/** `/loop` (2 frames, 1 step) from one member of every guild in `list`; waits for every result. */
export async function roundTrip(discord: LocalDiscord, list: ScaleGuild[], label: string): Promise<Done[]> {
  return results(discord, await submit(discord, list, label));
}

/** `/loop` (2 frames, 1 step) from one member of every guild; each answered within 3 s, and submitted. */
export async function submit(discord: LocalDiscord, list: ScaleGuild[], label: string): Promise<Done[]> {
  const sent: { guild: ScaleGuild; handle: InteractionHandle; at: number }[] = [];
  for (const [i, guild] of list.entries()) {
    const at = Date.now();
    const handle = await discord.slashCommand({
      guildId: guild.id,
      channelId: guild.channels[0]!,
      userId: guild.members[i % guild.members.length]!,
      name: 'loop',
      options: [
        { name: 'prompt', value: `a lighthouse on shard ${guild.shard} (${label})` },
        { name: 'frames', value: 2 },
        { name: 'steps', value: 1 },
      ],
    });
    assert.equal(handle.delivered, 1, `guild ${guild.id} (shard ${guild.shard}) reached exactly one gateway session`);
    sent.push({ guild, handle, at });
  }
  const done: Done[] = [];
  for (const { guild, handle, at } of sent) {
    const state = await waitFor(`an answer in guild ${guild.id} (shard ${guild.shard})`, () => {
      const s = discord.interactionResponse(handle.interactionId);
      return s?.acknowledged ? s : undefined;
    }, 10_000, 10);
    const firstResponseMs = state.acknowledgedAfterMs ?? Date.now() - at;
    assert.ok(firstResponseMs < 3000, `guild ${guild.id}: first response after ${firstResponseMs} ms`);
    // Past the deferral: the job is submitted once the status message shows it (queued, rendering or done).
    const messageId = await waitFor(`the status message in guild ${guild.id}`, () => {
      const id = discord.interactionResponse(handle.interactionId)?.originalMessageId;
      return id && discord.messageMeta(id)?.loading === false ? id : undefined;
    }, 30_000);
    done.push({ guild, jobId: `render-${handle.interactionId}`, messageId, firstResponseMs });
  }
  return done;
}

/** Waits for each job's result: its GIF on its status message. */
export async function results(discord: LocalDiscord, done: Done[], timeoutMs = 120_000): Promise<Done[]> {
  for (const d of done) {
    const message = await waitFor(`the result in guild ${d.guild.id} (shard ${d.guild.shard})`, () => {
      const m = discord.message(d.messageId);
      return m && m.attachments.length > 0 ? m : undefined;
    }, timeoutMs, 50);
    assert.equal(message.attachments.length, 1);
    assert.match(message.attachments[0]!.filename, /\.gif$/);
  }
  return done;
}

/** Jobs of `done` not posted exactly once, according to the "result posted" log lines. */
export function notPostedOnce(done: Done[], posted: { jobId: string }[]): string[] {
  const counts = countBy(posted.map((p) => p.jobId));
  return done.filter((d) => counts[d.jobId] !== 1).map((d) => `${d.jobId} (shard ${d.guild.shard}): ${counts[d.jobId] ?? 0} posts`);
}

export function countBy(values: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}

export type JsonLine = { msg?: string; [key: string]: unknown };

/** The JSON log lines of a process's output. */
export function jsonLines(text: string): JsonLine[] {
  const out: JsonLine[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as JsonLine);
    } catch {
      // a line cut in the middle (still being written)
    }
  }
  return out;
}

/** "result posted" lines: which job, by which process. */
export function postedLines(lines: JsonLine[]): { jobId: string; instance: string }[] {
  return lines.filter((l) => l.msg === 'result posted').map((l) => ({ jobId: String(l['jobId']), instance: `pid ${String(l['pid'])}` }));
}

/** A logger that keeps "result posted" lines (and prints everything with LATENTWALK_E2E_LOG=1). */
export function captureLogs(): { logger: Logger; posted: () => { jobId: string; instance: string }[] } {
  const posted: { jobId: string; instance: string }[] = [];
  const print = verbose ? createLogger({ level: 'debug', token: SHARD_TOKEN }) : silentLogger;
  const keep = (message: string, fields: LogFields = {}) => {
    if (message === 'result posted') posted.push({ jobId: String(fields['jobId']), instance: `pid ${process.pid}` });
  };
  return {
    logger: {
      debug: (m, f) => print.debug(m, f),
      info: (m, f) => (keep(m, f), print.info(m, f)),
      warn: (m, f) => print.warn(m, f),
      error: (m, f) => print.error(m, f),
    },
    posted: () => posted,
  };
}

export interface ShardFigures {
  mode: 'internal' | 'processes';
  shards: number;
  processes: number;
  guilds: number;
  readyMs: number;
  results: number;
  postedOnce: boolean;
  firstResponse: { p50: number; max: number };
  drainMs: number;
}

/** One round of a /loop from every guild with the bot sharded `mode`, timed (bench:scale). */
export async function shardBench(options: { mode: 'internal' | 'processes' }): Promise<ShardFigures> {
  const world = await ShardWorld.start();
  try {
    const started = Date.now();
    let stop: () => Promise<void>;
    let posted: () => { jobId: string }[];
    let processes = 1;
    if (options.mode === 'internal') {
      const logs = captureLogs();
      const bot = await world.startBot(logs.logger);
      stop = () => bot.stop();
      posted = logs.posted;
    } else {
      const bot = world.spawnBot(2);
      await waitFor('the shard processes', () => jsonLines(bot.stderr).find((l) => l.msg === 'bot running 4 shards in 2 processes'), 180_000, 100);
      processes = 2;
      stop = async () => {
        bot.child.kill('SIGTERM');
        await bot.exited;
      };
      posted = () => postedLines(jsonLines(bot.stderr));
    }
    const readyMs = Date.now() - started;
    try {
      const roundStart = Date.now();
      const done = await roundTrip(world.discord, world.guilds, options.mode);
      const drainMs = Date.now() - roundStart;
      await new Promise((resolve) => setTimeout(resolve, 300));
      const firsts = done.map((d) => d.firstResponseMs).sort((a, b) => a - b);
      return {
        mode: options.mode,
        shards: world.discord.connectedShards.length,
        processes,
        guilds: world.guilds.length,
        readyMs,
        results: done.length,
        postedOnce: notPostedOnce(done, posted()).length === 0,
        firstResponse: { p50: firsts[Math.floor(firsts.length / 2)]!, max: firsts[firsts.length - 1]! },
        drainMs,
      };
    } finally {
      await stop();
    }
  } finally {
    await world.stop();
  }
}
