/**
 * Many guilds spread over gateway shards, for the sharding and rate-limit tests and `npm run bench:scale`.
 * Discord routes a guild to shard `(guild_id >> 22) % shard_count`; consecutive seed ids would all share
 * one timestamp (one shard), so these ids are made with the timestamp part chosen per shard.
 */
import type { GuildSeed } from '../../src/local-discord/index.ts';

/** Milliseconds since Discord's epoch for the first id (some time in 2019). */
const BASE_MS = 150_000_000_000n;

/** The `n`th guild id on `shard` of `count`: `(id >> 22) % count === shard`. */
export function guildIdOnShard(shard: number, count: number, n: number): string {
  const ms = BASE_MS - (BASE_MS % BigInt(count)) + BigInt(n) * BigInt(count) + BigInt(shard);
  return ((ms << 22n) | BigInt(n % 4096)).toString();
}

/** The `k`th (1-1023) id of a channel or member of a guild: the guild's timestamp part, so ids never collide. */
export function childId(guildId: string, k: number): string {
  if (k < 1 || k > 1023) throw new RangeError('k must be 1-1023');
  return (BigInt(guildId) + BigInt(k) * 4096n).toString();
}

export interface ScaleGuild {
  id: string;
  shard: number;
  channels: string[];
  members: string[];
}

/**
 * `total` guilds dealt round-robin over `shards` shards, each with `channelsPerGuild` text channels and
 * `membersPerGuild` members; returns the seeds for LocalDiscord and a plain description for the test.
 */
export function scaleGuilds(
  total: number,
  shards: number,
  channelsPerGuild: number,
  membersPerGuild: number | ((index: number) => number),
): { seeds: GuildSeed[]; guilds: ScaleGuild[] } {
  const membersOf = typeof membersPerGuild === 'number' ? () => membersPerGuild : membersPerGuild;
  const guilds: ScaleGuild[] = [];
  for (let i = 0; i < total; i++) {
    const shard = i % shards;
    const id = guildIdOnShard(shard, shards, Math.floor(i / shards));
    guilds.push({
      id,
      shard,
      channels: Array.from({ length: channelsPerGuild }, (_, c) => childId(id, 1 + c)),
      members: Array.from({ length: membersOf(i) }, (_, m) => childId(id, 100 + m)),
    });
  }
  const seeds: GuildSeed[] = guilds.map((g, i) => ({
    id: g.id,
    name: `Guild ${i + 1}`,
    channels: g.channels.map((id, c) => ({ id, name: `renders-${c + 1}` })),
    members: g.members.map((id, m) => ({ id, username: `member${i + 1}x${m + 1}` })),
  }));
  return { seeds, guilds };
}
