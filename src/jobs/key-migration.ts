/**
 * Keys written before every key carried the hash tag (`latentwalk:...` instead of `{latentwalk}:...`) are
 * renamed once, so an upgrade keeps the queue, the guilds' settings, open boards and pending replies.
 *
 * Runs at connect in every process; after the first run a marker makes it one EXISTS. Stop every process of
 * the old version before starting the new one (an old process would keep writing the old names). A Redis
 * Cluster is skipped: the tagged layout is what made a cluster possible, so it never held the old names.
 */
import type { Redis } from 'ioredis';
import { keyPrefix } from './keys.ts';

/** Renames `<prefix>:*` to `{<prefix>}:*` unless done before; returns how many keys moved. */
export async function adoptUntaggedKeys(redis: Redis, prefix: string): Promise<number> {
  const tagged = keyPrefix(prefix);
  const marker = `${tagged}:keys-tagged`;
  if ((await redis.exists(marker)) === 1) return 0;
  let moved = 0;
  let cursor = '0';
  do {
    // The prefix is letters, digits, _ and - (validated), so it has no glob characters to escape.
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      // RENAMENX keeps the TTL; a name already taken (another process got there first) is left alone.
      moved += await redis.renamenx(key, `${tagged}${key.slice(prefix.length)}`).catch(() => 0);
    }
  } while (cursor !== '0');
  await redis.set(marker, String(Date.now()));
  return moved;
}
