/**
 * ResultDelivery: turns the job layer's events into Discord messages.
 *
 * - Results come from the exactly-once result stream (consumer group `bot`, consumer = this instance's stable
 *   name): a bot restarted while a job renders reads the result when it is back, and entries it had read but
 *   not acknowledged before dying are handed to it again. The one duplicate the stream can produce (a crash
 *   between posting and acknowledging) is caught by the `delivered` mark in PendingReplies, so a result is
 *   posted once. This process also remembers what it posted (the last POSTED_MEMORY results): when Redis fails
 *   over between a post and its `delivered` mark (the mark did not reach the new primary, or could not be
 *   written at all), the entry comes back and the mark is written again instead of posting twice.
 * - A result Discord will not take never holds back the others: JobMessages falls back (no long fields, no
 *   reply, no file) as far as it can; a try that fails for a reason that may pass is made again later by the
 *   result stream (`resultAttempts` tries in all, counted in Redis across restarts); a result that cannot be
 *   posted at all, or whose tries ran out, is marked undeliverable, the request message says so (or the log
 *   says that it could not), and `latentwalk_results_undeliverable_total` counts it.
 * - Progress comes from BullMQ's progress events and is coalesced per job: the first update is shown at once,
 *   later ones at most once per `progressIntervalMs` (the latest state wins); they stop when the token
 *   expires or the result is being posted. A failed progress edit is ignored.
 * - Live previews ride on those edits: when the worker has published a newer still (the event names it), the
 *   edit uploads it in place of the last one, at most once per LATENTWALK_PREVIEW_INTERVAL_MS, unless the
 *   server turned them off (/settings previews) or the still is over LATENTWALK_PREVIEW_MAX_BYTES. The final
 *   post replaces the still with the result (or clears it).
 * - With the shards split over several processes, each one edits the progress of its own shards' guilds only;
 *   a result is posted by the process the stream handed it to (over REST, which needs no gateway shard).
 */
import type { JobProgress, JobResult, PreviewStill, ResultAttempt, ResultConsumer } from '../jobs/index.ts';
import type { BotServices } from './types.ts';
import { describeError } from './log.ts';
import type { PendingReply } from './PendingReplies.ts';
import { compactView, fileRefusedView, undeliveredView } from './replies/fallbackViews.ts';
import { UndeliverableError, type FinalViews } from './replies/JobMessages.ts';
import { classifyPostError, undeliverableReason } from './replies/postErrors.ts';
import { cancelledView, expiredArtifactView, failedView, PREVIEW_FILE_NAME, progressView, resultView, type MessageView } from './replies/views.ts';

interface ProgressState {
  latest: JobProgress;
  lastEditAt: number;
  timer: NodeJS.Timeout | undefined;
  reply: PendingReply | undefined;
  /** Not ours (an operator job) or finished: ignore its events. */
  ignore: boolean;
  /** The server shows live previews (and Discord took the last one). */
  previews: boolean;
  /** The still the message shows (its seq), and when it was put there. */
  previewSeq: number | undefined;
  previewAt: number;
}

function freshState(latest: JobProgress, ignore = false): ProgressState {
  return { latest, lastEditAt: 0, timer: undefined, reply: undefined, ignore, previews: false, previewSeq: undefined, previewAt: Number.NEGATIVE_INFINITY };
}

/** Results this process remembers having posted (a failover can hand back ~a second's worth of entries). */
const POSTED_MEMORY = 5000;

type Delivered = NonNullable<PendingReply['delivered']>;

export class ResultDelivery {
  private consumer: ResultConsumer | undefined;
  /** Job id → what was posted, oldest first; consulted before posting, so a lost mark never means a second post. */
  private readonly posted = new Map<string, Delivered>();
  private stopProgress: (() => void) | undefined;
  private readonly progress = new Map<string, ProgressState>();
  private stopped = false;

  /**
   * `ownsGuild`: whether this process runs the gateway shard of a guild. Every bot process hears every job's
   * progress; only the one that owns the guild edits it (results go to whichever process the stream hands them).
   */
  constructor(
    private readonly services: BotServices,
    private readonly ownsGuild: (guildId: string) => boolean = () => true,
  ) {}

  async start(): Promise<void> {
    const { jobs, config, log } = this.services;
    this.stopProgress = await jobs.onProgress((jobId, progress) => this.onProgress(jobId, progress));
    this.consumer = jobs.resultConsumer({
      group: 'bot',
      consumer: config.instance,
      blockMs: 1000,
      maxAttempts: config.resultAttempts,
      retryDelayMs: config.resultRetryMs,
      maxRetryDelayMs: 5 * 60_000,
      onError: (error, entry) => {
        if (!entry) return log.warn('reading the result stream failed; trying again', { error: describeError(error) });
        const { code } = classifyPostError(error);
        if (entry.retryInMs === undefined) {
          log.warn('posting a result failed on its last try', { jobId: entry.jobId, attempt: entry.attempt, code, error: describeError(error) });
        } else {
          log.warn('posting a result failed; it will be tried again', { jobId: entry.jobId, attempt: entry.attempt, retryInMs: entry.retryInMs, code, error: describeError(error) });
        }
      },
    });
    await this.consumer.start(
      (result, attempt) => this.deliver(result, attempt),
      (result, info) => this.giveUp(result, info.error, info.attempts),
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopProgress?.();
    for (const state of this.progress.values()) if (state.timer) clearTimeout(state.timer);
    this.progress.clear();
    await this.consumer?.stop();
  }

  // -------------------------------------------------------------------------------------------------------
  // Progress.

  private onProgress(jobId: string, progress: JobProgress): void {
    if (this.stopped) return;
    let state = this.progress.get(jobId);
    if (!state) {
      state = freshState(progress);
      this.progress.set(jobId, state);
      const fresh = state;
      void this.services.pending.get(jobId).then(
        async (reply) => {
          if (!reply || reply.delivered || !this.ownsGuild(reply.guildId)) fresh.ignore = true;
          else {
            fresh.previews = await this.previewsAllowed(reply.guildId);
            fresh.reply = reply;
          }
          this.schedule(jobId, fresh);
        },
        () => (fresh.ignore = true),
      );
      return;
    }
    state.latest = progress;
    this.schedule(jobId, state);
  }

  /** Whether the server shows live previews; unknown (Redis trouble) counts as no, never as on against its wish. */
  private async previewsAllowed(guildId: string): Promise<boolean> {
    if (this.services.config.jobs.preview.maxBytes === 0) return false;
    try {
      return (await this.services.guildSettings.get(guildId)).previews;
    } catch {
      return false;
    }
  }

  private schedule(jobId: string, state: ProgressState): void {
    if (state.ignore || !state.reply || state.timer) return;
    const interval = this.services.config.progressIntervalMs;
    const wait = Math.max(0, state.lastEditAt + interval - Date.now());
    state.timer = setTimeout(() => {
      state.timer = undefined;
      if (state.ignore || !state.reply || this.stopped) return;
      state.lastEditAt = Date.now();
      void this.editProgress(jobId, state, state.reply).catch(() => undefined);
    }, wait);
    state.timer.unref?.();
  }

  private async editProgress(jobId: string, state: ProgressState, reply: PendingReply): Promise<void> {
    const still = await this.newPreview(jobId, state).catch(() => undefined);
    const file = still && { name: PREVIEW_FILE_NAME, data: still.data, contentType: still.mimeType };
    const messageId = await this.services.messages.editStatus(reply, () => (state.ignore ? undefined : progressView(this.services.ids, reply, state.latest, file)), 1, {
      onFileRefused: () => (state.previews = false),
    });
    if (messageId && still && state.previews) state.previewSeq = still.seq;
    if (messageId && !reply.messageId) {
      reply.messageId = messageId;
      await this.services.pending.setMessageId(jobId, messageId);
    }
  }

  /** The still this edit should upload: newer than the one shown, due, allowed and small enough; else none. */
  private async newPreview(jobId: string, state: ProgressState): Promise<PreviewStill | undefined> {
    const { intervalMs, maxBytes } = this.services.config.jobs.preview;
    const named = state.latest.preview;
    if (!state.previews || !named || named.seq === state.previewSeq || named.bytes > maxBytes) return undefined;
    if (Date.now() - state.previewAt < intervalMs) return undefined;
    const still = await this.services.jobs.previews.fetch(jobId);
    if (!still || still.seq === state.previewSeq || still.data.length > maxBytes) return undefined;
    state.previewAt = Date.now();
    return still;
  }

  private endProgress(jobId: string): void {
    const state = this.progress.get(jobId);
    if (state?.timer) clearTimeout(state.timer);
    this.progress.delete(jobId);
    // Late progress events for this job (the stream is not ordered with the results) must not start it again.
    this.progress.set(jobId, freshState({ stage: 'storing', framesDone: 0, framesTotal: 0, attempt: 1, resumedFrames: 0 }, true));
    if (this.progress.size > 5000) {
      for (const [id, s] of this.progress) {
        if (s.ignore) this.progress.delete(id);
        if (this.progress.size <= 4000) break;
      }
    }
  }

  // -------------------------------------------------------------------------------------------------------
  // Results.

  /** Posts one result. Throws on a failure worth another try (the result stream tries again later). */
  async deliver(result: JobResult, attempt?: ResultAttempt): Promise<void> {
    const { pending, messages, ids, jobs, log } = this.services;
    this.endProgress(result.jobId);
    const reply = await pending.get(result.jobId);
    if (!reply) return; // not a Discord job (operator CLI), or its entry expired
    if (reply.delivered) return; // a re-delivery after a crash: already posted
    const postedHere = this.posted.get(result.jobId);
    if (postedHere) {
      // Posted, but the mark did not stick (Redis failed over under it): write it again, post nothing.
      await pending.markDelivered(result.jobId, postedHere);
      log.info('result already posted; its delivered mark written again', { jobId: result.jobId, guildId: result.guildId });
      return;
    }
    const outcome = result.outcome;
    let bytes: Buffer | undefined;
    if (outcome.status === 'done') bytes = await jobs.fetchArtifact(outcome.artifact.key);

    const full = (late: boolean): MessageView => {
      switch (outcome.status) {
        case 'done':
          return bytes ? resultView(ids, reply, result, outcome, bytes, late) : expiredArtifactView(ids, reply);
        case 'failed':
          return failedView(ids, reply, outcome.reason, late);
        case 'cancelled':
          return cancelledView(reply, outcome.reason);
      }
    };
    const views: FinalViews = {
      full,
      compact: (late) => compactView(full(late), reply, late),
      withoutFile: (late, code) => fileRefusedView(ids, reply, result, late, code),
    };
    let delivered;
    try {
      delivered = await messages.postFinal(reply, views);
    } catch (error) {
      if (!(error instanceof UndeliverableError)) throw error;
      await this.markUndeliverable(reply, result, error.code, attempt?.attempt ?? 1, error.message);
      return;
    }
    const mark: Delivered = { ...delivered, at: Date.now() };
    this.rememberPosted(result.jobId, mark);
    await pending.markDelivered(result.jobId, mark);
    const size = outcome.status === 'done' ? outcome.artifact.bytes : 0;
    this.services.metrics?.resultPosted(result.kind, outcome.status, delivered.withoutFile ? 0 : size);
    log.info('result posted', {
      jobId: result.jobId,
      guildId: result.guildId,
      kind: result.kind,
      status: outcome.status,
      via: delivered.via,
      ...(delivered.withoutFile ? { withoutFile: true } : {}),
    });
    // A file Discord refused stays in Redis until it expires, for `latentwalk jobs show --out`.
    if (outcome.status === 'done' && !delivered.withoutFile) await jobs.deleteArtifact(outcome.artifact.key).catch(() => undefined);
  }

  private rememberPosted(jobId: string, mark: Delivered): void {
    this.posted.set(jobId, mark);
    if (this.posted.size > POSTED_MEMORY) this.posted.delete(this.posted.keys().next().value!);
  }

  /** Every try failed: the result is given up (the result stream acknowledges it after this). */
  async giveUp(result: JobResult, error: Error, attempts: number): Promise<void> {
    const reply = await this.services.pending.get(result.jobId);
    if (!reply || reply.delivered) return;
    await this.markUndeliverable(reply, result, classifyPostError(error).code, attempts, describeError(error));
  }

  /** Marks a result undeliverable, says so on the request message (or in the log), and counts it. */
  private async markUndeliverable(reply: PendingReply, result: JobResult, code: number | undefined, attempts: number, why: string): Promise<void> {
    const { pending, messages, log, metrics } = this.services;
    await pending.markDelivered(result.jobId, { via: 'undeliverable', channelId: reply.channelId, messageId: '', at: Date.now(), ...(code !== undefined ? { code } : {}) });
    const noted = await messages.noteOnRequest(reply, undeliveredView(reply, undeliverableReason(code)));
    log.warn(noted ? 'result undeliverable; the request message says so' : 'result undeliverable, and the request message could not be updated either', {
      jobId: result.jobId,
      guildId: result.guildId,
      channelId: reply.channelId,
      kind: result.kind,
      status: result.outcome.status,
      code: code ?? 'none',
      attempts,
      error: why,
    });
    metrics?.resultUndeliverable(result.kind, String(code ?? 'none'));
  }
}
