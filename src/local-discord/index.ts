/**
 * The local Discord-compatible server (gateway + REST, in memory) for tests and the playground.
 *
 *   const server = await LocalDiscord.start({ token: 'bot-token' });
 *   const client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: server.restUrl } });
 *   await client.login('bot-token');
 *   const { interactionId } = await server.slashCommand({ guildId, channelId, userId, name: 'morph', options });
 *   server.on('messageUpdate', (message, meta) => ...);
 *   await client.destroy(); await server.close();
 */
export { LocalDiscord, type GuildInfo } from './LocalDiscord.ts';
export { ApiError, Errors as DiscordErrors, invalidFormBody, UserActionError, type FieldProblem } from './errors.ts';
export type { FaultHandle, FaultRequest, FaultRule } from './faults.ts';
export { Permission, ALL_PERMISSIONS, DEFAULT_BOT_PERMISSIONS, DEFAULT_EVERYONE_PERMISSIONS } from './permissions.ts';
export { DEFAULT_BOT_USER, DEFAULT_GUILD, DEFAULT_TOKEN } from './defaults.ts';
export { shardOf, snowflakeTime } from './snowflake.ts';
export { DISCORD_BUCKETS, type BucketRule, type RateLimitOptions, type RateLimitStats } from './rest/ratelimits.ts';
export { GatewayClose } from './gateway.ts';
export type * from './types.ts';
