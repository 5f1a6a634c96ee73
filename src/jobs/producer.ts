/**
 * JobProducer: the bot's (and the operator CLI's) side of the queue: submit, position, list, cancel, retry,
 * progress events, artifact fetches. It never loads the engine.
 */
import { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { ArtifactStore } from './artifacts.ts';
import { InputImageStore } from './inputImages.ts';
import type { JobsConfig } from './config.ts';
import {
  buildJobSpec,
  type JobOutcome,
  type JobProgress,
  type JobResult,
  type JobSpec,
  type JobState,
  type SubmitRequest,
} from './contract.ts';
import { JobNotFoundError, JobStateError, SubmitRefusedError } from './errors.ts';
import { GuildQueue, isFinishedState, type FinishResult, type JobPosition, type JobRecord } from './guild-queue.ts';
import { adoptUntaggedKeys } from './key-migration.ts';
import { keyPrefix } from './keys.ts';
import { ReplicationBarrier } from './replication.ts';
import { checkRedisServer, closeRedis, isRedisUnavailable, openRedis, REDIS_UNAVAILABLE_REASON, redisTarget, type RedisServerInfo } from './redis.ts';
import { PreviewStore } from './previews.ts';
import { ResultConsumer, type ResultConsumerOptions } from './results.ts';
import { WorkerDirectory } from './workers.ts';

export interface SubmitTicket {
  jobId: string;
  /** 1-based place among all waiting jobs, and among the guild's, right after the submit. */
  position: number;
  positionInGuild: number;
  /** An earlier submit with the same `jobId` is being returned; nothing new was queued. */
  duplicate: boolean;
}

export interface JobListing extends JobRecord {
  position?: number;
  positionInGuild?: number;
  progress?: JobProgress;
}

export type CancelResult =
  /** It was waiting: it is gone, and its 'cancelled' result has been published. */
  | { state: 'cancelled' }
  /** It is rendering: the worker stops it within one batch and publishes the 'cancelled' result. */
  | { state: 'cancelling' }
  /** Too late: it had already finished. */
  | { state: 'finished'; finalState: JobState };

export interface JobProducerOptions {
  /** Skip the server check (tests that point at a deliberately broken server check it themselves). */
  skipServerCheck?: boolean;
  /**
   * `commands` (default): a call fails after a few reconnect attempts, so a user can be told to try again.
   * `worker`: every call waits for Redis to come back (a render in progress rides out a Redis restart).
   */
  role?: 'commands' | 'worker';
  log?: (line: string) => void;
}

/** Translations of BullMQ's and ioredis' internal failure reasons into something a requester can read. */
export function readableFailure(reason: string | undefined): string {
  if (!reason) return 'the render failed for an unknown reason; press Reroll to try again';
  if (reason.includes('stalled more than allowable limit') || reason.includes('started more than allowable limit')) {
    return 'the render was interrupted too many times (its worker stopped or crashed each time); giving up';
  }
  if (isRedisUnavailable(reason)) return REDIS_UNAVAILABLE_REASON;
  // BullMQ keeps the stack separately; keep only the first line of whatever got here.
  return reason.split('\n')[0]!.trim();
}

/** The result event for a job, built from its spec. */
export function resultFor(jobId: string, spec: JobSpec, outcome: JobOutcome, finishedAt = Date.now()): JobResult {
  return {
    jobId,
    kind: spec.kind,
    guildId: spec.guildId,
    channelId: spec.channelId,
    requesterId: spec.requesterId,
    reply: spec.reply,
    outcome,
    finishedAt,
  };
}

export class JobProducer {
  readonly guildQueue: GuildQueue;
  readonly artifacts: ArtifactStore;
  /** Input images (img2img) jobs start from. */
  readonly inputImages: InputImageStore;
  readonly workers: WorkerDirectory;
  /** Live preview stills of rendering jobs (the worker publishes, the bot fetches). */
  readonly previews: PreviewStore;
  private events: QueueEvents | undefined;
  private eventsRedis: Redis | undefined;
  /** Until when submits skip waiting for a replica (the last wait found none). */
  private replicaWaitPausedUntil = 0;
  private barrier: ReplicationBarrier | undefined;
  /** Submits acknowledged without a replica's confirmation (it did not answer within `replicaWaitMs`). */
  unconfirmedSubmits = 0;

  private constructor(
    readonly config: JobsConfig,
    readonly redis: Redis,
    readonly queue: Queue,
    readonly server: RedisServerInfo | undefined,
    private readonly log: ((line: string) => void) | undefined = undefined,
  ) {
    this.guildQueue = new GuildQueue(redis, {
      prefix: config.prefix,
      caps: config.caps,
      fairness: config.fairness,
      finishedTtlMs: config.finishedTtlMs,
      resultsMaxLen: config.resultsMaxLen,
    });
    this.inputImages = new InputImageStore(redis, config.prefix);
    this.artifacts = new ArtifactStore(redis, config.prefix, {
      ttlMs: config.artifactTtlMs,
      capBytes: config.artifactStoreBytes,
    });
    this.workers = new WorkerDirectory(redis, this.guildQueue.keys);
    this.previews = new PreviewStore(redis, config.prefix);
  }

  /** Connects and checks that the server is usable (throws RedisUnusableError with the fix otherwise). */
  static async connect(config: JobsConfig, options: JobProducerOptions = {}): Promise<JobProducer> {
    const role = options.role ?? 'commands';
    let server: RedisServerInfo | undefined;
    // The check must fail fast even for a connection that will wait for Redis forever afterwards.
    const probe = openRedis(redisTarget(config), 'commands', role === 'commands' ? 'producer' : 'producer-check');
    try {
      if (!options.skipServerCheck) {
        server = await checkRedisServer(probe, redisTarget(config));
        for (const warning of server.warnings) options.log?.(`warning: ${warning}`);
      }
      if (config.redisTopology.kind !== 'cluster') {
        const moved = await adoptUntaggedKeys(probe, config.prefix);
        if (moved > 0) options.log?.(`renamed ${moved} Redis keys from ${config.prefix}:* to ${keyPrefix(config.prefix)}:* (every key now carries the hash tag)`);
      }
    } catch (error) {
      await closeRedis(probe);
      throw error;
    }
    let redis = probe;
    if (role !== 'commands') {
      await closeRedis(probe);
      redis = openRedis(redisTarget(config), role, 'producer');
    }
    const queue = new Queue(config.queueName, { connection: redis, prefix: keyPrefix(config.prefix) });
    queue.on('error', () => undefined); // connection errors surface on the calls that need Redis
    return new JobProducer(config, redis, queue, server, options.log);
  }

  /**
   * Validates, checks the caps and queues a job, in one step in Redis. Throws SubmitRefusedError (reason
   * INVALID, GUILD_CAP, USER_CAP, MEMBER_CAP, QUEUE_FULL or UNAVAILABLE) with a message for the requester; a
   * refusal queues nothing. `memberCap`: the most jobs the requester may have in this guild (0: no such cap).
   * A place held under `request.jobId` (see `hold`) is filled without checking the caps again.
   */
  async submit(request: SubmitRequest, options: { bypassCaps?: boolean; memberCap?: number } = {}): Promise<SubmitTicket> {
    const spec = buildJobSpec(request, this.config.limits);
    return this.enqueue(spec, { ...options, ...(request.jobId === undefined ? {} : { jobId: request.jobId }) });
  }

  /**
   * Holds a place under the caps (the member's in this guild included) for a submit about to happen under
   * `holdId`, its job id: check and place are one step, so simultaneous requests cannot pass a cap together.
   * The place lasts `ttlMs` unless the submit fills it or `releaseHold` gives it back. Throws
   * SubmitRefusedError when over a cap, and UNAVAILABLE when Redis cannot be reached.
   */
  async hold(request: { holdId: string; guildId: string; userId: string; memberCap?: number }, ttlMs = 30_000): Promise<void> {
    try {
      await this.guildQueue.hold(request, ttlMs);
    } catch (error) {
      if (error instanceof SubmitRefusedError) throw error;
      throw unavailable(error);
    }
  }

  releaseHold(holdId: string, guildId: string, userId: string): Promise<void> {
    return this.guildQueue.releaseHold(holdId, guildId, userId);
  }

  private async enqueue(spec: JobSpec, options: { jobId?: string; bypassCaps?: boolean; memberCap?: number }): Promise<SubmitTicket> {
    let reservation;
    try {
      reservation = await this.guildQueue.reserve(spec, options);
    } catch (error) {
      if (error instanceof SubmitRefusedError) throw error;
      throw unavailable(error);
    }
    if (reservation.duplicate) {
      return { jobId: reservation.jobId, position: reservation.position, positionInGuild: reservation.positionInGuild, duplicate: true };
    }
    const { worker } = this.config;
    try {
      await this.queue.add(spec.kind, spec, {
        jobId: reservation.jobId,
        priority: reservation.round,
        attempts: worker.attempts,
        backoff: { type: 'exponential', delay: worker.retryDelayMs },
        // Our own record keeps the outcome; BullMQ's copies only need to outlive debugging.
        removeOnComplete: { age: Math.ceil(this.config.finishedTtlMs / 1000), count: 10_000 },
        removeOnFail: { age: Math.ceil(this.config.finishedTtlMs / 1000), count: 10_000 },
      });
    } catch (error) {
      await this.guildQueue.release(reservation.jobId).catch(() => undefined);
      throw unavailable(error);
    }
    try {
      await this.confirmReplicated();
    } catch (error) {
      // The primary went away before a replica confirmed the job: it may be lost in the failover, so the
      // requester is not told it is queued. If it did survive, it renders for nobody (its reply is removed).
      await this.queue.remove(reservation.jobId).catch(() => undefined);
      await this.guildQueue.release(reservation.jobId).catch(() => undefined);
      throw unavailable(error);
    }
    return {
      jobId: reservation.jobId,
      position: reservation.position,
      positionInGuild: reservation.positionInGuild,
      duplicate: false,
    };
  }

  /**
   * With Sentinels, waits (at most `replicaWaitMs`) until a replica has every write made so far (WAIT 1, shared
   * by the submits in flight: see ReplicationBarrier): a job acknowledged after that survives the primary's death. Replication is asynchronous
   * otherwise, and a failover loses what the replica had not received yet. No replica within the time (one is
   * down or lagging): the job is acknowledged anyway and further submits skip the wait for 30 s, so a missing
   * replica costs one slow submit, not all of them. Throws when the primary itself went away meanwhile.
   */
  private async confirmReplicated(): Promise<void> {
    const waitMs = this.config.replicaWaitMs;
    if (waitMs <= 0 || this.config.redisTopology.kind !== 'sentinel' || Date.now() < this.replicaWaitPausedUntil) return;
    this.barrier ??= new ReplicationBarrier(redisTarget(this.config), this.guildQueue.keys.replicated, waitMs);
    const replicas = await this.barrier.confirm();
    if (replicas >= 1) return;
    this.unconfirmedSubmits++;
    // Submits waiting side by side all get here; one warning is enough.
    if (Date.now() < this.replicaWaitPausedUntil) return;
    this.replicaWaitPausedUntil = Date.now() + 30_000;
    this.log?.(`warning: no Redis replica confirmed a submit within ${waitMs} ms; submits are acknowledged without waiting for the next 30 s (a failover now may lose the newest jobs)`);
  }

  /** O(log n): fine to call on every progress update. Undefined for an unknown id. */
  position(jobId: string): Promise<JobPosition | undefined> {
    return this.guildQueue.position(jobId);
  }

  async get(jobId: string): Promise<JobListing | undefined> {
    const record = await this.guildQueue.record(jobId);
    if (!record) return undefined;
    return (await this.decorate([record]))[0];
  }

  /** Rendering jobs first, then waiting ones in the order they will start; optionally one guild's. */
  async list(options: { guildId?: string; limit?: number } = {}): Promise<JobListing[]> {
    return this.decorate(await this.guildQueue.listOutstanding(options));
  }

  private async decorate(records: JobRecord[]): Promise<JobListing[]> {
    return Promise.all(
      records.map(async (record) => {
        const listing: JobListing = { ...record };
        if (record.state === 'waiting' || record.state === 'retrying') {
          const where = await this.guildQueue.position(record.jobId);
          if (where?.position !== undefined) listing.position = where.position;
          if (where?.positionInGuild !== undefined) listing.positionInGuild = where.positionInGuild;
        }
        if (record.state === 'active') {
          const job = await this.queue.getJob(record.jobId);
          const progress = job?.progress;
          if (progress && typeof progress === 'object') listing.progress = progress as unknown as JobProgress;
        }
        return listing;
      }),
    );
  }

  /** Cancels a waiting job at once, or asks the worker rendering it to stop (within one batch). */
  async cancel(jobId: string, reason = 'cancelled'): Promise<CancelResult> {
    const record = await this.guildQueue.record(jobId);
    if (!record) throw new JobNotFoundError(jobId);
    if (isFinishedState(record.state)) return { state: 'finished', finalState: record.state };
    // Flag first: a worker that picks the job up from here on sees it at start or at its next batch.
    await this.guildQueue.requestCancel(jobId, this.config.finishedTtlMs);
    const job = await this.queue.getJob(jobId);
    if (job) {
      const state = await job.getState();
      if (state === 'active') return { state: 'cancelling' };
      if (state !== 'completed' && state !== 'failed') {
        try {
          await job.remove();
        } catch {
          return { state: 'cancelling' }; // it became active in between; the worker will see the flag
        }
      }
      // completed / failed: a worker got there first (possibly by honouring this very cancel).
    }
    const finished = await this.publishOutcome(jobId, { status: 'cancelled', reason });
    if (finished.kind === 'already' && finished.state !== 'cancelled') return { state: 'finished', finalState: finished.state };
    return { state: 'cancelled' };
  }

  /** Queues a finished (failed, cancelled, or done) job again as a new job, ignoring the caps. */
  async retry(jobId: string): Promise<SubmitTicket> {
    const record = await this.guildQueue.record(jobId);
    if (!record) throw new JobNotFoundError(jobId);
    if (!isFinishedState(record.state)) {
      throw new JobStateError(jobId, record.state, `job ${jobId} is ${record.state}; only finished jobs can be retried`);
    }
    if (!record.spec) throw new JobStateError(jobId, record.state, `job ${jobId} has no stored spec to retry from`);
    return this.enqueue({ ...record.spec, createdAt: Date.now() }, { bypassCaps: true });
  }

  /**
   * Polls until the job finishes (the operator CLI's --wait). The bot uses a ResultConsumer instead.
   * Throws on timeout; the job keeps going.
   */
  async waitForOutcome(
    jobId: string,
    options: { timeoutMs?: number; pollMs?: number; onUpdate?: (listing: JobListing) => void } = {},
  ): Promise<JobOutcome> {
    const deadline = Date.now() + (options.timeoutMs ?? 30 * 60_000);
    for (;;) {
      const listing = await this.get(jobId);
      if (!listing) throw new JobNotFoundError(jobId);
      if (listing.outcome && isFinishedState(listing.state)) return listing.outcome;
      options.onUpdate?.(listing);
      if (Date.now() > deadline) throw new Error(`job ${jobId} did not finish in time (it is ${listing.state}); it keeps going`);
      await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 250));
    }
  }

  /** Progress events from every worker (BullMQ QueueEvents, over its own blocking connection). */
  async onProgress(listener: (jobId: string, progress: JobProgress) => void): Promise<() => void> {
    if (!this.events) {
      this.eventsRedis = openRedis(redisTarget(this.config), 'blocking', 'queue-events');
      this.events = new QueueEvents(this.config.queueName, { connection: this.eventsRedis, prefix: keyPrefix(this.config.prefix) });
      this.events.on('error', () => undefined);
      await this.events.waitUntilReady();
    }
    const handler = ({ jobId, data }: { jobId: string; data: unknown }) => {
      if (data && typeof data === 'object') listener(jobId, data as JobProgress);
    };
    this.events.on('progress', handler);
    return () => this.events?.off('progress', handler);
  }

  /** A reader of the result stream; see ResultConsumer for the delivery guarantees. */
  resultConsumer(options: Omit<ResultConsumerOptions, 'redis' | 'prefix'>): ResultConsumer {
    return new ResultConsumer({ ...options, redis: redisTarget(this.config), prefix: this.config.prefix });
  }

  fetchArtifact(key: string): Promise<Buffer | undefined> {
    return this.artifacts.fetch(key);
  }

  deleteArtifact(key: string): Promise<void> {
    return this.artifacts.delete(key);
  }

  /**
   * Repairs bookkeeping that a crash left behind: a reservation whose BullMQ job never appeared (or was
   * removed behind our back), or a job BullMQ failed while no worker code could publish it (a worker that
   * died right after). Only looks at jobs older than `minAgeMs`, to stay clear of submits in flight.
   * Returns how many jobs it finished.
   */
  async reconcile(minAgeMs = 60_000, now = Date.now()): Promise<number> {
    let repaired = 0;
    for (const jobId of await this.guildQueue.outstandingIds()) {
      const record = await this.guildQueue.record(jobId);
      if (!record || now - record.createdAt < minAgeMs) continue;
      const job = await this.queue.getJob(jobId);
      let outcome: JobOutcome | undefined;
      if (!job) {
        outcome = { status: 'cancelled', reason: 'the job disappeared from the queue (removed outside latentwalk)' };
      } else {
        const state = await job.getState();
        if (state === 'failed') {
          outcome = { status: 'failed', reason: readableFailure(job.failedReason), attempts: job.attemptsMade };
        } else if (state === 'completed' && isOutcome(job.returnvalue)) {
          outcome = job.returnvalue;
        }
      }
      if (outcome && (await this.publishOutcome(record, outcome)).kind === 'delivered') repaired++;
    }
    return repaired;
  }

  /**
   * Ends a job with this outcome and publishes its result, unless it already ended (then nothing changes). For
   * outcomes decided outside a render: a cancel while waiting, a failure BullMQ decided (too many stalls).
   */
  async publishOutcome(job: JobRecord | string, outcome: JobOutcome): Promise<FinishResult> {
    const record = typeof job === 'string' ? await this.guildQueue.record(job) : job;
    if (!record) return { kind: 'missing' };
    const result: JobResult = record.spec
      ? resultFor(record.jobId, record.spec, outcome)
      : {
          // Only a record damaged by hand lacks its spec: deliver what is known.
          jobId: record.jobId,
          kind: record.kind,
          guildId: record.guildId,
          channelId: record.channelId,
          requesterId: record.userId,
          reply: {},
          outcome,
          finishedAt: Date.now(),
        };
    return this.guildQueue.finish(result);
  }

  async close(): Promise<void> {
    await this.events?.close().catch(() => undefined);
    if (this.eventsRedis) await closeRedis(this.eventsRedis);
    await this.queue.close().catch(() => undefined);
    await this.barrier?.close();
    await closeRedis(this.redis);
  }
}

function isOutcome(value: unknown): value is JobOutcome {
  return !!value && typeof value === 'object' && typeof (value as { status?: unknown }).status === 'string';
}

function unavailable(error: unknown): SubmitRefusedError {
  return new SubmitRefusedError('UNAVAILABLE', 'the render queue is unreachable right now; nothing was queued, try again shortly', {
    cause: error,
  });
}
