/**
 * Gateway sharding: how many shards, which ones this process runs, and how they are split over processes.
 *
 * Discord routes a guild's events to shard `(guild_id >> 22) % shard_count` and closes a connection that would
 * carry more than 2,500 guilds (4011). discord.js runs several shards in one process (internal sharding);
 * past `LATENTWALK_SHARDS_PER_PROCESS` the bot command runs one child process per contiguous range of shards
 * (ShardSupervisor). Results need no routing: they are posted over REST, which any process can do, and the
 * result stream's consumer group hands each entry to exactly one process.
 */
import type { ShardSettings } from './config.ts';

/** The shard a guild's events arrive on, as Discord computes it. */
export function shardOfGuild(guildId: string, shardCount: number): number {
  return Number((BigInt(guildId) >> 22n) % BigInt(shardCount));
}

/** `total` shards dealt into contiguous ranges of at most `perProcess`: one range per process. */
export function shardRanges(total: number, perProcess: number): number[][] {
  const ranges: number[][] = [];
  for (let first = 0; first < total; first += perProcess) {
    ranges.push(Array.from({ length: Math.min(perProcess, total - first) }, (_, i) => first + i));
  }
  return ranges;
}

/** `discord.js` ClientOptions for these settings: `auto` (the recommended count) or an explicit list. */
export function clientShardOptions(shards: ShardSettings): { shards: 'auto' | number[]; shardCount?: number } {
  if (shards.total === undefined) return { shards: 'auto' };
  return { shards: shards.ids ?? Array.from({ length: shards.total }, (_, i) => i), shardCount: shards.total };
}

export class GatewayInfoError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GatewayInfoError';
  }
}

/** `GET /gateway/bot`'s `shards`: the count Discord recommends for this bot (about one per 1,000 guilds). */
export async function fetchRecommendedShards(apiUrl: string, token: string, signal: AbortSignal = AbortSignal.timeout(15_000)): Promise<number> {
  let response: Response;
  try {
    response = await fetch(`${apiUrl}/v10/gateway/bot`, { headers: { Authorization: `Bot ${token}` }, signal });
  } catch (error) {
    throw new GatewayInfoError(`could not ask ${apiUrl} for the recommended shard count: ${(error as Error).message}`);
  }
  // A refused token is the fix the user needs, whichever call meets it first (the same words as at login).
  if (response.status === 401) {
    throw new GatewayInfoError('Discord refused DISCORD_TOKEN (401 Unauthorized): reset the token in the Developer Portal (Applications → your app → Bot → Reset Token) and set the new one');
  }
  if (!response.ok) throw new GatewayInfoError(`${apiUrl}/v10/gateway/bot answered ${response.status} (LATENTWALK_SHARDS sets the count without asking)`);
  const body = (await response.json().catch(() => ({}))) as { shards?: unknown };
  const shards = body.shards;
  if (typeof shards !== 'number' || !Number.isInteger(shards) || shards < 1) throw new GatewayInfoError(`${apiUrl}/v10/gateway/bot gave no shard count`);
  return shards;
}
