/**
 * The discord.js client: Guilds intent only (no privileged intents), no mentions parsed by default, and a
 * REST base URL from the config (Discord's own by default; LocalDiscord in tests and the playground; the
 * gateway URL follows from `GET /gateway/bot` on that base). Shards: the configured ones, or as many as
 * `GET /gateway/bot` recommends (discord.js internal sharding).
 */
import { Client, Events, GatewayIntentBits, type Interaction } from 'discord.js';
import type { BotConfig } from './config.ts';
import { describeError, type Logger } from './log.ts';
import { clientShardOptions } from './shards.ts';

export interface BotClientOptions {
  config: BotConfig;
  log: Logger;
  /** How long to wait for guilds after READY (discord.js's default is 15 s). */
  waitGuildTimeoutMs?: number;
}

export function createDiscordClient(options: BotClientOptions): Client {
  return new Client({
    intents: [GatewayIntentBits.Guilds],
    allowedMentions: { parse: [], repliedUser: false },
    // 45 of Discord's global 50 a second: discord.js's window and Discord's do not start together, and at a full
    // 50 a burst of bot-token posts met a few global 429s (bench:scale, channel posts: 9 in 609 calls).
    rest: { api: options.config.apiUrl, version: '10', globalRequestsPerSecond: 45 },
    waitGuildTimeout: options.waitGuildTimeoutMs ?? 5_000,
    ...clientShardOptions(options.config.shards),
  });
}

/** Logs in and resolves once the client is ready. The token is passed to discord.js and nowhere else. */
export async function loginClient(client: Client, options: BotClientOptions, onInteraction: (interaction: Interaction) => void): Promise<Client<true>> {
  const { log } = options;
  client.on(Events.InteractionCreate, onInteraction);
  client.on(Events.Error, (error) => log.error('discord client error', { error: describeError(error) }));
  client.on(Events.Warn, (message) => log.warn('discord client warning', { message }));
  client.on(Events.ShardDisconnect, (event) => log.warn('gateway disconnected', { code: event.code }));
  client.on(Events.ShardReconnecting, () => log.info('gateway reconnecting'));
  const ready = new Promise<Client<true>>((resolve, reject) => {
    client.once(Events.ClientReady, (c) => resolve(c));
    client.once(Events.Error, reject);
  });
  try {
    await client.login(options.config.token);
  } catch (error) {
    // discord.js's login errors do not contain the token; describeError keeps only name, code and message.
    throw new Error(`could not log in to Discord at ${options.config.apiUrl}: ${describeError(error)}`);
  }
  return ready;
}
