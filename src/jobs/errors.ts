/**
 * Errors of the job layer. Each `message` is one line a user or operator can act on; the bot shows
 * SubmitRefusedError messages to the requester as they are.
 */

export type SubmitRefusalReason =
  /** The request breaks the contract or a configured limit (frames, steps, size, prompt length...). */
  | 'INVALID'
  /** The guild already has its maximum of queued or rendering jobs. */
  | 'GUILD_CAP'
  /** The requester already has their maximum of queued or rendering jobs. */
  | 'USER_CAP'
  /** The requester already has the guild's own maximum of jobs in that guild (a per-guild setting). */
  | 'MEMBER_CAP'
  /** The whole queue is full. */
  | 'QUEUE_FULL'
  /** Redis could not be reached; nothing was queued. */
  | 'UNAVAILABLE';

export class SubmitRefusedError extends Error {
  readonly reason: SubmitRefusalReason;
  /** For INVALID: the field that is wrong, as a dotted path (`settings.frames`, `prompts.1.text`). */
  readonly field?: string;
  /** For the caps: how many there are, and the cap. */
  readonly count?: number;
  readonly limit?: number;

  constructor(reason: SubmitRefusalReason, message: string, options?: { field?: string; cause?: unknown; count?: number; limit?: number }) {
    super(message, { cause: options?.cause });
    this.name = 'SubmitRefusedError';
    this.reason = reason;
    if (options?.field !== undefined) this.field = options.field;
    if (options?.count !== undefined) this.count = options.count;
    if (options?.limit !== undefined) this.limit = options.limit;
  }
}

export class JobNotFoundError extends Error {
  readonly jobId: string;
  constructor(jobId: string) {
    super(`no job ${jobId} (it may have finished more than a week ago, or the id is mistyped)`);
    this.name = 'JobNotFoundError';
    this.jobId = jobId;
  }
}

/** The Redis server is reachable but not safe for BullMQ (too old, evicting keys...). */
export class RedisUnusableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RedisUnusableError';
  }
}

/** Retrying or fetching something that is not in a state that allows it. */
export class JobStateError extends Error {
  readonly jobId: string;
  readonly state: string;
  constructor(jobId: string, state: string, message: string) {
    super(message);
    this.name = 'JobStateError';
    this.jobId = jobId;
    this.state = state;
  }
}
