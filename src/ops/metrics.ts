/**
 * Prometheus metrics (prom-client), one registry per process (never the global one, so tests can run several
 * in one process). Served on `/metrics` by the ops endpoint when LATENTWALK_METRICS_PORT is set.
 *
 * Both processes: `latentwalk_queue_jobs{state}` (queue depth per state, read from BullMQ at scrape time) and
 * the default process metrics (`latentwalk_process_*`, `latentwalk_nodejs_*`).
 * Worker: `latentwalk_jobs_total{kind,outcome}`, `latentwalk_render_seconds{kind}` (histogram),
 * `latentwalk_render_frames_per_second{kind}` (last job) with `latentwalk_frames_rendered_total{kind}`
 * (rate() of it is the sustained frame rate), `latentwalk_artifact_bytes{kind}` (histogram), and
 * `latentwalk_jobs_rendering`.
 * Bot: `latentwalk_jobs_submitted_total{kind}`, `latentwalk_jobs_refused_total{kind,reason}`,
 * `latentwalk_results_posted_total{kind,outcome}`, `latentwalk_posted_bytes{kind}` (histogram),
 * `latentwalk_results_undeliverable_total{kind,code}` (results given up: the channel could not take them).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { JobKind, JobOutcome } from '../jobs/contract.ts';

/** Queue depth per state, or undefined when it cannot be read right now (Redis down). */
export type QueueCountsReader = () => Promise<Record<string, number> | undefined>;

/** The states `latentwalk_queue_jobs` always reports (0 when empty), as BullMQ's getJobCounts names them. */
export const QUEUE_STATES = ['waiting', 'active', 'delayed', 'completed', 'failed', 'paused'] as const;

/**
 * Reads a BullMQ queue's counts. Jobs waiting for their fairness round sit in BullMQ's `prioritized` set; they
 * are reported as `waiting`, which is what they are.
 */
export function bullQueueCounts(queue: { getJobCounts(...types: string[]): Promise<Record<string, number>> }, timeoutMs = 2000): QueueCountsReader {
  return async () => {
    const counts = await withTimeout(queue.getJobCounts('wait', 'prioritized', 'waiting-children', 'active', 'delayed', 'completed', 'failed', 'paused'), timeoutMs);
    if (!counts) return undefined;
    return {
      waiting: (counts['wait'] ?? 0) + (counts['prioritized'] ?? 0) + (counts['waiting-children'] ?? 0),
      active: counts['active'] ?? 0,
      delayed: counts['delayed'] ?? 0,
      completed: counts['completed'] ?? 0,
      failed: counts['failed'] ?? 0,
      paused: counts['paused'] ?? 0,
    };
  };
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)))]);
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

/** The registry and the metrics both processes have. */
export class BaseMetrics {
  readonly registry = new Registry();
  private queueCounts: QueueCountsReader | undefined;

  constructor(readonly service: 'bot' | 'worker') {
    this.registry.setDefaultLabels({ service });
    collectDefaultMetrics({ register: this.registry, prefix: 'latentwalk_' });
    const self = this;
    new Gauge({
      name: 'latentwalk_queue_jobs',
      help: 'Jobs in the render queue per state (waiting includes jobs waiting for their fairness round)',
      labelNames: ['state'],
      registers: [this.registry],
      async collect() {
        const counts = await self.queueCounts?.();
        if (!counts) return;
        for (const state of QUEUE_STATES) this.set({ state }, counts[state] ?? 0);
      },
    });
  }

  /** Where queue depth comes from (set once the process has a queue connection). */
  setQueueCounts(reader: QueueCountsReader | undefined): void {
    this.queueCounts = reader;
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }
}

/** The events a RenderWorker emits that the worker's metrics count (a structural type: no import of the worker). */
export interface WorkerEventSource {
  on(event: 'finished', listener: (jobId: string, outcome: JobOutcome, meta?: { kind?: JobKind }) => void): unknown;
  on(event: 'retrying', listener: (jobId: string, reason: string, meta?: { kind?: JobKind }) => void): unknown;
  on(event: 'handedBack', listener: (jobId: string, meta?: { kind?: JobKind }) => void): unknown;
  readonly activeJobIds: string[];
}

const SECONDS_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 3600];
const BYTES_BUCKETS = [16, 64, 256, 1024, 4096, 16_384, 65_536].map((kib) => kib * 1024);

export class WorkerMetrics extends BaseMetrics {
  readonly jobs: Counter<'kind' | 'outcome'>;
  readonly renderSeconds: Histogram<'kind'>;
  readonly framesPerSecond: Gauge<'kind'>;
  readonly framesRendered: Counter<'kind'>;
  readonly artifactBytes: Histogram<'kind'>;
  private source: WorkerEventSource | undefined;

  constructor() {
    super('worker');
    const registers = [this.registry];
    this.jobs = new Counter({
      name: 'latentwalk_jobs_total',
      help: 'Jobs this worker ended or gave back, by kind and outcome (done, failed, cancelled, retried, handed_back)',
      labelNames: ['kind', 'outcome'],
      registers,
    });
    this.renderSeconds = new Histogram({
      name: 'latentwalk_render_seconds',
      help: 'Wall time of finished renders, from start to artifact stored',
      labelNames: ['kind'],
      buckets: SECONDS_BUCKETS,
      registers,
    });
    this.framesPerSecond = new Gauge({
      name: 'latentwalk_render_frames_per_second',
      help: 'Frames per second of the last finished render (frames rendered, not resumed, over render time)',
      labelNames: ['kind'],
      registers,
    });
    this.framesRendered = new Counter({
      name: 'latentwalk_frames_rendered_total',
      help: 'Frames rendered by this worker (rate() of it is the sustained frame rate)',
      labelNames: ['kind'],
      registers,
    });
    this.artifactBytes = new Histogram({
      name: 'latentwalk_artifact_bytes',
      help: 'Size of the GIFs and images this worker produced',
      labelNames: ['kind'],
      buckets: BYTES_BUCKETS,
      registers,
    });
    const self = this;
    new Gauge({
      name: 'latentwalk_jobs_rendering',
      help: 'Jobs this worker is rendering right now',
      registers,
      collect() {
        this.set(self.source?.activeJobIds.length ?? 0);
      },
    });
  }

  /** Counts a RenderWorker's jobs from its events. */
  attach(source: WorkerEventSource): void {
    this.source = source;
    source.on('finished', (_jobId, outcome, meta) => this.recordOutcome(meta?.kind ?? 'unknown', outcome));
    source.on('retrying', (_jobId, _reason, meta) => this.jobs.inc({ kind: meta?.kind ?? 'unknown', outcome: 'retried' }));
    source.on('handedBack', (_jobId, meta) => this.jobs.inc({ kind: meta?.kind ?? 'unknown', outcome: 'handed_back' }));
  }

  recordOutcome(kind: string, outcome: JobOutcome): void {
    this.jobs.inc({ kind, outcome: outcome.status });
    if (outcome.status !== 'done') return;
    const seconds = outcome.renderMs / 1000;
    this.renderSeconds.observe({ kind }, seconds);
    const frames = Math.max(0, outcome.report.frames - (outcome.report.resumedFrames ?? 0));
    this.framesRendered.inc({ kind }, frames);
    if (seconds > 0) this.framesPerSecond.set({ kind }, frames / seconds);
    this.artifactBytes.observe({ kind }, outcome.artifact.bytes);
  }
}

/** What the bot reports (BotApp calls these; a structural type keeps the bot free of prom-client). */
export interface BotMetricsSink {
  jobSubmitted(kind: string): void;
  jobRefused(kind: string, reason: string): void;
  resultPosted(kind: string, outcome: string, bytes: number): void;
  /** A result that could not be posted; `code` is Discord's error code, or `none`. */
  resultUndeliverable(kind: string, code: string): void;
}

export class BotMetrics extends BaseMetrics implements BotMetricsSink {
  readonly submitted: Counter<'kind'>;
  readonly refused: Counter<'kind' | 'reason'>;
  readonly posted: Counter<'kind' | 'outcome'>;
  readonly postedBytes: Histogram<'kind'>;
  readonly undeliverable: Counter<'kind' | 'code'>;

  constructor() {
    super('bot');
    const registers = [this.registry];
    this.submitted = new Counter({ name: 'latentwalk_jobs_submitted_total', help: 'Jobs the bot queued, by kind', labelNames: ['kind'], registers });
    this.refused = new Counter({
      name: 'latentwalk_jobs_refused_total',
      help: 'Submits the queue refused (caps, limits, Redis down), by kind and reason',
      labelNames: ['kind', 'reason'],
      registers,
    });
    this.posted = new Counter({
      name: 'latentwalk_results_posted_total',
      help: 'Results the bot posted to Discord, by kind and outcome (done, failed, cancelled)',
      labelNames: ['kind', 'outcome'],
      registers,
    });
    this.postedBytes = new Histogram({
      name: 'latentwalk_posted_bytes',
      help: 'Size of the GIFs and images the bot posted',
      labelNames: ['kind'],
      buckets: BYTES_BUCKETS,
      registers,
    });
    this.undeliverable = new Counter({
      name: 'latentwalk_results_undeliverable_total',
      help: 'Results given up because Discord would not take them in their channel, by kind and Discord error code',
      labelNames: ['kind', 'code'],
      registers,
    });
  }

  jobSubmitted(kind: string): void {
    this.submitted.inc({ kind });
  }

  jobRefused(kind: string, reason: string): void {
    this.refused.inc({ kind, reason });
  }

  resultPosted(kind: string, outcome: string, bytes: number): void {
    this.posted.inc({ kind, outcome });
    if (outcome === 'done' && bytes > 0) this.postedBytes.observe({ kind }, bytes);
  }

  resultUndeliverable(kind: string, code: string): void {
    this.undeliverable.inc({ kind, code });
  }
}
