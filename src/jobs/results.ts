/**
 * ResultConsumer: reads finished jobs from the result stream (`B:results`) through a consumer group.
 *
 * Exactly-once delivery is split in two halves:
 * - into the stream: the `finish` script appends a job's result only if the job was not delivered before, so a
 *   crashed-and-resumed or retried job still produces one entry;
 * - out of the stream: Redis consumer groups hand each entry to one consumer, and an entry stays pending until
 *   the handler has returned and we XACK it. A consumer that restarts under the same name first re-reads its
 *   own pending entries (handed out but never acknowledged), then carries on with new ones; the group's cursor
 *   is in Redis, so entries added while it was down are read next and none is read twice. Entries left pending
 *   by a consumer name that never comes back are claimed after `claimIdleMs`.
 *
 * The one window left is a crash after the handler ran but before the XACK: that entry is handed out again.
 * Handlers get the job id to recognise it (the bot checks whether it already posted).
 */
import type { Redis } from 'ioredis';
import type { JobResult } from './contract.ts';
import { JobKeys } from './keys.ts';
import { closeRedis, openRedis } from './redis.ts';

export interface ResultConsumerOptions {
  redisUrl: string;
  prefix: string;
  /** Consumer group: one per kind of reader (the bot's is `bot`); each group sees every result. */
  group: string;
  /** Stable name of this reader within the group, so that a restart picks up its own pending entries. */
  consumer: string;
  /** How long one blocking read waits before looping (and noticing a stop). */
  blockMs?: number;
  /** Entries another consumer left unacknowledged this long are taken over. */
  claimIdleMs?: number;
  onError?: (error: Error) => void;
}

export type ResultHandler = (result: JobResult, entryId: string) => Promise<void> | void;

type StreamEntry = [id: string, fields: string[]];

export class ResultConsumer {
  private readonly keys: JobKeys;
  private redis: Redis | undefined;
  private loop: Promise<void> | undefined;
  private stopping = false;
  private reading = false;

  constructor(private readonly options: ResultConsumerOptions) {
    this.keys = new JobKeys(options.prefix);
  }

  /** Creates the group if needed (from the start of the stream, so nothing finished earlier is missed) and starts reading. */
  async start(handler: ResultHandler): Promise<void> {
    if (this.loop) throw new Error('this ResultConsumer is already running');
    this.stopping = false;
    const redis = openRedis(this.options.redisUrl, 'blocking', `results-${this.options.group}`);
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
    this.loop = this.run(redis, handler);
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

  private async run(redis: Redis, handler: ResultHandler): Promise<void> {
    const blockMs = this.options.blockMs ?? 2000;
    const claimIdleMs = this.options.claimIdleMs ?? 60_000;
    let readPending = true;
    let lastClaim = 0;
    while (!this.stopping) {
      try {
        if (readPending) {
          const entries = await this.read(redis, '0', 0);
          if (entries.length === 0) readPending = false;
          else if (!(await this.handle(redis, entries, handler))) await sleep(1000);
          continue;
        }
        if (Date.now() - lastClaim > claimIdleMs / 2) {
          lastClaim = Date.now();
          const claimed = await this.claim(redis, claimIdleMs);
          if (claimed.length > 0) {
            await this.handle(redis, claimed, handler);
            continue;
          }
        }
        const entries = await this.read(redis, '>', blockMs);
        if (!(await this.handle(redis, entries, handler))) readPending = true;
      } catch (error) {
        if (this.stopping) break;
        this.options.onError?.(error as Error);
        readPending = true;
        await sleep(500);
      }
    }
  }

  private async read(redis: Redis, from: '0' | '>', blockMs: number): Promise<StreamEntry[]> {
    const args: (string | number)[] = ['GROUP', this.options.group, this.options.consumer, 'COUNT', 50];
    if (blockMs > 0) args.push('BLOCK', blockMs);
    args.push('STREAMS', this.keys.results, from);
    this.reading = true;
    try {
      const reply = (await redis.call('XREADGROUP', ...args)) as [string, StreamEntry[]][] | null;
      return reply?.[0]?.[1] ?? [];
    } finally {
      this.reading = false;
    }
  }

  private async claim(redis: Redis, idleMs: number): Promise<StreamEntry[]> {
    const reply = (await redis.call(
      'XAUTOCLAIM',
      this.keys.results,
      this.options.group,
      this.options.consumer,
      idleMs,
      '0-0',
      'COUNT',
      50,
    )) as [string, StreamEntry[]];
    return reply[1] ?? [];
  }

  /** Returns false if a handler failed (its entry stays pending and is retried). */
  private async handle(redis: Redis, entries: StreamEntry[], handler: ResultHandler): Promise<boolean> {
    for (const [entryId, fields] of entries) {
      // A pending entry whose data was trimmed away comes back with no fields: acknowledge and move on.
      const json = fieldValue(fields, 'result');
      if (json !== undefined) {
        try {
          await handler(JSON.parse(json) as JobResult, entryId);
        } catch (error) {
          this.options.onError?.(error as Error);
          return false;
        }
      }
      await redis.xack(this.keys.results, this.options.group, entryId);
      if (this.stopping) return true;
    }
    return true;
  }
}

function fieldValue(fields: string[] | null, name: string): string | undefined {
  if (!fields) return undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
