/**
 * ResultConsumer: reads finished jobs from the result stream (`B:results`) through a consumer group.
 *
 * Exactly-once delivery is split in two halves:
 * - into the stream: the `finish` script appends a job's result only if the job was not delivered before, so a
 *   crashed-and-resumed or retried job still produces one entry;
 * - out of the stream: Redis consumer groups hand each entry to one consumer, and an entry stays pending until
 *   the handler has returned and we XACK it. The group's cursor is in Redis, so entries added while a consumer
 *   was down are read next and none is read twice. Entries left pending by a consumer name that never comes
 *   back are claimed after `claimIdleMs`. Entries in flight here (a post that waits on a rate limit, or on its
 *   channel's lane behind others) are re-claimed by this consumer every third of that, so no other consumer
 *   of the group takes one over while it is being handled.
 *
 * An entry the handler cannot handle never holds back the others:
 * - a failed try leaves the entry pending and records, in Redis (`B:results:tries:<group>`), how many tries it
 *   had and when the next one is due (`retryDelayMs`, doubling, at most `maxRetryDelayMs`); the consumer moves
 *   straight on to the entries behind it and comes back to this one when it is due. A restarted consumer
 *   carries the same counts on: a poisoned entry gets `maxAttempts` tries in total, however many restarts;
 * - after the last try it hands the entry to `onGiveUp` (the bot says so in Discord, logs and counts it),
 *   then acknowledges it;
 * - entries are handled as a pipeline: up to `concurrency` at once, side by side across channels (one
 *   channel's slow or rate-limited post does not delay another's), in stream order within a channel; reading
 *   goes on while posts are in flight (on a second connection, so acknowledgements never wait behind a
 *   blocking read).
 *
 * Several readers of one kind (bot processes that each hold some gateway shards) each use a group of their own
 * and `accept` only their guilds' entries (the rest are acknowledged unread). A group made when others of its
 * kind exist (`inheritFrom`) starts where the furthest-behind of them stands, so a change of topology loses
 * nothing; what it reads twice, the handler recognises by job id.
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
  /** Entries handled at once, across channels (default 32). */
  concurrency?: number;
  /** Results this reader handles; the others are acknowledged without a call (default: all). */
  accept?: (result: JobResult) => boolean;
  /**
   * When the group does not exist yet: the groups of the same kind it takes over from. It is made at the
   * oldest entry any of them has not finished with (none: the start of the stream).
   */
  inheritFrom?: (group: string) => boolean;
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
  /** Blocking reads only. */
  private reader: Redis | undefined;
  /** Everything else (acknowledgements, try counts, pending lists): never waits behind a blocking read. */
  private redis: Redis | undefined;
  private loop: Promise<void> | undefined;
  private stopping = false;
  private reading = false;
  private readonly maxAttempts: number;
  private readonly concurrency: number;
  /** Entries being handled now (never handed out twice while in flight). */
  private readonly inFlight = new Set<string>();
  /**
   * Entries finished lately: a pending list read just before one was acknowledged still names it, and it must
   * not be handled again.
   */
  private readonly recentlyDone = new Set<string>();
  /** The last entry queued per channel: the next one of that channel waits for it. */
  private readonly lanes = new Map<string, Promise<void>>();
  /** When the earliest recorded retry is due. */
  private nextDue = 0;
  private wake: (() => void) | undefined;

  constructor(private readonly options: ResultConsumerOptions) {
    this.keys = new JobKeys(options.prefix);
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 5);
    this.concurrency = Math.max(1, options.concurrency ?? 32);
  }

  /** Where the per-entry try counts of this group live (a hash: entry id → `attempts:nextAt`). */
  get triesKey(): string {
    return `${this.keys.results}:tries:${this.options.group}`;
  }

  /** Creates the group if needed (from the start of the stream, so nothing finished earlier is missed) and starts reading. */
  async start(handler: ResultHandler, onGiveUp?: GiveUpHandler): Promise<void> {
    if (this.loop) throw new Error('this ResultConsumer is already running');
    this.stopping = false;
    const redis = openRedis(this.options.redis, 'blocking', `results-${this.options.group}-acks`);
    try {
      await redis.xgroup('CREATE', this.keys.results, this.options.group, await this.startId(redis), 'MKSTREAM');
    } catch (error) {
      if (!String((error as Error).message).includes('BUSYGROUP')) {
        await closeRedis(redis);
        throw error;
      }
    }
    this.redis = redis;
    this.reader = openRedis(this.options.redis, 'blocking', `results-${this.options.group}`);
    this.nextDue = 0;
    this.loop = this.run(handler, onGiveUp);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    // A blocked XREADGROUP would hold the stop for up to blockMs; dropping the connection ends it now. Entries
    // the server handed out in that instant stay pending for this consumer and are read after a restart.
    if (this.reading && this.reader) this.reader.disconnect();
    await this.loop;
    await Promise.allSettled([...this.lanes.values()]);
    if (this.reader) await closeRedis(this.reader);
    if (this.redis) await closeRedis(this.redis);
    this.loop = undefined;
    this.reader = undefined;
    this.redis = undefined;
  }

  /** Where a new group starts: the oldest entry a group it inherits from has not finished with, else 0. */
  private async startId(redis: Redis): Promise<string> {
    const inherit = this.options.inheritFrom;
    if (!inherit) return '0';
    let groups: unknown[];
    try {
      groups = (await redis.call('XINFO', 'GROUPS', this.keys.results)) as unknown[];
    } catch {
      return '0'; // no stream yet
    }
    let start: bigint[] | undefined;
    for (const raw of groups) {
      const info = pairs(raw as unknown[]);
      const name = String(info.get('name'));
      if (name === this.options.group || !inherit(name)) continue;
      let at = parseId(String(info.get('last-delivered-id') ?? '0-0'));
      if (Number(info.get('pending') ?? 0) > 0) {
        const summary = (await redis.call('XPENDING', this.keys.results, name)) as [number, string | null, string | null, unknown];
        if (summary[1]) at = minId(at, previousId(parseId(summary[1])));
      }
      start = start ? minId(start, at) : at;
    }
    return start ? `${start[0]}-${start[1]}` : '0';
  }

  private async run(handler: ResultHandler, onGiveUp: GiveUpHandler | undefined): Promise<void> {
    const blockMs = this.options.blockMs ?? 2000;
    const claimIdleMs = this.options.claimIdleMs ?? 60_000;
    const redis = this.redis!;
    const reader = this.reader!;
    let lastClaim = 0;
    let lastRefresh = Date.now();
    while (!this.stopping) {
      try {
        // Our own pending entries (from before a restart, or waiting for a retry) are looked at first.
        if (Date.now() >= this.nextDue) {
          this.nextDue = Infinity;
          await this.retryDue(redis, handler, onGiveUp);
          if (this.stopping) break;
        }
        if (Date.now() - lastClaim > claimIdleMs / 2) {
          lastClaim = Date.now();
          await this.claim(redis, claimIdleMs, handler, onGiveUp);
        }
        if (this.inFlight.size > 0 && Date.now() - lastRefresh > claimIdleMs / 3) {
          lastRefresh = Date.now();
          await this.keepClaimed(redis);
        }
        const room = this.concurrency - this.inFlight.size;
        if (room <= 0) {
          await this.idle(Math.min(blockMs, Math.max(1, this.nextDue - Date.now())));
          continue;
        }
        // While entries are in flight a retry may come due at any moment: look again soon.
        const wait = Math.max(1, Math.min(this.inFlight.size > 0 ? 100 : blockMs, this.nextDue - Date.now()));
        const entries = await this.read(reader, wait, room);
        if (entries.length > 0) await this.dispatch(redis, entries, handler, onGiveUp);
      } catch (error) {
        if (this.stopping) break;
        this.options.onError?.(error as Error);
        this.nextDue = 0;
        await sleep(500);
      }
    }
  }

  /** Waits until an entry in flight is done, a stop, or `ms`. */
  private idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  private async read(reader: Redis, blockMs: number, count: number): Promise<StreamEntry[]> {
    const args = ['GROUP', this.options.group, this.options.consumer, 'COUNT', count, 'BLOCK', blockMs, 'STREAMS', this.keys.results, '>'];
    this.reading = true;
    try {
      const reply = (await reader.call('XREADGROUP', ...args)) as [string, StreamEntry[]][] | null;
      return reply?.[0]?.[1] ?? [];
    } finally {
      this.reading = false;
    }
  }

  /** Resets the idle time of the entries in flight here (XCLAIM JUSTID: no delivery counted), so none is claimed away. */
  private async keepClaimed(redis: Redis): Promise<void> {
    const ids = [...this.inFlight];
    for (let i = 0; i < ids.length; i += 200) {
      await redis.call('XCLAIM', this.keys.results, this.options.group, this.options.consumer, 0, ...ids.slice(i, i + 200), 'JUSTID');
    }
  }

  /** Takes over entries other consumers (or this one, before a restart) left idle; handles those that are due. */
  private async claim(redis: Redis, idleMs: number, handler: ResultHandler, onGiveUp: GiveUpHandler | undefined): Promise<void> {
    const reply = (await redis.call('XAUTOCLAIM', this.keys.results, this.options.group, this.options.consumer, idleMs, '0-0', 'COUNT', 50)) as [
      string,
      StreamEntry[],
    ];
    const claimed = (reply[1] ?? []).filter(([id]) => !this.busy(id));
    if (claimed.length === 0) return;
    const tries = await this.readTries(redis, claimed.map(([id]) => id));
    const now = Date.now();
    // One waiting for its retry stays pending here until it is due (retryDue comes back to it).
    const due = claimed.filter(([id]) => (tries.get(id)?.nextAt ?? 0) <= now);
    for (const [id] of claimed) if (!due.some(([d]) => d === id)) this.nextDue = Math.min(this.nextDue, tries.get(id)!.nextAt);
    if (due.length > 0) await this.dispatch(redis, due, handler, onGiveUp, tries);
  }

  /**
   * Tries again this consumer's pending entries whose retry is due (all of them after a restart that left no
   * record), and notes when the next one is due.
   */
  private async retryDue(redis: Redis, handler: ResultHandler, onGiveUp: GiveUpHandler | undefined): Promise<void> {
    const pending = (await redis.call('XPENDING', this.keys.results, this.options.group, '-', '+', 200, this.options.consumer)) as [string, string, number, number][];
    const ids = pending.map(([id]) => id).filter((id) => !this.busy(id));
    if (ids.length === 0) return;
    const tries = await this.readTries(redis, ids);
    const now = Date.now();
    const due = ids.filter((id) => (tries.get(id)?.nextAt ?? 0) <= now);
    for (const id of ids) if (!due.includes(id)) this.nextDue = Math.min(this.nextDue, tries.get(id)!.nextAt);
    if (due.length === 0) return;
    const entries: StreamEntry[] = [];
    for (const id of due) {
      const found = (await redis.xrange(this.keys.results, id, id)) as StreamEntry[];
      // Trimmed away while pending: nothing left to deliver.
      entries.push(found[0] ?? [id, []]);
    }
    await this.dispatch(redis, entries, handler, onGiveUp, tries);
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
   * Queues entries on their channels' lanes and returns at once (they run while reading goes on). Entries
   * this reader does not accept are acknowledged here. Every handled entry ends acknowledged (handled, or
   * given up) or pending with its next try recorded.
   */
  private async dispatch(
    redis: Redis,
    entries: StreamEntry[],
    handler: ResultHandler,
    onGiveUp: GiveUpHandler | undefined,
    known?: Map<string, Tries>,
  ): Promise<void> {
    const parsed = entries
      .filter(([id]) => !this.busy(id))
      .map(([entryId, fields]) => ({ entryId, result: parseResult(fieldValue(fields, 'result')) }));
    const accept = this.options.accept;
    const foreign = accept ? parsed.filter((e) => e.result && !accept(e.result)) : [];
    if (foreign.length > 0) await redis.xack(this.keys.results, this.options.group, ...foreign.map((e) => e.entryId));
    const mine = foreign.length > 0 ? parsed.filter((e) => !foreign.includes(e)) : parsed;
    if (mine.length === 0) return;
    const tries = known ?? (await this.readTries(redis, mine.map((e) => e.entryId)));
    for (const { entryId, result } of mine) {
      this.inFlight.add(entryId);
      const lane = result ? `${result.guildId}/${result.channelId}` : '';
      let acknowledged = false;
      const run = async () => {
        if (this.stopping) return;
        const due = await this.handleOne(redis, entryId, result, tries.get(entryId)?.attempts ?? 0, handler, onGiveUp);
        acknowledged = due === Infinity;
        this.nextDue = Math.min(this.nextDue, due);
      };
      const next = (this.lanes.get(lane) ?? Promise.resolve())
        .then(run)
        .catch((error: unknown) => {
          // Redis failed while recording the outcome: the entry stays pending and is looked at again.
          if (!this.stopping) this.options.onError?.(error as Error);
          this.nextDue = 0;
        })
        .finally(() => {
          if (acknowledged) {
            this.recentlyDone.add(entryId);
            if (this.recentlyDone.size > 10_000) this.recentlyDone.delete(this.recentlyDone.values().next().value!);
          }
          this.inFlight.delete(entryId);
          if (this.lanes.get(lane) === next) this.lanes.delete(lane);
          this.wake?.();
        });
      this.lanes.set(lane, next);
    }
  }

  /** In flight, or acknowledged a moment ago (a failed try records its next one before it leaves the flight). */
  private busy(entryId: string): boolean {
    return this.inFlight.has(entryId) || this.recentlyDone.has(entryId);
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

/** XINFO's flat [key, value, key, value, ...] as a map. */
function pairs(flat: unknown[]): Map<string, unknown> {
  const map = new Map<string, unknown>();
  for (let i = 0; i + 1 < flat.length; i += 2) map.set(String(flat[i]), flat[i + 1]);
  return map;
}

function parseId(id: string): bigint[] {
  const [ms, seq] = id.split('-');
  return [BigInt(ms ?? 0), BigInt(seq ?? 0)];
}

function minId(a: bigint[], b: bigint[]): bigint[] {
  return a[0]! < b[0]! || (a[0] === b[0] && a[1]! <= b[1]!) ? a : b;
}

/** The id just before `id`, so that a group made there reads `id` next. */
function previousId([ms, seq]: bigint[]): bigint[] {
  if (seq! > 0n) return [ms!, seq! - 1n];
  return ms! > 0n ? [ms! - 1n, 18446744073709551615n] : [0n, 0n];
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
