/**
 * ResultConsumer: reads finished jobs from the result stream (`B:results`) through a consumer group.
 *
 * Exactly-once delivery is split in two halves:
 * - into the stream: the `finish` script appends a job's result only if the job was not delivered before, so a
 *   crashed-and-resumed or retried job still produces one entry;
 * - out of the stream: Redis consumer groups hand each entry to one consumer, and an entry stays pending until
 *   the handler has returned and we XACK it. The group's cursor is in Redis, so entries added while a consumer
 *   was down are read next and none is read twice. Entries left pending by a consumer name that never comes
 *   back are claimed after `claimIdleMs`.
 *
 * An entry the handler cannot handle never holds back the others:
 * - a failed try leaves the entry pending and records, in Redis (`B:results:tries:<group>`), how many tries it
 *   had and when the next one is due (`retryDelayMs`, doubling, at most `maxRetryDelayMs`); the consumer moves
 *   straight on to the entries behind it and comes back to this one when it is due. A restarted consumer
 *   carries the same counts on: a poisoned entry gets `maxAttempts` tries in total, however many restarts;
 * - after the last try it hands the entry to `onGiveUp` (the bot says so in Discord, logs and counts it),
 *   then acknowledges it;
 * - entries of different guilds are handled side by side (one guild's slow post does not delay another's);
 *   within a guild, in stream order.
 *
 * The one window left is a crash after the handler ran but before the XACK: that entry is handed out again.
 * Handlers get the job id to recognise it (the bot checks whether it already posted).
 */
import type { Redis } from 'ioredis';
import type { JobResult } from './contract.ts';
import { JobKeys } from './keys.ts';
import { closeRedis, openRedis, type RedisTarget } from './redis.ts';

export interface ResultConsumerOptions {
  /** Where Redis is (a URL: one server). */
  redis: RedisTarget | string;
  prefix: string;
  /** Consumer group: one per kind of reader (the bot's is `bot`); each group sees every result. */
  group: string;
  /** Stable name of this reader within the group, so that a restart picks up its own pending entries. */
  consumer: string;
  /** How long one blocking read waits before looping (and noticing a stop or a retry that is due). */
  blockMs?: number;
  /** Entries another consumer left unacknowledged this long are taken over. */
  claimIdleMs?: number;
  /** Tries per entry, the first included, before it is given up (default 5). */
  maxAttempts?: number;
  /** Wait after the first failed try; doubles after each further one (default 1000). */
  retryDelayMs?: number;
  /** Longest wait between two tries (default 60 000). */
  maxRetryDelayMs?: number;
  /** A try failed (`retryInMs` undefined: it was the last one) or reading the stream failed. */
  onError?: (error: Error, entry?: { entryId: string; jobId: string; attempt: number; retryInMs: number | undefined }) => void;
}

/** Which try of an entry this is. */
export interface ResultAttempt {
  entryId: string;
  /** 1 for the first try. */
  attempt: number;
  maxAttempts: number;
}

export type ResultHandler = (result: JobResult, attempt: ResultAttempt) => Promise<void> | void;

/** Called once for an entry whose every try failed, with the last error; the entry is acknowledged afterwards. */
export type GiveUpHandler = (result: JobResult, info: { entryId: string; attempts: number; error: Error }) => Promise<void> | void;

type StreamEntry = [id: string, fields: string[]];

interface Tries {
  attempts: number;
  nextAt: number;
}

export class ResultConsumer {
  private readonly keys: JobKeys;
  private redis: Redis | undefined;
  private loop: Promise<void> | undefined;
  private stopping = false;
  private reading = false;
  private readonly maxAttempts: number;

  constructor(private readonly options: ResultConsumerOptions) {
    this.keys = new JobKeys(options.prefix);
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 5);
  }

  /** Where the per-entry try counts of this group live (a hash: entry id → `attempts:nextAt`). */
  get triesKey(): string {
    return `${this.keys.results}:tries:${this.options.group}`;
  }

  /** Creates the group if needed (from the start of the stream, so nothing finished earlier is missed) and starts reading. */
  async start(handler: ResultHandler, onGiveUp?: GiveUpHandler): Promise<void> {
    if (this.loop) throw new Error('this ResultConsumer is already running');
    this.stopping = false;
    const redis = openRedis(this.options.redis, 'blocking', `results-${this.options.group}`);
    this.redis = redis;
    try {
      await redis.xgroup('CREATE', this.keys.results, this.options.group, '0', 'MKSTREAM');
    } catch (error) {
      if (!String((error as Error).message).includes('BUSYGROUP')) {
        await closeRedis(redis);
        this.redis = undefined;
        throw error;
      }
    }
    this.loop = this.run(redis, handler, onGiveUp);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    // A blocked XREADGROUP would hold the stop for up to blockMs; dropping the connection ends it now. Entries
    // the server handed out in that instant stay pending for this consumer and are read after a restart.
    if (this.reading && this.redis) this.redis.disconnect();
    await this.loop;
    if (this.redis) await closeRedis(this.redis);
    this.loop = undefined;
    this.redis = undefined;
  }

  private async run(redis: Redis, handler: ResultHandler, onGiveUp: GiveUpHandler | undefined): Promise<void> {
    const blockMs = this.options.blockMs ?? 2000;
    const claimIdleMs = this.options.claimIdleMs ?? 60_000;
    let lastClaim = 0;
    // Our own pending entries (from before a restart, or waiting for a retry) are looked at first.
    let nextDue = 0;
    while (!this.stopping) {
      try {
        if (Date.now() >= nextDue) {
          nextDue = await this.retryDue(redis, handler, onGiveUp);
          if (this.stopping) break;
        }
        if (Date.now() - lastClaim > claimIdleMs / 2) {
          lastClaim = Date.now();
          const claimed = await this.claim(redis, claimIdleMs);
          if (claimed.length > 0) {
            await this.handle(redis, claimed, handler, onGiveUp);
            nextDue = 0;
            continue;
          }
        }
        const wait = Math.max(1, Math.min(blockMs, nextDue - Date.now()));
        const entries = await this.read(redis, wait);
        if (entries.length > 0) nextDue = Math.min(nextDue, await this.handle(redis, entries, handler, onGiveUp));
      } catch (error) {
        if (this.stopping) break;
        this.options.onError?.(error as Error);
        nextDue = 0;
        await sleep(500);
      }
    }
  }

  private async read(redis: Redis, blockMs: number): Promise<StreamEntry[]> {
    const args = ['GROUP', this.options.group, this.options.consumer, 'COUNT', 50, 'BLOCK', blockMs, 'STREAMS', this.keys.results, '>'];
    this.reading = true;
    try {
      const reply = (await redis.call('XREADGROUP', ...args)) as [string, StreamEntry[]][] | null;
      return reply?.[0]?.[1] ?? [];
    } finally {
      this.reading = false;
    }
  }

  private async claim(redis: Redis, idleMs: number): Promise<StreamEntry[]> {
    const reply = (await redis.call('XAUTOCLAIM', this.keys.results, this.options.group, this.options.consumer, idleMs, '0-0', 'COUNT', 50)) as [
      string,
      StreamEntry[],
    ];
    return reply[1] ?? [];
  }

  /**
   * Tries again this consumer's pending entries whose retry is due (all of them after a restart that left no
   * record). Returns when the next pending one is due (Infinity if none).
   */
  private async retryDue(redis: Redis, handler: ResultHandler, onGiveUp: GiveUpHandler | undefined): Promise<number> {
    const pending = (await redis.call('XPENDING', this.keys.results, this.options.group, '-', '+', 200, this.options.consumer)) as [string, string, number, number][];
    if (pending.length === 0) return Infinity;
    const ids = pending.map(([id]) => id);
    const tries = await this.readTries(redis, ids);
    const now = Date.now();
    const due = ids.filter((id) => (tries.get(id)?.nextAt ?? 0) <= now);
    let next = Infinity;
    for (const id of ids) if (!due.includes(id)) next = Math.min(next, tries.get(id)!.nextAt);
    if (due.length === 0) return next;
    const entries: StreamEntry[] = [];
    for (const id of due) {
      const found = (await redis.xrange(this.keys.results, id, id)) as StreamEntry[];
      // Trimmed away while pending: nothing left to deliver.
      entries.push(found[0] ?? [id, []]);
    }
    return Math.min(next, await this.handle(redis, entries, handler, onGiveUp, tries));
  }

  private async readTries(redis: Redis, ids: string[]): Promise<Map<string, Tries>> {
    const values = ids.length > 0 ? await redis.hmget(this.triesKey, ...ids) : [];
    const tries = new Map<string, Tries>();
    ids.forEach((id, i) => {
      const [attempts, nextAt] = (values[i] ?? '').split(':').map(Number);
      if (attempts && Number.isFinite(attempts)) tries.set(id, { attempts, nextAt: nextAt ?? 0 });
    });
    return tries;
  }

  /**
   * Handles entries: guilds side by side, each guild's in order. Every entry ends acknowledged (handled, or
   * given up) or pending with its next try recorded. Returns when the earliest recorded retry is due.
   */
  private async handle(
    redis: Redis,
    entries: StreamEntry[],
    handler: ResultHandler,
    onGiveUp: GiveUpHandler | undefined,
    known?: Map<string, Tries>,
  ): Promise<number> {
    const tries = known ?? (await this.readTries(redis, entries.map(([id]) => id)));
    const byGuild = new Map<string, { entryId: string; result: JobResult | undefined }[]>();
    for (const [entryId, fields] of entries) {
      const result = parseResult(fieldValue(fields, 'result'));
      const guild = result?.guildId ?? '';
      const list = byGuild.get(guild) ?? [];
      list.push({ entryId, result });
      byGuild.set(guild, list);
    }
    let next = Infinity;
    await Promise.all(
      [...byGuild.values()].map(async (list) => {
        for (const { entryId, result } of list) {
          if (this.stopping) return;
          const due = await this.handleOne(redis, entryId, result, tries.get(entryId)?.attempts ?? 0, handler, onGiveUp);
          next = Math.min(next, due);
        }
      }),
    );
    return next;
  }

  /** One try of one entry; returns when its next try is due (Infinity when it is done with). */
  private async handleOne(
    redis: Redis,
    entryId: string,
    result: JobResult | undefined,
    previousAttempts: number,
    handler: ResultHandler,
    onGiveUp: GiveUpHandler | undefined,
  ): Promise<number> {
    // An entry whose data was trimmed away, or that is not a result, has nothing to deliver.
    if (!result) {
      await this.acknowledge(redis, entryId);
      return Infinity;
    }
    const attempt = previousAttempts + 1;
    try {
      await handler(result, { entryId, attempt, maxAttempts: this.maxAttempts });
    } catch (thrown) {
      const error = thrown instanceof Error ? thrown : new Error(String(thrown));
      if (attempt < this.maxAttempts) {
        const retryInMs = this.retryDelay(attempt);
        const nextAt = Date.now() + retryInMs;
        await redis.hset(this.triesKey, entryId, `${attempt}:${nextAt}`);
        this.options.onError?.(error, { entryId, jobId: result.jobId, attempt, retryInMs });
        return nextAt;
      }
      this.options.onError?.(error, { entryId, jobId: result.jobId, attempt, retryInMs: undefined });
      try {
        await onGiveUp?.(result, { entryId, attempts: attempt, error });
      } catch (giveUpError) {
        this.options.onError?.(giveUpError as Error, { entryId, jobId: result.jobId, attempt, retryInMs: undefined });
      }
    }
    await this.acknowledge(redis, entryId);
    return Infinity;
  }

  private retryDelay(attempt: number): number {
    const base = this.options.retryDelayMs ?? 1000;
    return Math.min(this.options.maxRetryDelayMs ?? 60_000, base * 2 ** (attempt - 1));
  }

  private async acknowledge(redis: Redis, entryId: string): Promise<void> {
    await redis.multi().xack(this.keys.results, this.options.group, entryId).hdel(this.triesKey, entryId).exec();
  }
}

function fieldValue(fields: string[] | null, name: string): string | undefined {
  if (!fields) return undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

function parseResult(json: string | undefined): JobResult | undefined {
  if (json === undefined) return undefined;
  try {
    const value = JSON.parse(json) as JobResult;
    return value && typeof value === 'object' && typeof value.jobId === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
