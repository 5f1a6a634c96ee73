/**
 * RenderWorker: takes jobs from the BullMQ queue and runs them through the engine.
 *
 * Per job: record the start (GuildQueue), load any checkpointed frames, render with progress and an
 * AbortSignal, checkpoint every decoded batch, encode with the job's byte budget, park the artifact in Redis,
 * and finish: one Lua script ends the job and appends its result to the result stream exactly once.
 *
 * - Cancellation: the producer sets a flag and publishes the job id. The worker holding the job aborts its
 *   render at once on the message, and also checks the flag after every batch (a message sent while this
 *   worker was reconnecting is not lost). A cancelled job completes with a `cancelled` outcome: not failed,
 *   not retried.
 * - Crash: a worker that dies stops renewing its lock; another worker's stalled check puts the job back and
 *   whoever takes it resumes from the checkpoint. Lock renewal runs on timers, which keep firing during a
 *   render because the engine yields to the event loop between steps (`lockMs` is configurable for slow steps).
 * - Failure: the engine's one-line message is the failure reason; anything that is not the engine's own
 *   sentence is told in the worker's words (failures.ts) and logged in full. Bad options and unreachable byte
 *   budgets fail at once (retrying cannot help); anything else is retried `attempts` times with exponential
 *   backoff.
 * - Redis restarting (or away for a few seconds) during a render is no failure: every Redis call the worker
 *   makes (checkpoints, cancel polls, progress, the artifact, the finish) waits for it to come back, on
 *   connections that never give up. While the job's lock lives, the render just carries on; if Redis was away
 *   longer than the lock, BullMQ reports the lock lost, the render stops, and the stalled check hands the job
 *   to a worker that resumes it from its checkpoint. Neither fails the job or uses an attempt.
 * - SIGTERM (`stop`): take no new jobs, let running ones finish for `shutdownGraceMs`, then abort them at the
 *   next batch and hand them back to the front of their round (frames checkpointed), so nothing is lost.
 */
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { EngineError } from '../engine/errors.ts';
import type { RenderProgress } from '../engine/types.ts';
import type { JobsConfig } from '../jobs/config.ts';
import { parseJobSpec, type JobKind, type JobOutcome, type JobPreviewInfo, type JobProgress, type JobSpec } from '../jobs/contract.ts';
import { JobProducer, readableFailure, resultFor } from '../jobs/producer.ts';
import { keyPrefix } from '../jobs/keys.ts';
import { closeRedis, isRedisUnavailable, openRedis, redisTarget, type RedisServerInfo } from '../jobs/redis.ts';
import { WORKER_ANNOUNCE_INTERVAL_MS } from '../jobs/workers.ts';
import type { Logger } from '../ops/log.ts';
import type { RenderBackend } from './backend.ts';
import { FrameCheckpoint } from './checkpoint.ts';
import { describeFailure } from './failures.ts';
import { LivePreview } from './preview.ts';
import { toEngineRequest } from './request.ts';

/** Engine error codes that a retry cannot fix. */
const PERMANENT_CODES = new Set(['BAD_OPTION', 'BUDGET_UNREACHABLE', 'TENSOR_MISMATCH', 'BAD_IMAGE', 'NO_VAE_ENCODER']);

export interface RenderWorkerOptions {
  config: JobsConfig;
  backend: RenderBackend;
  /** Shown in logs and stored on the jobs it renders. */
  name?: string;
  /** Plain lines (tests); `logger` wins when both are given. */
  log?: (line: string) => void;
  /** Structured logs: lines carry `jobId`, `guildId` and `kind` fields. */
  logger?: Logger;
  /** Least time between two progress updates inside a batch (every batch end is always reported). */
  progressIntervalMs?: number;
  /** How often to repair bookkeeping left by crashed processes (see JobProducer.reconcile). */
  reconcileIntervalMs?: number;
}

/** What logs and metrics want to know about the job an event is about (undefined fields: unknown). */
export interface JobMeta {
  kind?: JobKind;
  guildId?: string;
}

export interface RenderWorkerEvents {
  started: [jobId: string, info: { attempt: number; resumedFrames: number } & JobMeta];
  batch: [jobId: string, framesDone: number, framesTotal: number];
  preview: [jobId: string, info: JobPreviewInfo];
  finished: [jobId: string, outcome: JobOutcome, meta: JobMeta];
  retrying: [jobId: string, reason: string, meta: JobMeta];
  handedBack: [jobId: string, meta: JobMeta];
}

/** A Logger over a plain line function (every level goes to it). */
function lineLogger(log: ((line: string) => void) | undefined): Logger {
  const write = log ?? (() => undefined);
  const at = (line: string) => write(line);
  return { debug: at, info: at, warn: at, error: at };
}

function metaOf(spec: Partial<JobSpec> | undefined): JobMeta {
  const meta: JobMeta = {};
  if (spec && typeof spec.kind === 'string') meta.kind = spec.kind;
  if (spec && typeof spec.guildId === 'string') meta.guildId = spec.guildId;
  return meta;
}

interface ActiveRender {
  controller: AbortController;
  /** Why we aborted it ourselves: a cancel, a shutdown, or BullMQ telling us the job's lock is gone. */
  abortReason?: 'cancel' | 'shutdown' | 'lock-lost';
}

export class RenderWorker extends EventEmitter<RenderWorkerEvents> {
  readonly id: string;
  private readonly active = new Map<string, ActiveRender>();
  private stopping: Promise<void> | undefined;
  private reconcileTimer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly options: RenderWorkerOptions,
    readonly producer: JobProducer,
    private readonly bull: Worker<JobSpec, JobOutcome>,
    private readonly bullRedis: Redis,
    private readonly subscriber: Redis,
    private readonly checkpoint: FrameCheckpoint,
    readonly server: RedisServerInfo,
    id: string,
  ) {
    super();
    this.id = id;
  }

  /** Checks Redis, subscribes to cancel requests and starts taking jobs. */
  static async start(options: RenderWorkerOptions): Promise<RenderWorker> {
    const { config } = options;
    const logger = options.logger ?? lineLogger(options.log);
    const id = options.name ?? defaultWorkerName();
    // Checks the server (version, eviction policy) before BullMQ touches it. Its connection waits for Redis
    // for as long as it takes: a render never fails because Redis restarted under it.
    const producer = await JobProducer.connect(config, { log: (line) => logger.warn(line), role: 'worker' });
    const server = producer.server!;

    const subscriber = openRedis(redisTarget(config), 'subscriber', 'cancel-listener');
    await subscriber.subscribe(producer.guildQueue.keys.cancelChannel);
    const bullRedis = openRedis(redisTarget(config), 'worker', 'worker');
    const checkpoint = new FrameCheckpoint(producer.redis, config.prefix, config.checkpointTtlMs);

    let self: RenderWorker | undefined;
    const bull = new Worker<JobSpec, JobOutcome>(
      config.queueName,
      (job, token, signal) => self!.process(job, token, signal),
      {
        connection: bullRedis,
        prefix: keyPrefix(config.prefix),
        concurrency: config.worker.concurrency,
        lockDuration: config.worker.lockMs,
        stalledInterval: config.worker.stalledIntervalMs,
        maxStalledCount: config.worker.maxStalled,
        autorun: false,
      },
    );
    self = new RenderWorker(options, producer, bull, bullRedis, subscriber, checkpoint, server, id);
    self.wire();
    void bull.run().catch((error: Error) => logger.error(`worker stopped: ${error.message}`));
    await bull.waitUntilReady();
    await self.announce();
    return self;
  }

  private get log(): Logger {
    return (this.logger ??= this.options.logger ?? lineLogger(this.options.log));
  }

  private logger: Logger | undefined;

  /** Whether this worker can take jobs: its Redis connections are up and it is not stopping. */
  health(): { redis: boolean; accepting: boolean } {
    const up = (redis: Redis) => redis.status === 'ready';
    return { redis: up(this.producer.redis) && up(this.bullRedis) && up(this.subscriber), accepting: !this.stopping };
  }

  private wire(): void {
    this.subscriber.on('message', (_channel: string, jobId: string) => this.abort(jobId, 'cancel'));
    this.bull.on('error', (error) => this.log.warn(`queue error: ${error.message}`));
    // Redis was away longer than the lock: the job is no longer ours; the stalled check gives it to a worker
    // that resumes it from its checkpoint.
    this.bull.on('lockRenewalFailed', (jobIds) => {
      for (const jobId of jobIds) this.abort(jobId, 'lock-lost');
    });
    // Back on the waiting list after its worker died: show it as waiting (front: BullMQ serves it first).
    this.bull.on('stalled', (jobId) => {
      this.log.warn(`job ${jobId} stalled (its worker stopped); it goes back to the queue`, { jobId });
      // BullMQ's lock key (`<job key>:lock`): if another worker grabbed the job meanwhile, leave it active.
      void this.producer.guildQueue.requeue(jobId, 'front', `${this.bull.toKey(jobId)}:lock`).catch(() => undefined);
    });
    // Failures BullMQ decides without running our processor (too many stalls) still need their result.
    this.bull.on('failed', (job, error) => {
      if (!job?.id) return;
      const terminal = error.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
      if (!terminal) return;
      const outcome: JobOutcome = { status: 'failed', reason: readableFailure(error.message), attempts: Math.max(1, job.attemptsMade) };
      if (outcome.reason !== error.message) this.log.warn(`job ${job.id} failed: ${error.message}`, { jobId: job.id, ...metaOf(job.data) });
      const meta = metaOf(job.data);
      void this.producer.publishOutcome(job.id, outcome).then((done) => {
        if (done.kind === 'delivered') this.emit('finished', job.id!, outcome, meta);
      }, () => undefined);
    });
    const every = this.options.reconcileIntervalMs ?? 5 * 60_000;
    this.reconcileTimer = setInterval(() => {
      void this.producer.reconcile().catch(() => undefined);
    }, every);
    this.reconcileTimer.unref();
  }

  private announceTimer: NodeJS.Timeout | undefined;

  /** Tells the bot (through Redis) that this worker is up and what its model renders; refreshed until stop. */
  private async announce(): Promise<void> {
    const { backend } = this.options;
    const workers = this.producer.workers;
    const lexicon = backend.lexicon ? await workers.publishLexicon(backend.lexicon) : undefined;
    const entry = {
      id: this.id,
      model: backend.modelName ?? backend.name,
      ...(backend.fixedSize ? { fixedSize: backend.fixedSize } : {}),
      ...(lexicon ? { lexicon } : {}),
    };
    await workers.announce(entry);
    this.announceTimer = setInterval(() => {
      void workers.announce(entry).catch(() => undefined);
      if (backend.lexicon) void workers.refreshLexicon(backend.lexicon).catch(() => undefined);
    }, WORKER_ANNOUNCE_INTERVAL_MS);
    this.announceTimer.unref();
  }

  /** Jobs this worker is rendering right now. */
  get activeJobIds(): string[] {
    return [...this.active.keys()];
  }

  private abort(jobId: string, reason: NonNullable<ActiveRender['abortReason']>): void {
    const render = this.active.get(jobId);
    if (!render || render.abortReason === 'cancel' || render.abortReason === 'lock-lost') return;
    render.abortReason = reason;
    render.controller.abort({ cancel: 'cancelled', shutdown: 'worker shutting down', 'lock-lost': 'the job lock was lost' }[reason]);
  }

  private async process(job: Job<JobSpec, JobOutcome>, token: string | undefined, lockSignal: AbortSignal | undefined): Promise<JobOutcome> {
    const jobId = job.id!;
    const queue = this.producer.guildQueue;
    let spec: JobSpec;
    try {
      spec = parseJobSpec(job.data);
    } catch (error) {
      const reason = `the job is malformed: ${(error as Error).message}`;
      await this.producer.publishOutcome(jobId, { status: 'failed', reason, attempts: job.attemptsMade + 1 });
      throw new UnrecoverableError(reason);
    }
    const start = await queue.start(jobId, this.id);
    if (start.kind === 'missing') {
      throw new UnrecoverableError(`job ${jobId} has no record in the job index; submit jobs through JobProducer`);
    }
    if (start.kind === 'finished') {
      // An earlier run delivered the result and died before BullMQ heard of it: complete, publish nothing.
      return start.outcome ?? { status: 'cancelled', reason: `already ${start.state}` };
    }
    const render: ActiveRender = { controller: new AbortController() };
    this.active.set(jobId, render);
    if (start.cancelRequested) render.abortReason = 'cancel';
    if (this.stopping) this.abort(jobId, 'shutdown');
    const signal = lockSignal ? AbortSignal.any([lockSignal, render.controller.signal]) : render.controller.signal;
    try {
      if (render.abortReason === 'cancel') return await this.endCancelled(jobId, spec);
      return await this.render(job, spec, render, signal, start.starts);
    } catch (error) {
      return await this.onRenderError(error, job, spec, render, token, lockSignal);
    } finally {
      this.active.delete(jobId);
    }
  }

  private async render(job: Job<JobSpec, JobOutcome>, spec: JobSpec, render: ActiveRender, signal: AbortSignal, starts: number): Promise<JobOutcome> {
    const jobId = job.id!;
    const { backend } = this.options;
    const request = toEngineRequest(spec, backend.defaults);
    if (spec.settings.image) {
      const bytes = await this.producer.inputImages.get(spec.settings.image.key);
      if (!bytes) {
        throw new EngineError('BAD_IMAGE', 'the image this render starts from has expired (images are kept for a day); run the command again with the image');
      }
      request.settings.image = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
    }
    if (request.walk.kind === 'chain' && spec.prompts.some((prompt) => prompt.image)) {
      const images = [];
      for (const [i, prompt] of spec.prompts.entries()) {
        if (!prompt.image) {
          images.push(undefined);
          continue;
        }
        const bytes = await this.producer.inputImages.get(prompt.image.key);
        if (!bytes) throw new EngineError('BAD_IMAGE', `the picture of stop ${i + 1} has expired (images are kept for a day); start the chain again`);
        images.push({ image: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length), ...(prompt.strength !== undefined ? { strength: prompt.strength } : {}) });
      }
      request.walk = { ...request.walk, images };
    }
    const { frames: completed, states } = await this.checkpoint.load(jobId, backend.name);
    const attempt = Math.max(starts, job.attemptsMade + 1);
    const progress = new ProgressReporter(job, attempt, completed.size, request.framesTotal, this.options.progressIntervalMs ?? 1000);
    this.emit('started', jobId, { attempt, resumedFrames: completed.size, ...metaOf(spec) });
    progress.push({ stage: 'starting', framesDone: completed.size, framesTotal: request.framesTotal });
    const preview = this.livePreview(jobId, spec, progress);

    const began = Date.now();
    let framesDone = completed.size;
    let result;
    try {
      result = await backend.render(request.walk, request.settings, {
        signal,
        completedFrames: completed,
        completedStates: states,
        onProgress: (p) => progress.update(p),
        onBatch: async (batch) => {
          await this.checkpoint.save(jobId, batch, backend.name);
          framesDone += batch.indices.length;
          progress.batchDone(framesDone);
          preview?.offer(batch);
          this.emit('batch', jobId, framesDone, request.framesTotal);
          if (!render.abortReason && (await this.producer.guildQueue.isCancelRequested(jobId))) this.abort(jobId, 'cancel');
        },
      });
    } catch (error) {
      preview?.stop();
      throw error;
    }
    // A cancel that arrived during the last batch: the render finished, but nobody wants it.
    if (render.abortReason === 'cancel') throw new Error('cancelled');

    progress.push({ stage: 'output', framesDone: request.framesTotal, framesTotal: request.framesTotal });
    const frames = request.walk.kind === 'grid' ? [backend.composeGrid(result.frames, request.walk.gridSize, request.walk.gridSize)] : result.frames;
    const artifact = await backend.encode(frames, { ...request.encode, signal });
    progress.push({ stage: 'storing', framesDone: request.framesTotal, framesTotal: request.framesTotal });
    const ref = await this.producer.artifacts.store(jobId, artifact);
    const outcome: JobOutcome = { status: 'done', artifact: ref, report: result.report, attempts: attempt, renderMs: Date.now() - began };
    // A still on its way lands before the finish, which deletes it with the rest of the job's working state.
    await preview?.settle();
    await progress.flush();
    const finished = await this.producer.guildQueue.finish(resultFor(jobId, spec, outcome));
    if (finished.kind === 'already' && finished.outcome) return finished.outcome; // another worker won the race
    this.emit('finished', jobId, outcome, metaOf(spec));
    return outcome;
  }

  /**
   * Live previews for a job whose progress someone watches (not an operator's CLI job), unless they are off
   * (LATENTWALK_PREVIEW_MAX_BYTES=0).
   */
  private livePreview(jobId: string, spec: JobSpec, progress: ProgressReporter): LivePreview | undefined {
    const { preview } = this.options.config;
    if (preview.maxBytes === 0 || spec.reply.via === 'cli') return undefined;
    return new LivePreview({
      jobId,
      store: this.producer.previews,
      intervalMs: preview.intervalMs,
      maxBytes: preview.maxBytes,
      log: (line) => this.log.debug(line, { jobId, ...metaOf(spec) }),
      onPublished: (info) => {
        progress.previewReady(info);
        this.emit('preview', jobId, info);
      },
    });
  }

  private async endCancelled(jobId: string, spec: JobSpec): Promise<JobOutcome> {
    const outcome: JobOutcome = { status: 'cancelled', reason: 'cancelled while rendering' };
    const finished = await this.producer.guildQueue.finish(resultFor(jobId, spec, outcome));
    if (finished.kind === 'already' && finished.outcome) return finished.outcome;
    this.emit('finished', jobId, outcome, metaOf(spec));
    return outcome;
  }

  private async onRenderError(
    error: unknown,
    job: Job<JobSpec, JobOutcome>,
    spec: JobSpec,
    render: ActiveRender,
    token: string | undefined,
    lockSignal: AbortSignal | undefined,
  ): Promise<JobOutcome> {
    const jobId = job.id!;
    if (render.abortReason === 'cancel') return this.endCancelled(jobId, spec);
    if (render.abortReason === 'lock-lost') {
      this.log.warn(`job ${jobId} lost its lock (Redis was away longer than it); a worker resumes it from its checkpoint`, { jobId, ...metaOf(spec) });
      throw error instanceof Error ? error : new Error(String(error));
    }
    // Redis going away is not the job's fault: back to the front of its round, no attempt used.
    if (render.abortReason === 'shutdown' || isRedisUnavailable(error)) {
      // Its frames are checkpointed, so the next worker resumes.
      await job.moveToWait(token);
      await this.producer.guildQueue.requeue(jobId, 'front-of-round');
      this.log.info(`job ${jobId} handed back to the queue${render.abortReason === 'shutdown' ? '' : ' (Redis was unreachable)'}`, { jobId, ...metaOf(spec) });
      this.emit('handedBack', jobId, metaOf(spec));
      throw new WaitingError();
    }
    // BullMQ aborted it (Worker.cancelJob): the job now belongs to someone else, who will finish it.
    if (lockSignal?.aborted) throw error;
    const code = typeof (error as { code?: unknown })?.code === 'string' ? (error as { code: string }).code : undefined;
    const failure = describeFailure(error);
    const reason = failure.reason;
    // The requester sees `reason`; the log keeps what actually happened.
    const detail = error instanceof Error ? error.message : String(error);
    const attempts = job.attemptsMade + 1;
    const last = (code !== undefined && PERMANENT_CODES.has(code)) || attempts >= (job.opts.attempts ?? 1);
    if (last) {
      const outcome: JobOutcome = { status: 'failed', reason, attempts, ...(code ? { code } : {}) };
      await this.producer.guildQueue.finish(resultFor(jobId, spec, outcome));
      this.log.warn(`job ${jobId} failed: ${detail}`, { jobId, ...metaOf(spec), ...(code ? { code } : {}) });
      this.emit('finished', jobId, outcome, metaOf(spec));
      throw new UnrecoverableError(reason);
    }
    await this.producer.guildQueue.requeue(jobId, 'in-place');
    this.log.warn(`job ${jobId} attempt ${attempts} failed (${detail}); it will be retried`, { jobId, ...metaOf(spec), attempt: attempts });
    this.emit('retrying', jobId, reason, metaOf(spec));
    throw new Error(reason);
  }

  /** Aborts every running job at its next batch and hands it back to the queue (a second SIGTERM). */
  handBackAll(): void {
    for (const jobId of this.active.keys()) this.abort(jobId, 'shutdown');
  }

  /**
   * Stops taking jobs; running jobs get `graceMs` to finish, then are aborted at their next batch and handed
   * back to the queue. Resolves when every job is finished or handed back and the connections are closed.
   */
  stop(graceMs = this.options.config.worker.shutdownGraceMs): Promise<void> {
    this.stopping ??= (async () => {
      const timer = setTimeout(() => this.handBackAll(), graceMs);
      try {
        await this.bull.close();
      } finally {
        clearTimeout(timer);
        clearInterval(this.reconcileTimer);
        clearInterval(this.announceTimer);
        await this.producer.workers.withdraw(this.id).catch(() => undefined);
        await closeRedis(this.subscriber);
        await closeRedis(this.bullRedis);
        await this.producer.close();
      }
    })();
    return this.stopping;
  }
}

/** Progress to BullMQ: every stage change and batch end, and otherwise at most once per interval. */
class ProgressReporter {
  private lastAt = 0;
  private lastStage = '';
  private latest: RenderProgress | undefined;
  private lastPayload: JobProgress | undefined;
  private preview: JobPreviewInfo | undefined;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly job: Job,
    private readonly attempt: number,
    private readonly resumedFrames: number,
    private readonly framesTotal: number,
    private readonly intervalMs: number,
  ) {}

  update(progress: RenderProgress): void {
    this.latest = progress;
    if (progress.stage === this.lastStage && Date.now() - this.lastAt < this.intervalMs) return;
    this.push(progress);
  }

  batchDone(framesDone: number): void {
    const latest = this.latest;
    this.push({
      stage: latest?.stage ?? 'decode',
      framesDone,
      framesTotal: this.framesTotal,
      ...(latest?.etaSeconds !== undefined ? { etaSeconds: latest.etaSeconds } : {}),
    });
  }

  push(progress: Omit<RenderProgress, 'stage'> & { stage: JobProgress['stage'] }): void {
    this.lastAt = Date.now();
    this.lastStage = progress.stage;
    const payload: JobProgress = {
      stage: progress.stage,
      framesDone: progress.framesDone,
      framesTotal: progress.framesTotal,
      attempt: this.attempt,
      resumedFrames: this.resumedFrames,
      ...(progress.step !== undefined ? { step: progress.step } : {}),
      ...(progress.steps !== undefined ? { steps: progress.steps } : {}),
      ...(progress.etaSeconds !== undefined ? { etaSeconds: Math.round(progress.etaSeconds) } : {}),
      ...(this.preview ? { preview: this.preview } : {}),
    };
    this.send(payload);
  }

  /** A new live preview is in Redis: every update from now on names it, starting with this one. */
  previewReady(preview: JobPreviewInfo): void {
    this.preview = preview;
    if (this.lastPayload) this.send({ ...this.lastPayload, preview });
  }

  private send(payload: JobProgress): void {
    this.lastPayload = payload;
    // In order, and never failing the render: a lost progress update is only cosmetic.
    this.chain = this.chain.then(() => this.job.updateProgress(payload as unknown as object)).catch(() => undefined);
  }

  flush(): Promise<unknown> {
    return this.chain;
  }
}

/** The name a worker gets without --name: host and pid, unique across a fleet. */
export function defaultWorkerName(): string {
  return `${hostname()}-${process.pid}`;
}
