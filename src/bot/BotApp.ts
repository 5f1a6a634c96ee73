/**
 * BotApp: one running bot. Connects to Redis (the job producer and the bot's own state), logs in to Discord,
 * routes interactions, delivers progress and results, and closes expired boards.
 *
 * Everything the bot needs to resume lives in Redis, so `stop()` followed by a new `BotApp.start()` (or a
 * process restart) carries on where it stopped: boards, pending replies, the job → message map, buttons, and
 * results that finished while it was down (read from the result stream by the same consumer name).
 */
import { Events, type Client } from 'discord.js';
import type { Redis } from 'ioredis';
import { JobProducer } from '../jobs/index.ts';
import { keyPrefix } from '../jobs/keys.ts';
import { closeRedis, openRedis, redisTarget } from '../jobs/redis.ts';
import type { BotMetricsSink } from '../ops/metrics.ts';
import { BoardFlow } from './boards/BoardFlow.ts';
import { BoardStore } from './boards/BoardStore.ts';
import { ChainFlow } from './boards/ChainFlow.ts';
import { ChainStore } from './boards/ChainStore.ts';
import { createDiscordClient, loginClient } from './BotClient.ts';
import { describeBotConfig, type BotConfig } from './config.ts';
import { CustomIds } from './customIds.ts';
import { GuildSettingsStore } from './GuildSettings.ts';
import { InteractionRouter } from './interactions.ts';
import { createLogger, describeError, type Logger } from './log.ts';
import { PendingReplies } from './PendingReplies.ts';
import { ModelLexicons } from './PromptSuggestions.ts';
import { RenderService } from './RenderService.ts';
import { JobMessages } from './replies/JobMessages.ts';
import { ResultDelivery } from './ResultDelivery.ts';
import { shardOfGuild } from './shards.ts';
import type { BotContext, JobsPort } from './types.ts';

export interface BotAppOptions {
  log?: Logger;
  /** The bot's clock (token and board expiry). */
  now?: () => number;
  /** Use this producer instead of connecting one (the caller closes it). */
  jobs?: JobsPort;
  waitGuildTimeoutMs?: number;
  /** Counters for /metrics. */
  metrics?: BotMetricsSink;
}

export class BotApp {
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly context: BotContext,
    private readonly client: Client,
    private readonly redis: Redis,
    private readonly producer: JobProducer | undefined,
    private readonly delivery: ResultDelivery,
    /** The gateway session, from the client's shard events (discord.js keeps `ws.status` at Ready). */
    private readonly gateway: { up: boolean },
  ) {}

  static async start(config: BotConfig, options: BotAppOptions = {}): Promise<BotApp> {
    const log = options.log ?? createLogger({ level: config.logLevel, token: config.token });
    const now = options.now ?? Date.now;
    let producer: JobProducer | undefined;
    let jobs = options.jobs;
    if (!jobs) {
      producer = await JobProducer.connect(config.jobs, { log: (line) => log.warn(line) });
      jobs = producer;
    }
    const redis = openRedis(redisTarget(config.jobs), 'commands', 'bot-state');
    // The bot's own keys carry the same hash tag as the job layer's (one slot in a Redis Cluster).
    const prefix = keyPrefix(config.jobs.prefix);
    let ids: CustomIds;
    try {
      ids = await CustomIds.forDeployment(redis, prefix, { configured: config.buttonSecret, token: config.token });
    } catch (error) {
      await closeRedis(redis);
      if (producer) await producer.close();
      throw error;
    }
    const client = createDiscordClient({ config, log, ...(options.waitGuildTimeoutMs !== undefined ? { waitGuildTimeoutMs: options.waitGuildTimeoutMs } : {}) });
    const ready = client as Client<true>;
    const gateway = { up: false };
    for (const event of [Events.ShardReady, Events.ShardResume] as const) client.on(event, () => (gateway.up = true));
    for (const event of [Events.ShardDisconnect, Events.ShardReconnecting, Events.Invalidated] as const) client.on(event, () => (gateway.up = false));
    const pending = new PendingReplies(redis, prefix);
    const boards = new BoardStore(redis, prefix);
    const services = {
      config,
      client: ready,
      jobs,
      pending,
      boards,
      guildSettings: new GuildSettingsStore(redis, prefix),
      messages: new JobMessages({ client: ready, pending, log, now }),
      ids,
      log,
      now,
      metrics: options.metrics,
      lexicons: new ModelLexicons(jobs.workers),
    };
    const render = new RenderService(services);
    const boardFlow = new BoardFlow(services, render);
    const chainFlow = new ChainFlow(services, render, boardFlow, new ChainStore(redis, boards));
    const context: BotContext = { ...services, render, boardFlow, chainFlow };
    const router = new InteractionRouter(context);
    // Filled in at login: discord.js learns the shard count and ids then (`auto`).
    const ownsGuild = (guildId: string) => {
      const count = client.options.shardCount ?? 1;
      return count <= 1 || client.ws.shards.has(shardOfGuild(guildId, count));
    };
    const delivery = new ResultDelivery(context, ownsGuild);
    try {
      await loginClient(client, { config, log }, (interaction) => void router.handle(interaction));
      await delivery.start();
    } catch (error) {
      await delivery.stop().catch(() => undefined);
      await client.destroy().catch(() => undefined);
      await closeRedis(redis);
      if (producer) await producer.close();
      throw error;
    }
    gateway.up = true;
    boardFlow.startSweeper();
    log.info('bot ready', {
      ...describeBotConfig(config),
      user: ready.user?.tag,
      guilds: ready.guilds.cache.size,
      shards: `${[...client.ws.shards.keys()].join(',')} of ${client.options.shardCount}`,
    } as Record<string, string | number | undefined>);
    return new BotApp(context, client, redis, producer, delivery, gateway);
  }

  /** Whether the bot can serve: Redis connected and the Discord gateway session ready. */
  health(): { redis: boolean; discord: boolean; stopping: boolean } {
    const redisUp = this.redis.status === 'ready' && (!this.producer || this.producer.redis.status === 'ready');
    return { redis: redisUp, discord: this.client.isReady() && this.gateway.up, stopping: this.stopping !== undefined };
  }

  /** The BullMQ queue, for queue-depth metrics (undefined when the caller supplied the producer). */
  get queue(): JobProducer['queue'] | undefined {
    return this.producer?.queue;
  }

  /** Stops taking interactions and results; connections closed. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.context.boardFlow.stopSweeper();
      await this.delivery.stop().catch((error) => this.context.log.warn('result delivery did not stop cleanly', { error: describeError(error) }));
      await this.client.destroy().catch(() => undefined);
      await closeRedis(this.redis);
      if (this.producer) await this.producer.close();
      this.context.log.info('bot stopped');
    })();
    return this.stopping;
  }
}
