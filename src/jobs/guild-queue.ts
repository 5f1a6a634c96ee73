/**
 * GuildQueue: fairness between guilds, caps, queue positions and job bookkeeping, kept in Redis beside the
 * BullMQ queue that actually hands jobs to workers.
 *
 * ## Fairness with open-source BullMQ: priorities as rounds
 *
 * BullMQ OSS has no per-group round robin, but it does pop the lowest `priority` first and is FIFO within one
 * priority. So every job gets a priority that is a *round* number, like a round-robin tournament:
 *
 * - `B:round` is the virtual time: the round of the job that most recently started rendering (first start only;
 *   retries and resumes do not move it). When nothing is waiting it resets to 1.
 * - A job of a guild that has jobs *waiting* goes one round after the guild's latest job
 *   (`max(current, last + 1)`), so a guild's own jobs stay first come first served and occupy one slot per round.
 * - A job of a guild with nothing waiting but one rendering goes to round `current + 1`: it has just been served.
 * - A job of an idle guild goes to the current round: behind the jobs already in that round, ahead of every
 *   later round.
 * - Recent use pushes a guild back: each guild keeps a decayed count of its submits (`n`, half-life
 *   `usageHalfLifeMs`), and its job goes at least `min(floor(n / usageAllowance), maxUsageRounds)` rounds after
 *   the current one. A busy guild with nothing waiting at the moment (its jobs arrive a few seconds apart and
 *   each starts at once) would otherwise share the current round with the quiet guilds every time, which is
 *   plain FIFO; pushed back, it waits behind the quiet guilds' jobs that arrive before one of its own starts.
 *   The allowance keeps quiet guilds (a job now and then) at no push: pushing them too would only reorder
 *   them among themselves and lengthen their tail. At the fleet bench's load (8 workers at 90%, 5 of 500
 *   guilds 10x busier) the quiet guilds' p95 wait is 1.12x what their own traffic alone gives in the model of
 *   this order (`npm run bench:queue-order`; 1.52x without the push, 2.06x first come first served) and
 *   1.63-1.76x in the fleet bench (README, "Scaling out").
 *
 * Example: guild A queues 20 jobs (rounds 1..20) and A1 starts; B's first job gets round 1 and is next, before A2.
 * If no worker has started anything yet, B1 shares round 1 with A1 and goes right after it. Either way B waits
 * behind at most one of A's jobs per worker, which is the requirement. Ordering costs what BullMQ's prioritized
 * add costs, O(log n); there is no dispatcher process and no extra connection per guild.
 *
 * A pushed-back job is never starved while the workers keep up: it starts once the rounds before it drain,
 * and the rounds drain whenever the queue does.
 *
 * Rounds only grow while jobs keep waiting, and reset when the queue drains; BullMQ caps priorities at 2^21 - 1, so
 * only two million job starts without the queue ever being empty would clamp rounds at the cap (jobs then stay
 * FIFO, just no longer interleaved).
 *
 * ## Bookkeeping and atomicity
 *
 * Each transition is one Lua script, so checks and writes cannot interleave with another client:
 * - `reserve`: check the global, guild, user and member-in-guild caps, assign the id and the round, record the
 *   job in the waiting / outstanding sets. A refusal writes nothing. The producer then adds the BullMQ job with
 *   `priority = round`, and calls `release` if that add fails.
 * - `hold`: the same cap check for a request that will submit in a moment (the bot holds a place before it
 *   acknowledges the interaction, so it can refuse privately). Live holds count against every cap; `reserve`
 *   under the held id fills the place without checking again; a hold that is never filled expires.
 * - `start` (worker, when a render begins), `requeue` (handed back, or waiting for a retry), `finish` (done,
 *   failed or cancelled: leaves every set, stores the outcome and appends the result to the result stream
 *   exactly once, guarded by the `delivered` field).
 * - `position`: two ZRANKs, O(log n), cheap enough for every progress update.
 *
 * Our waiting sets are scored `round * 2^32 + seq`, the same order BullMQ's prioritized set uses
 * (`priority * 2^32 + counter`), so a rank here is the job's place in BullMQ's queue.
 */
import type { Redis } from 'ioredis';
import type { QueueCaps, QueueFairness } from './config.ts';
import { FINISHED_STATES, type JobKind, type JobOutcome, type JobResult, type JobSpec, type JobState } from './contract.ts';
import { SubmitRefusedError } from './errors.ts';
import { JobKeys } from './keys.ts';
import { LuaScript } from './redis.ts';

/** BullMQ's largest priority (it refuses anything above 2^21 - 1). */
export const MAX_ROUND = 2 ** 21 - 1;

/**
 * Counting under the caps, shared by `hold` and `reserve`: outstanding jobs plus live holds (requests that
 * have been checked and are still on their way to a submit). Expired holds are dropped as they are met.
 */
const CAP_COUNTS = `
local function liveHolds(key, now)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  return redis.call('ZCARD', key)
end
-- Returns nil when under every cap, else {reason, count, cap}.
local function overCap(B, guild, user, capGuild, capUser, capTotal, capMember, now)
  local holds, gHolds, uHolds = B .. ':holds', B .. ':guild:' .. guild .. ':holds', B .. ':user:' .. user .. ':holds'
  local gOutstanding, uOutstanding = B .. ':guild:' .. guild .. ':outstanding', B .. ':user:' .. user .. ':outstanding'
  local total = redis.call('ZCARD', B .. ':outstanding') + liveHolds(holds, now)
  if total >= capTotal then return {'QUEUE_FULL', tostring(total), tostring(capTotal)} end
  local g = redis.call('ZCARD', gOutstanding) + liveHolds(gHolds, now)
  if g >= capGuild then return {'GUILD_CAP', tostring(g), tostring(capGuild)} end
  local u = redis.call('SCARD', uOutstanding) + liveHolds(uHolds, now)
  if u >= capUser then return {'USER_CAP', tostring(u), tostring(capUser)} end
  if capMember > 0 then
    -- The member's jobs and holds in this guild: their own sets are small (at most the user cap).
    local m = 0
    for _, id in ipairs(redis.call('SMEMBERS', uOutstanding)) do
      if redis.call('ZSCORE', gOutstanding, id) then m = m + 1 end
    end
    for _, id in ipairs(redis.call('ZRANGE', uHolds, 0, -1)) do
      if redis.call('ZSCORE', gHolds, id) then m = m + 1 end
    end
    if m >= capMember then return {'MEMBER_CAP', tostring(m), tostring(capMember)} end
  end
  return nil
end
local function dropHold(B, guild, user, id)
  redis.call('ZREM', B .. ':holds', id)
  redis.call('ZREM', B .. ':guild:' .. guild .. ':holds', id)
  redis.call('ZREM', B .. ':user:' .. user .. ':holds', id)
end
`;

const HOLD = new LuaScript(
  'hold',
  `${CAP_COUNTS}
local B, id, guild, user = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local capGuild, capUser, capTotal, capMember = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local now, ttl = tonumber(ARGV[9]), tonumber(ARGV[10])
if redis.call('EXISTS', B .. ':meta:' .. id) == 1 then return {'DUPLICATE'} end
dropHold(B, guild, user, id)
local over = overCap(B, guild, user, capGuild, capUser, capTotal, capMember, now)
if over then return over end
for _, key in ipairs({B .. ':holds', B .. ':guild:' .. guild .. ':holds', B .. ':user:' .. user .. ':holds'}) do
  redis.call('ZADD', key, now + ttl, id)
  redis.call('PEXPIRE', key, ttl * 2)
end
return {'OK'}
`,
);

const RELEASE_HOLD = new LuaScript(
  'release-hold',
  `${CAP_COUNTS}
dropHold(ARGV[1], ARGV[2], ARGV[3], ARGV[4])
return 1
`,
);

const RESERVE = new LuaScript(
  'reserve',
  `${CAP_COUNTS}
local B, id, guild, user, kind, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local capGuild, capUser, capTotal = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local maxRound, bypass, channel, spec = tonumber(ARGV[10]), ARGV[11] == '1', ARGV[12], ARGV[13]
local capMember, clock = tonumber(ARGV[14]), tonumber(ARGV[15])
local halfLife, allowance, maxUsageRounds = tonumber(ARGV[16]), tonumber(ARGV[17]), tonumber(ARGV[18])
local waiting, outstanding = B .. ':waiting', B .. ':outstanding'
local gWaiting, gOutstanding = B .. ':guild:' .. guild .. ':waiting', B .. ':guild:' .. guild .. ':outstanding'
local uOutstanding = B .. ':user:' .. user .. ':outstanding'

if id ~= '' and redis.call('EXISTS', B .. ':meta:' .. id) == 1 then
  return {'DUPLICATE', id}
end
-- A live hold under this id passed the caps when it was taken: this submit is that place, now filled.
local held = false
if id ~= '' then
  local until_ = redis.call('ZSCORE', B .. ':holds', id)
  held = until_ ~= false and tonumber(until_) > clock
  dropHold(B, guild, user, id)
end
if not bypass and not held then
  local over = overCap(B, guild, user, capGuild, capUser, capTotal, capMember, clock)
  if over then return over end
end

local seq = redis.call('INCR', B .. ':seq')
if id == '' then id = 'j' .. seq end

local current
if redis.call('ZCARD', waiting) == 0 then
  current = 1
  redis.call('SET', B .. ':round', 1)
else
  current = tonumber(redis.call('GET', B .. ':round') or '1')
end
-- Recent use: a count of the guild's submits that halves every halfLife ms (one small key per guild, gone
-- once the count has decayed to nothing).
local push = 0
if halfLife > 0 and maxUsageRounds > 0 then
  local usageKey = B .. ':guild:' .. guild .. ':usage'
  local u = redis.call('HMGET', usageKey, 'n', 't')
  local n = tonumber(u[1] or '0') * math.pow(0.5, math.max(0, clock - tonumber(u[2] or clock)) / halfLife)
  push = math.min(maxUsageRounds, math.floor(n / allowance))
  redis.call('HSET', usageKey, 'n', tostring(n + 1), 't', clock)
  redis.call('PEXPIRE', usageKey, math.floor(halfLife * 12))
end
local round = current + push
if redis.call('ZCARD', gWaiting) > 0 then
  local last = tonumber(redis.call('HGET', B .. ':guild-rounds', guild) or '0')
  if last + 1 > round then round = last + 1 end
elseif redis.call('ZCARD', gOutstanding) > 0 then
  if current + 1 > round then round = current + 1 end
end
if round > maxRound then round = maxRound end
redis.call('HSET', B .. ':guild-rounds', guild, round)

-- %.0f: exact for scores below 2^53 (tostring would round to 14 digits)
local score = string.format('%.0f', round * 4294967296 + (seq % 4294967296))
redis.call('ZADD', waiting, score, id)
redis.call('ZADD', gWaiting, score, id)
redis.call('ZADD', outstanding, score, id)
redis.call('ZADD', gOutstanding, score, id)
redis.call('SADD', uOutstanding, id)
redis.call('HSET', B .. ':meta:' .. id, 'guild', guild, 'user', user, 'channel', channel, 'kind', kind,
  'round', round, 'score', score, 'state', 'waiting', 'createdAt', now, 'starts', 0, 'spec', spec)
return {'OK', id, tostring(round), tostring(redis.call('ZRANK', waiting, id) + 1),
  tostring(redis.call('ZRANK', gWaiting, id) + 1)}
`,
);

/** Undo a reservation whose BullMQ add failed: as if the submit never happened (no result is published). */
const RELEASE = new LuaScript(
  'release',
  `
local B, id = ARGV[1], ARGV[2]
local meta = B .. ':meta:' .. id
local guild, user = redis.call('HGET', meta, 'guild'), redis.call('HGET', meta, 'user')
if not guild then return 0 end
redis.call('ZREM', B .. ':waiting', id)
redis.call('ZREM', B .. ':outstanding', id)
redis.call('ZREM', B .. ':guild:' .. guild .. ':waiting', id)
redis.call('ZREM', B .. ':guild:' .. guild .. ':outstanding', id)
redis.call('SREM', B .. ':user:' .. user .. ':outstanding', id)
redis.call('DEL', meta)
return 1
`,
);

const START = new LuaScript(
  'start',
  `
local B, id, now, worker = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local meta = B .. ':meta:' .. id
if redis.call('EXISTS', meta) == 0 then return {'MISSING'} end
local state = redis.call('HGET', meta, 'state')
if state == 'done' or state == 'failed' or state == 'cancelled' then
  return {'FINISHED', state, redis.call('HGET', meta, 'outcome') or ''}
end
local guild = redis.call('HGET', meta, 'guild')
redis.call('ZREM', B .. ':waiting', id)
redis.call('ZREM', B .. ':guild:' .. guild .. ':waiting', id)
redis.call('ZADD', B .. ':active', now, id)
local starts = redis.call('HINCRBY', meta, 'starts', 1)
if starts == 1 then
  -- Only first starts move the virtual time: a resumed or retried job carries an old round.
  redis.call('SET', B .. ':round', redis.call('HGET', meta, 'round'))
end
redis.call('HSET', meta, 'state', 'active', 'startedAt', now, 'worker', worker)
return {'OK', tostring(redis.call('EXISTS', B .. ':cancel:' .. id)), tostring(starts)}
`,
);

const REQUEUE = new LuaScript(
  'requeue',
  `
local B, id, state, mode, lock = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local meta = B .. ':meta:' .. id
local current = redis.call('HGET', meta, 'state')
if not current or current == 'done' or current == 'failed' or current == 'cancelled' then return 0 end
-- The BullMQ lock of the job, when given: if a worker holds it again, the job is not waiting.
if lock ~= '' and redis.call('EXISTS', lock) == 1 then return 0 end
local guild = redis.call('HGET', meta, 'guild')
local score = redis.call('HGET', meta, 'score')
local round = tonumber(redis.call('HGET', meta, 'round'))
-- Where BullMQ puts it back: a hand-back goes to the front of its round, a stalled job to the plain wait
-- list, which is served before every prioritized job.
if mode == 'front-of-round' then score = string.format('%.0f', round * 4294967296) elseif mode == 'front' then score = '0' end
redis.call('ZREM', B .. ':active', id)
redis.call('ZADD', B .. ':waiting', score, id)
redis.call('ZADD', B .. ':guild:' .. guild .. ':waiting', score, id)
redis.call('HSET', meta, 'state', state)
return 1
`,
);

const FINISH = new LuaScript(
  'finish',
  `
local B, id, state, outcome, result, now, ttl, maxLen = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local meta = B .. ':meta:' .. id
if redis.call('EXISTS', meta) == 0 then return {'MISSING'} end
if redis.call('HEXISTS', meta, 'delivered') == 1 then
  return {'ALREADY', redis.call('HGET', meta, 'state'), redis.call('HGET', meta, 'outcome') or ''}
end
local guild, user = redis.call('HGET', meta, 'guild'), redis.call('HGET', meta, 'user')
redis.call('ZREM', B .. ':waiting', id)
redis.call('ZREM', B .. ':active', id)
redis.call('ZREM', B .. ':outstanding', id)
redis.call('ZREM', B .. ':guild:' .. guild .. ':waiting', id)
redis.call('ZREM', B .. ':guild:' .. guild .. ':outstanding', id)
redis.call('SREM', B .. ':user:' .. user .. ':outstanding', id)
redis.call('DEL', B .. ':cancel:' .. id, B .. ':frames:' .. id, B .. ':preview:' .. id)
redis.call('HSET', meta, 'state', state, 'finishedAt', now, 'outcome', outcome, 'delivered', '1')
redis.call('PEXPIRE', meta, ttl)
local entry = redis.call('XADD', B .. ':results', 'MAXLEN', '~', maxLen, '*', 'jobId', id, 'result', result)
return {'OK', entry}
`,
);

const POSITION = new LuaScript(
  'position',
  `
local B, id = ARGV[1], ARGV[2]
local meta = B .. ':meta:' .. id
local state = redis.call('HGET', meta, 'state')
if not state then return {'UNKNOWN'} end
local guild = redis.call('HGET', meta, 'guild')
local gWaiting = B .. ':guild:' .. guild .. ':waiting'
local rank = redis.call('ZRANK', B .. ':waiting', id)
local gRank = redis.call('ZRANK', gWaiting, id)
return {state, guild, tostring(rank or -1), tostring(gRank or -1), tostring(redis.call('ZCARD', B .. ':waiting')),
  tostring(redis.call('ZCARD', gWaiting)), tostring(redis.call('ZCARD', B .. ':active'))}
`,
);

export interface Reservation {
  jobId: string;
  /** The BullMQ priority. */
  round: number;
  /** 1-based place among all waiting jobs, and among the guild's. */
  position: number;
  positionInGuild: number;
  /** A job with this id already existed; nothing new was queued. */
  duplicate: boolean;
}

export interface JobPosition {
  jobId: string;
  state: JobState;
  guildId: string;
  /** 1-based place among all waiting jobs (absent unless waiting). */
  position?: number;
  /** 1-based place among the guild's waiting jobs (absent unless waiting). */
  positionInGuild?: number;
  waitingTotal: number;
  waitingInGuild: number;
  rendering: number;
}

export interface JobRecord {
  jobId: string;
  state: JobState;
  guildId: string;
  userId: string;
  channelId: string;
  kind: JobKind;
  round: number;
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  starts: number;
  worker?: string;
  outcome?: JobOutcome;
  /** The job as submitted (for cancelling before BullMQ has it, and for retries). */
  spec?: JobSpec;
}

export type StartResult =
  | { kind: 'started'; cancelRequested: boolean; starts: number }
  | { kind: 'finished'; state: JobState; outcome: JobOutcome | undefined }
  | { kind: 'missing' };

export type FinishResult =
  | { kind: 'delivered'; entryId: string }
  | { kind: 'already'; state: JobState; outcome: JobOutcome | undefined }
  | { kind: 'missing' };

export interface GuildQueueOptions {
  prefix: string;
  caps: QueueCaps;
  /** Recent use pushing a guild's jobs back; unset: off (plain rounds). */
  fairness?: QueueFairness;
  /** How long a finished job's record stays readable. */
  finishedTtlMs: number;
  resultsMaxLen: number;
}

export class GuildQueue {
  readonly keys: JobKeys;

  constructor(
    private readonly redis: Redis,
    private readonly options: GuildQueueOptions,
  ) {
    this.keys = new JobKeys(options.prefix);
  }

  /**
   * Checks the caps and reserves a place; throws SubmitRefusedError with the reason when over a cap. A live
   * hold under `jobId` (see `hold`) already passed them and becomes this job. `memberCap`: the most jobs the
   * requester may have in this guild (a guild's own setting; 0 for none).
   */
  async reserve(spec: JobSpec, options: { jobId?: string; bypassCaps?: boolean; memberCap?: number } = {}): Promise<Reservation> {
    const { caps } = this.options;
    const reply = await RESERVE.run<string[]>(this.redis, [], [
      this.keys.base,
      options.jobId ?? '',
      spec.guildId,
      spec.requesterId,
      spec.kind,
      spec.createdAt,
      caps.perGuild,
      caps.perUser,
      caps.total,
      MAX_ROUND,
      options.bypassCaps ? '1' : '0',
      spec.channelId,
      JSON.stringify(spec),
      options.memberCap ?? 0,
      Date.now(),
      this.options.fairness?.usageHalfLifeMs ?? 0,
      this.options.fairness?.usageAllowance ?? 1,
      this.options.fairness?.maxUsageRounds ?? 0,
    ]);
    const [status, a, b, c, d] = reply;
    switch (status) {
      case 'OK':
        return { jobId: a!, round: Number(b), position: Number(c), positionInGuild: Number(d), duplicate: false };
      case 'DUPLICATE': {
        const where = await this.position(a!);
        return {
          jobId: a!,
          round: 0,
          position: where?.position ?? 0,
          positionInGuild: where?.positionInGuild ?? 0,
          duplicate: true,
        };
      }
      default:
        throw capRefusal(reply);
    }
  }

  /**
   * Takes a place under the caps for a submit about to happen under `holdId` (its job id), so that a request
   * still being acknowledged counts against the caps: check and place are one step, so any number of
   * simultaneous requests get no more places than the caps leave. The place lasts `ttlMs` unless the submit
   * fills it first (a holder that dies loses it). Throws SubmitRefusedError when over a cap.
   */
  async hold(request: { holdId: string; guildId: string; userId: string; memberCap?: number }, ttlMs: number): Promise<void> {
    const { caps } = this.options;
    const reply = await HOLD.run<string[]>(this.redis, [], [
      this.keys.base,
      request.holdId,
      request.guildId,
      request.userId,
      caps.perGuild,
      caps.perUser,
      caps.total,
      request.memberCap ?? 0,
      Date.now(),
      ttlMs,
    ]);
    if (reply[0] === 'OK' || reply[0] === 'DUPLICATE') return;
    throw capRefusal(reply);
  }

  /** Gives a hold back (the request will not be submitted after all). */
  async releaseHold(holdId: string, guildId: string, userId: string): Promise<void> {
    await RELEASE_HOLD.run(this.redis, [], [this.keys.base, guildId, userId, holdId]);
  }

  async release(jobId: string): Promise<void> {
    await RELEASE.run(this.redis, [], [this.keys.base, jobId]);
  }

  /** A worker begins (or resumes) a render. Idempotent for a job that already finished. */
  async start(jobId: string, workerId: string, now = Date.now()): Promise<StartResult> {
    const [status, a, b] = await START.run<string[]>(this.redis, [], [this.keys.base, jobId, now, workerId]);
    if (status === 'MISSING') return { kind: 'missing' };
    if (status === 'FINISHED') return { kind: 'finished', state: a as JobState, outcome: parseOutcome(b) };
    return { kind: 'started', cancelRequested: a === '1', starts: Number(b) };
  }

  /**
   * The job is back in BullMQ's waiting lists: handed back at shutdown (`front-of-round`), moved back by
   * the stalled checker (`front`), or waiting out a retry delay (`in-place`, shown as `retrying`).
   * `unlessLocked`: a lock key; nothing changes if it exists (a worker already took the job again).
   */
  async requeue(jobId: string, mode: 'front-of-round' | 'front' | 'in-place', unlessLocked?: string): Promise<void> {
    const state = mode === 'in-place' ? 'retrying' : 'waiting';
    await REQUEUE.run(this.redis, [], [this.keys.base, jobId, state, mode, unlessLocked ?? '']);
  }

  /** Ends the job and publishes its result, exactly once however many workers or retries get here. */
  async finish(result: JobResult): Promise<FinishResult> {
    const state: JobState = result.outcome.status;
    const reply = await FINISH.run<string[]>(this.redis, [], [
      this.keys.base,
      result.jobId,
      state,
      JSON.stringify(result.outcome),
      JSON.stringify(result),
      result.finishedAt,
      this.options.finishedTtlMs,
      this.options.resultsMaxLen,
    ]);
    const [status, a, b] = reply;
    if (status === 'OK') return { kind: 'delivered', entryId: a! };
    if (status === 'ALREADY') return { kind: 'already', state: a as JobState, outcome: parseOutcome(b) };
    return { kind: 'missing' };
  }

  /** Where a job stands: state, place overall and within its guild. Two ZRANKs; undefined if unknown. */
  async position(jobId: string): Promise<JobPosition | undefined> {
    const reply = await POSITION.run<string[]>(this.redis, [], [this.keys.base, jobId]);
    if (reply[0] === 'UNKNOWN') return undefined;
    const [state, guildId, rank, guildRank, waitingTotal, waitingInGuild, rendering] = reply;
    const position: JobPosition = {
      jobId,
      state: state as JobState,
      guildId: guildId!,
      waitingTotal: Number(waitingTotal),
      waitingInGuild: Number(waitingInGuild),
      rendering: Number(rendering),
    };
    if (Number(rank) >= 0) position.position = Number(rank) + 1;
    if (Number(guildRank) >= 0) position.positionInGuild = Number(guildRank) + 1;
    return position;
  }

  async record(jobId: string): Promise<JobRecord | undefined> {
    const fields = await this.redis.hgetall(this.keys.meta(jobId));
    return toRecord(jobId, fields);
  }

  async isCancelRequested(jobId: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.cancelFlag(jobId))) === 1;
  }

  /** Marks the job for cancellation and tells every worker; the one rendering it aborts. */
  async requestCancel(jobId: string, ttlMs: number): Promise<void> {
    await this.redis.multi().set(this.keys.cancelFlag(jobId), '1', 'PX', ttlMs).publish(this.keys.cancelChannel, jobId).exec();
  }

  /**
   * Jobs not yet finished, rendering first then waiting in queue order, optionally for one guild. `limit` caps
   * the waiting part.
   */
  async listOutstanding(options: { guildId?: string; limit?: number } = {}): Promise<JobRecord[]> {
    const limit = options.limit ?? 100;
    const waitingKey = options.guildId ? this.keys.guildWaiting(options.guildId) : this.keys.waiting;
    const outstandingKey = options.guildId ? this.keys.guildOutstanding(options.guildId) : this.keys.outstanding;
    const [active, waiting] = await Promise.all([
      this.redis.zrange(this.keys.active, 0, -1),
      this.redis.zrange(waitingKey, 0, limit - 1),
    ]);
    const activeHere = options.guildId
      ? (await Promise.all(active.map(async (id) => ((await this.redis.zscore(outstandingKey, id)) !== null ? id : undefined)))).filter(
          (id): id is string => id !== undefined,
        )
      : active;
    const ids = [...activeHere, ...waiting];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hgetall(this.keys.meta(id));
    const replies = (await pipeline.exec()) ?? [];
    return ids
      .map((id, index) => toRecord(id, (replies[index]?.[1] ?? {}) as Record<string, string>))
      .filter((record): record is JobRecord => record !== undefined);
  }

  /** Ids of every waiting-or-rendering job (for reconciliation). */
  async outstandingIds(): Promise<string[]> {
    return this.redis.zrange(this.keys.outstanding, 0, -1);
  }
}

/** The refusal for a cap script's `{reason, count, cap}` reply. */
function capRefusal(reply: string[]): Error {
  const [status, a, b] = reply;
  const details = { count: Number(a), limit: Number(b) };
  switch (status) {
    case 'QUEUE_FULL':
      return new SubmitRefusedError('QUEUE_FULL', `the render queue is full (${a} of ${b} jobs); try again in a few minutes`, details);
    case 'GUILD_CAP':
      return new SubmitRefusedError('GUILD_CAP', `this server already has ${a} renders queued (the limit is ${b}); wait for some to finish or cancel one`, details);
    case 'USER_CAP':
      return new SubmitRefusedError('USER_CAP', `you already have ${a} renders queued (the limit is ${b}); wait for one to finish or cancel one`, details);
    case 'MEMBER_CAP':
      return new SubmitRefusedError('MEMBER_CAP', `you already have ${a} renders queued in this server (it allows ${b}); wait for one to finish or cancel one`, details);
    default:
      return new Error(`unexpected reply from a cap script: ${JSON.stringify(reply)}`);
  }
}

function toRecord(jobId: string, fields: Record<string, string>): JobRecord | undefined {
  if (!fields.state) return undefined;
  const record: JobRecord = {
    jobId,
    state: fields.state as JobState,
    guildId: fields.guild ?? '',
    userId: fields.user ?? '',
    channelId: fields.channel ?? '',
    kind: fields.kind as JobKind,
    round: Number(fields.round ?? 0),
    createdAt: Number(fields.createdAt ?? 0),
    starts: Number(fields.starts ?? 0),
  };
  if (fields.startedAt) record.startedAt = Number(fields.startedAt);
  if (fields.finishedAt) record.finishedAt = Number(fields.finishedAt);
  if (fields.worker) record.worker = fields.worker;
  const outcome = parseOutcome(fields.outcome);
  if (outcome) record.outcome = outcome;
  if (fields.spec) {
    try {
      record.spec = JSON.parse(fields.spec) as JobSpec;
    } catch {
      // a damaged record still lists; it just cannot be retried
    }
  }
  return record;
}

function parseOutcome(json: string | undefined): JobOutcome | undefined {
  if (!json) return undefined;
  try {
    return JSON.parse(json) as JobOutcome;
  } catch {
    return undefined;
  }
}

export function isFinishedState(state: JobState): boolean {
  return FINISHED_STATES.includes(state);
}
