/**
 * Discord snowflakes: 42 bits of milliseconds since Discord's epoch, then worker/process ids and a 12-bit
 * increment. discord.js derives `createdTimestamp` from them, so they follow the server's (injectable) clock.
 */
export const DISCORD_EPOCH = 1_420_070_400_000;

export class SnowflakeGenerator {
  #lastMs = 0;
  #increment = 0;

  constructor(private readonly now: () => number) {}

  next(): string {
    // Never go backwards (a test clock may be set back); ids must stay unique and ordered.
    let ms = Math.max(Math.floor(this.now()), this.#lastMs);
    if (ms === this.#lastMs) {
      this.#increment += 1;
      if (this.#increment > 0xfff) {
        ms += 1;
        this.#increment = 0;
      }
    } else {
      this.#increment = 0;
    }
    this.#lastMs = ms;
    return ((BigInt(ms - DISCORD_EPOCH) << 22n) | (1n << 17n) | BigInt(this.#increment)).toString();
  }
}

/** Milliseconds since the Unix epoch at which a snowflake was made. */
export function snowflakeTime(id: string): number {
  return Number(BigInt(id) >> 22n) + DISCORD_EPOCH;
}

/** Orders snowflakes numerically (they are strings on the wire and may differ in length). */
export function compareSnowflakes(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The gateway shard that carries a guild's events: `(guild_id >> 22) % shard_count`, as Discord routes them. */
export function shardOf(guildId: string, shardCount: number): number {
  if (shardCount <= 1 || !/^\d{1,20}$/.test(guildId)) return 0;
  return Number((BigInt(guildId) >> 22n) % BigInt(shardCount));
}
