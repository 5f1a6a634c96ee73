/**
 * Many results at once against Discord's rate limits (test/bot-ratelimits.test.ts and `npm run bench:scale`).
 *
 * LocalDiscord enforces Discord's REST limits (per-route buckets, the global 50/s, 429s, the invalid-request
 * count) and adds a latency to every call; the real bot (BotApp, discord.js) runs in this process against a
 * private redis-server. `commands` /loop commands come in from 30 guilds x 2 channels (no worker takes them; the
 * first response of each is timed); then their results are published into the result stream, as a worker
 * would, spread evenly over `withinMs`. Either through the interaction tokens (edits of the status messages), or,
 * with `via: 'channel'`, once the tokens ran out (both clocks 16 minutes on): then every result is a new channel
 * message with the bot token plus an edit of the request, under the channel buckets and the global limit.
 */
import { BotApp } from '../../src/bot/BotApp.ts';
import { loadBotConfig } from '../../src/bot/config.ts';
import { silentLogger, type LogFields, type Logger } from '../../src/bot/log.ts';
import { registerCommands } from '../../src/cli/register-commands.ts';
import type { JobOutcome } from '../../src/jobs/contract.ts';
import { JobProducer } from '../../src/jobs/index.ts';
import { LocalDiscord, type InteractionHandle, type LocalMessage } from '../../src/local-discord/index.ts';
import { testJobsConfig, TestRedis, waitFor } from './redis.ts';
import { scaleGuilds } from './shards.ts';

const TOKEN = 'latentwalk-burst-bot-token.0123456789abcdef';
const GIF = Buffer.concat([
  Buffer.from('GIF89a', 'latin1'),
  Buffer.from([1, 0, 1, 0, 0x80, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 0x01, 0, 0x3b]),
]);
const TOKEN_EXPIRED_SKEW_MS = 16 * 60_000;

export interface BurstOptions {
  guilds?: number;
  channelsPerGuild?: number;
  /** Commands (= results), dealt round-robin over every channel. */
  commands?: number;
  /** The results are published evenly over this long. */
  withinMs?: number;
  /** LocalDiscord's added latency per REST call, for the whole run. */
  latencyMs?: number;
  /** Commands sent per second. */
  commandRate?: number;
  via?: 'interaction' | 'channel';
  log?: Logger;
}

export interface BurstFigures {
  via: 'interaction' | 'channel';
  commands: number;
  channels: number;
  latencyMs: number;
  /** Interaction created → first callback, as LocalDiscord measured it (ms). */
  firstResponse: { p50: number; p95: number; max: number; over3s: number };
  /** Every command's status message showed "Queued". */
  queued: number;
  publishMs: number;
  posted: number;
  /** Results whose post was logged more than once. */
  postedTwice: number;
  /** First publish → last result on Discord. */
  drainMs: number;
  postsPerSecond: number;
  /** Channels where a result landed before one published earlier. */
  outOfOrder: string[];
  /** REST requests during the results phase, and their 429s (all, and global ones). */
  requests: number;
  rateLimited: number;
  globalLimited: number;
  /** 401/403/429 over the last 10 minutes, as Discord counts them (ban past 10,000). */
  invalidLast10Min: number;
}

interface Command {
  jobId: string;
  channelId: string;
  handle: InteractionHandle;
  messageId?: string;
}

export async function resultBurst(options: BurstOptions = {}): Promise<BurstFigures> {
  const guildCount = options.guilds ?? 30;
  const channelsPerGuild = options.channelsPerGuild ?? 2;
  const total = options.commands ?? 300;
  const withinMs = options.withinMs ?? 10_000;
  const latencyMs = options.latencyMs ?? 150;
  const commandRate = options.commandRate ?? 20;
  const via = options.via ?? 'interaction';
  // Enough members that nobody passes a server's per-member cap (2 queued by default).
  const { seeds, guilds } = scaleGuilds(guildCount, 1, channelsPerGuild, Math.max(2, Math.ceil(total / guildCount)));
  let skewMs = 0;
  const redis = await TestRedis.start();
  const discord = await LocalDiscord.start({ token: TOKEN, guilds: seeds, rateLimits: true, latencyMs, requestLogLimit: 1_000_000, now: () => Date.now() + skewMs, log: () => undefined });
  const jobs = testJobsConfig(redis, { caps: { perGuild: 100, perUser: 100, total: 10_000 }, preview: { maxBytes: 0 } });
  let bot: BotApp | undefined;
  let producer: JobProducer | undefined;
  const posts = new Map<string, number>();
  try {
    await registerCommands({ token: TOKEN, apiUrl: discord.restUrl, applicationId: undefined }, jobs.limits);
    const postLog = new Map<string, number>();
    const log = countingLogger(options.log ?? silentLogger, postLog);
    const config = loadBotConfig({ DISCORD_TOKEN: TOKEN }, { apiUrl: discord.restUrl, instance: 'burst', logLevel: 'info', jobs });
    bot = await BotApp.start(config, { log, now: () => Date.now() + skewMs, waitGuildTimeoutMs: 5000 });
    producer = await JobProducer.connect(jobs);

    // The commands, at commandRate per second.
    const channels = guilds.flatMap((g) => g.channels.map((channelId) => ({ guildId: g.id, channelId, members: g.members })));
    const perGuild = new Map<string, number>();
    const commands: Command[] = [];
    const started = Date.now();
    for (let i = 0; i < total; i++) {
      const where = channels[i % channels.length]!;
      const wait = started + (i * 1000) / commandRate - Date.now();
      if (wait > 0) await sleep(wait);
      const handle = await discord.slashCommand({
        guildId: where.guildId,
        channelId: where.channelId,
        userId: where.members[nextIndex(perGuild, where.guildId) % where.members.length]!,
        name: 'loop',
        options: [
          { name: 'prompt', value: `burst ${i}` },
          { name: 'frames', value: 2 },
          { name: 'steps', value: 1 },
        ],
      });
      commands.push({ jobId: `render-${handle.interactionId}`, channelId: where.channelId, handle });
    }
    for (const c of commands) {
      c.messageId = await waitFor(`the queued message of ${c.jobId}`, () => {
        const id = discord.interactionResponse(c.handle.interactionId)?.originalMessageId;
        const meta = id ? discord.messageMeta(id) : undefined;
        return id && meta && !meta.loading && /Queued/.test(discord.message(id)?.content ?? '') ? id : undefined;
      }, 60_000, 20).catch((error: Error) => {
        const state = discord.interactionResponse(c.handle.interactionId);
        const id = state?.originalMessageId;
        throw new Error(`${error.message}; the interaction: ${JSON.stringify({ acknowledged: state?.acknowledged, responseType: state?.responseType, content: id ? discord.message(id)?.content : null })}`);
      });
    }
    const acks = commands.map((c) => discord.interactionResponse(c.handle.interactionId)?.acknowledgedAfterMs ?? Infinity).sort((a, b) => a - b);

    if (via === 'channel') skewMs = TOKEN_EXPIRED_SKEW_MS;
    // Results land: an edit that brings the file (interaction), or a new message with the file (channel).
    let order = 0;
    const byRequest = new Map(commands.map((c) => [c.messageId!, c]));
    const onMessage = (message: LocalMessage) => {
      if (message.attachments.length === 0) return;
      const requestId = message.message_reference?.message_id ?? message.id;
      if (byRequest.has(requestId) && !posts.has(requestId)) posts.set(requestId, ++order);
    };
    discord.on('messageUpdate', onMessage);
    discord.on('messageCreate', onMessage);
    await sleep(1000); // the queued edits' buckets settle; the results phase is counted on its own
    const before = discord.rateLimitStats();
    const requestsBefore = discord.requests.length;

    const publishStart = Date.now();
    for (const [i, c] of commands.entries()) {
      const wait = publishStart + (i * withinMs) / total - Date.now();
      if (wait > 0) await sleep(wait);
      await finish(producer, c.jobId);
    }
    const publishMs = Date.now() - publishStart;
    await waitFor(`all ${total} results on Discord (${posts.size} so far)`, () => posts.size === total, 240_000, 50);
    const drainMs = Date.now() - publishStart;
    await sleep(500);
    const after = discord.rateLimitStats();

    const outOfOrder: string[] = [];
    for (const { channelId } of channels) {
      const mine = commands.filter((c) => c.channelId === channelId).map((c) => posts.get(c.messageId!)!);
      if (mine.some((n, i) => i > 0 && n < mine[i - 1]!)) outOfOrder.push(channelId);
    }
    return {
      via,
      commands: total,
      channels: channels.length,
      latencyMs,
      firstResponse: { p50: pct(acks, 50), p95: pct(acks, 95), max: acks[acks.length - 1]!, over3s: acks.filter((ms) => ms > 3000).length },
      queued: commands.filter((c) => c.messageId).length,
      publishMs,
      posted: posts.size,
      postedTwice: [...postLog.values()].filter((n) => n > 1).length,
      drainMs,
      postsPerSecond: total / (drainMs / 1000),
      outOfOrder,
      requests: discord.requests.length - requestsBefore,
      rateLimited: after.rateLimited - before.rateLimited,
      globalLimited: after.globalLimited - before.globalLimited,
      invalidLast10Min: after.invalidLast10Min,
    };
  } finally {
    await bot?.stop().catch(() => undefined);
    await producer?.close().catch(() => undefined);
    await discord.close().catch(() => undefined);
    await redis.stop().catch(() => undefined);
  }
}

/** What a worker publishes for a finished job: a tiny GIF and its report. */
async function finish(producer: JobProducer, jobId: string): Promise<void> {
  const artifact = await producer.artifacts.store(jobId, { bytes: GIF, format: 'gif', mimeType: 'image/gif', extension: 'gif', width: 1, height: 1, frameCount: 2, fps: 10, reductions: [] });
  const outcome: JobOutcome = {
    status: 'done',
    attempts: 1,
    renderMs: 50,
    artifact,
    report: {
      kind: 'loop', prompts: [], negative: '', seed: 7, steps: 1, guidance: 5, width: 64, height: 64, frames: 2, batchSize: 1,
      provider: 'cpu', model: 'tiny', modelPath: '/m', sigmas: [], timesteps: [], timings: { textEncodingMs: 1, denoisingMs: 1, decodingMs: 1 },
      truncations: [], resumedFrames: 0,
    },
  };
  const published = await producer.publishOutcome(jobId, outcome);
  if (published.kind !== 'delivered') throw new Error(`job ${jobId} was not published: ${published.kind}`);
}

/** Counts "result posted" lines per job on top of `inner`. */
function countingLogger(inner: Logger, posted: Map<string, number>): Logger {
  return {
    debug: (m, f) => inner.debug(m, f),
    info: (m: string, f: LogFields = {}) => {
      if (m === 'result posted') posted.set(String(f['jobId']), (posted.get(String(f['jobId'])) ?? 0) + 1);
      inner.info(m, f);
    },
    warn: (m, f) => inner.warn(m, f),
    error: (m, f) => inner.error(m, f),
  };
}

/** 0, 1, 2, ... per key. */
function nextIndex(counts: Map<string, number>, key: string): number {
  const n = counts.get(key) ?? 0;
  counts.set(key, n + 1);
  return n;
}

function pct(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : NaN;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
