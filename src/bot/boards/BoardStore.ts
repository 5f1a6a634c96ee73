/**
 * Collaboration boards in Redis: a `/grid` with missing corners, or a `/morph` without its destination,
 * waiting for members of the channel to fill the empty slots through a button and a modal. A `/chain` is a
 * board too (its slots are its stops, as many as are in; ChainStore.ts changes them), so opening, the cap on
 * open boards, cancelling and expiry are the same for every kind.
 *
 * Layout (`P` = the Redis prefix):
 * - `P:bot:board:<id>` hash: the board's fields, and `slot:<i>` = JSON `{text, userId, viaModal}` per filled slot;
 * - `P:bot:board:<id>:users` set: members who filled a slot through the modal (the one-slot-per-member rule);
 * - `P:bot:boards:expiry` zset: open boards by expiry time (the sweeper closes and announces them);
 * - `P:bot:boards:open:<guild>:<member>` zset: the member's open boards in that guild by expiry time (the
 *   cap on open boards per member; a board leaves it when it completes, is cancelled or expires).
 *
 * Every transition is one Lua script, so checking and writing cannot interleave with another bot process or
 * another click: two members submitting for the last free slot at the same moment both run `claim`, Redis runs
 * them one after the other, and exactly one gets the slot (`COMPLETE`); the other gets `FULL`. The one that
 * completes the board is the one that queues its job, so a board is queued once.
 */
import type { Redis } from 'ioredis';
import type { JobRenderSettings } from '../../jobs/index.ts';
import { LuaScript } from '../../jobs/redis.ts';

export type BoardKind = 'grid' | 'morph' | 'chain';
export type BoardStatus = 'open' | 'complete' | 'cancelled' | 'expired';

export interface BoardSlot {
  text: string;
  userId: string;
  /** Filled through the modal (counts for the one-slot-per-member rule); false for the starter's own options. */
  viaModal: boolean;
  /** A chain stop's picture, parked with InputImageStore (the text says what it shows). */
  image?: StopPicture;
  /** With `image`: how much of it is redrawn. */
  strength?: number;
}

export interface StopPicture {
  key: string;
  bytes: number;
  name: string;
}

export interface Board {
  id: string;
  kind: BoardKind;
  guildId: string;
  channelId: string;
  starterId: string;
  slots: (BoardSlot | undefined)[];
  /** Members may fill more than one slot. */
  allowMultiple: boolean;
  /** Chains: the stops it takes before it closes by itself (its slots are the stops in so far). */
  maxStops?: number;
  status: BoardStatus;
  createdAt: number;
  expiresAt: number;
  /** Render settings chosen by the starter (seed included). */
  settings: Partial<JobRenderSettings> & { seed: number };
  maxBytes: number;
  applicationId: string;
  /** The starter's interaction (it can edit the board message until it expires). */
  interactionToken?: string;
  tokenExpiresAt: number;
  messageId?: string;
  jobId?: string;
  closedBy?: string;
  closedAt?: number;
}

export type ClaimResult =
  | { kind: 'ok'; slot: number; board: Board }
  /** This claim filled the last slot: the caller queues the job. */
  | { kind: 'complete'; slot: number; board: Board }
  | { kind: 'full' }
  | { kind: 'already' }
  | { kind: 'expired' }
  | { kind: 'cancelled' }
  | { kind: 'gone' };

export type CloseResult = { kind: 'ok'; board: Board } | { kind: 'closed'; status: BoardStatus } | { kind: 'open' } | { kind: 'gone' };

/** The member's open boards key, from the board hash (the starter's boards in its guild). */
export const OPEN_KEY = `
local function openKey(openBase, key)
  return openBase .. (redis.call('HGET', key, 'guildId') or '') .. ':' .. (redis.call('HGET', key, 'starterId') or '')
end
`;

const CREATE = new LuaScript(
  'board-create',
  `
local key, users, zkey, open, id = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local now, expiresAt, keepMs, cap = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
redis.call('ZREMRANGEBYSCORE', open, '-inf', now)
redis.call('ZREM', open, id)
local count = redis.call('ZCARD', open)
if count >= cap then return {'TOO_MANY', tostring(count)} end
redis.call('DEL', key, users)
for i = 10, #ARGV, 2 do redis.call('HSET', key, ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', key, keepMs)
redis.call('ZADD', zkey, expiresAt, id)
redis.call('ZADD', open, expiresAt, id)
redis.call('PEXPIRE', open, keepMs)
return {'OK'}
`,
);

const CLAIM = new LuaScript(
  'board-claim',
  `${OPEN_KEY}
local key, users, user, slotJson, now, zkey, id, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6], ARGV[7], tonumber(ARGV[8])
local openBase = ARGV[9]
if redis.call('EXISTS', key) == 0 then return {'GONE'} end
local status = redis.call('HGET', key, 'status')
if status ~= 'open' then return {'CLOSED', status} end
if now >= tonumber(redis.call('HGET', key, 'expiresAt')) then return {'CLOSED', 'expired'} end
local multi = redis.call('HGET', key, 'allowMultiple') == '1'
if (not multi) and redis.call('SISMEMBER', users, user) == 1 then return {'ALREADY'} end
local n = tonumber(redis.call('HGET', key, 'slotCount'))
local free = -1
local filled = 0
for i = 0, n - 1 do
  if redis.call('HEXISTS', key, 'slot:' .. i) == 1 then
    filled = filled + 1
  elseif free < 0 then
    free = i
  end
end
if free < 0 then return {'CLOSED', 'complete'} end
redis.call('HSET', key, 'slot:' .. free, slotJson)
redis.call('SADD', users, user)
redis.call('EXPIRE', users, ttl)
if filled + 1 == n then
  redis.call('HSET', key, 'status', 'complete', 'closedAt', tostring(now), 'closedBy', user)
  redis.call('ZREM', zkey, id)
  redis.call('ZREM', openKey(openBase, key), id)
  return {'COMPLETE', tostring(free)}
end
return {'OK', tostring(free)}
`,
);

const CLOSE = new LuaScript(
  'board-close',
  `${OPEN_KEY}
local key, zkey, id, newStatus, now, onlyIfExpired, by = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6] == '1', ARGV[7]
local openBase = ARGV[8]
if redis.call('EXISTS', key) == 0 then
  redis.call('ZREM', zkey, id)
  return {'GONE'}
end
local status = redis.call('HGET', key, 'status')
if status ~= 'open' then
  redis.call('ZREM', zkey, id)
  return {'CLOSED', status}
end
if onlyIfExpired and now < tonumber(redis.call('HGET', key, 'expiresAt')) then return {'OPEN'} end
redis.call('HSET', key, 'status', newStatus, 'closedAt', tostring(now), 'closedBy', by)
redis.call('ZREM', zkey, id)
redis.call('ZREM', openKey(openBase, key), id)
return {'OK'}
`,
);

/** Boards are kept this long after they expire (for late clicks to get a clear answer). */
const KEEP_AFTER_EXPIRY_MS = 7 * 24 * 3600_000;

export interface NewBoard {
  id: string;
  kind: BoardKind;
  guildId: string;
  channelId: string;
  starterId: string;
  /** Slot contents given by the starter in the command (undefined = open slot). */
  slots: (string | undefined)[];
  allowMultiple: boolean;
  /** Chains: see Board. */
  maxStops?: number;
  ttlMs: number;
  settings: Board['settings'];
  maxBytes: number;
  applicationId: string;
  interactionToken: string;
  tokenExpiresAt: number;
}

export class BoardStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  key(id: string): string {
    return `${this.prefix}:bot:board:${id}`;
  }
  private usersKey(id: string): string {
    return `${this.key(id)}:users`;
  }
  /** Open boards by expiry time (the sweeper's). */
  get expiryKey(): string {
    return `${this.prefix}:bot:boards:expiry`;
  }
  /** Prefix of the per-member open boards keys (OPEN_KEY's `openBase`). */
  get openBase(): string {
    return `${this.prefix}:bot:boards:open:`;
  }

  /**
   * Stores a new open board, unless its starter already has `maxOpen` open boards in that guild (checked
   * and written in one step); returns the board, or how many the starter has open.
   */
  async create(input: NewBoard, maxOpen: number, now = Date.now()): Promise<{ kind: 'ok'; board: Board } | { kind: 'too-many'; open: number }> {
    const expiresAt = now + input.ttlMs;
    const fields: Record<string, string> = {
      id: input.id,
      kind: input.kind,
      guildId: input.guildId,
      channelId: input.channelId,
      starterId: input.starterId,
      slotCount: String(input.slots.length),
      allowMultiple: input.allowMultiple ? '1' : '0',
      status: 'open',
      createdAt: String(now),
      expiresAt: String(expiresAt),
      settings: JSON.stringify(input.settings),
      maxBytes: String(input.maxBytes),
      applicationId: input.applicationId,
      interactionToken: input.interactionToken,
      tokenExpiresAt: String(input.tokenExpiresAt),
    };
    if (input.maxStops !== undefined) fields['maxStops'] = String(input.maxStops);
    input.slots.forEach((text, index) => {
      if (text !== undefined) fields[`slot:${index}`] = JSON.stringify({ text, userId: input.starterId, viaModal: false } satisfies BoardSlot);
    });
    const key = this.key(input.id);
    const keepMs = input.ttlMs + KEEP_AFTER_EXPIRY_MS;
    const reply = await CREATE.run<string[]>(this.redis, [], [
      key,
      this.usersKey(input.id),
      this.expiryKey,
      `${this.openBase}${input.guildId}:${input.starterId}`,
      input.id,
      now,
      expiresAt,
      keepMs,
      maxOpen,
      ...Object.entries(fields).flat(),
    ]);
    if (reply[0] === 'TOO_MANY') return { kind: 'too-many', open: Number(reply[1]) };
    return { kind: 'ok', board: (await this.get(input.id))! };
  }

  async get(id: string): Promise<Board | undefined> {
    return decodeBoard(await this.redis.hgetall(this.key(id)));
  }

  /** Puts `text` by `userId` into the first free slot, atomically; see the file comment. */
  async claim(id: string, userId: string, text: string, now = Date.now()): Promise<ClaimResult> {
    const slot = JSON.stringify({ text, userId, viaModal: true } satisfies BoardSlot);
    const ttlS = Math.ceil(KEEP_AFTER_EXPIRY_MS / 1000) + 24 * 3600;
    const reply = await CLAIM.run<string[]>(this.redis, [], [
      this.key(id),
      this.usersKey(id),
      userId,
      slot,
      now,
      this.expiryKey,
      id,
      ttlS,
      this.openBase,
    ]);
    switch (reply[0]) {
      case 'OK':
      case 'COMPLETE': {
        const board = await this.get(id);
        if (!board) return { kind: 'gone' };
        return { kind: reply[0] === 'OK' ? 'ok' : 'complete', slot: Number(reply[1]), board };
      }
      case 'ALREADY':
        return { kind: 'already' };
      case 'CLOSED':
        if (reply[1] === 'expired') return { kind: 'expired' };
        if (reply[1] === 'cancelled') return { kind: 'cancelled' };
        return { kind: 'full' };
      default:
        return { kind: 'gone' };
    }
  }

  /** Closes an open board as cancelled (by its starter) or expired (only once its time has passed). */
  async close(id: string, status: 'cancelled' | 'expired', by: string, now = Date.now()): Promise<CloseResult> {
    const reply = await CLOSE.run<string[]>(this.redis, [], [this.key(id), this.expiryKey, id, status, now, status === 'expired' ? '1' : '0', by, this.openBase]);
    switch (reply[0]) {
      case 'OK': {
        const board = await this.get(id);
        return board ? { kind: 'ok', board } : { kind: 'gone' };
      }
      case 'CLOSED':
        return { kind: 'closed', status: reply[1] as BoardStatus };
      case 'OPEN':
        return { kind: 'open' };
      default:
        return { kind: 'gone' };
    }
  }

  /** Ids of open boards whose time is up. */
  async dueForExpiry(now = Date.now(), limit = 50): Promise<string[]> {
    return this.redis.zrangebyscore(this.expiryKey, '-inf', now, 'LIMIT', 0, limit);
  }

  async setMessageId(id: string, messageId: string): Promise<void> {
    if ((await this.redis.exists(this.key(id))) === 1) await this.redis.hset(this.key(id), 'messageId', messageId);
  }

  async setJobId(id: string, jobId: string): Promise<void> {
    if ((await this.redis.exists(this.key(id))) === 1) await this.redis.hset(this.key(id), 'jobId', jobId);
  }

  async dropToken(id: string): Promise<void> {
    await this.redis.hdel(this.key(id), 'interactionToken');
  }
}

function decodeBoard(fields: Record<string, string>): Board | undefined {
  if (!fields['id'] || !fields['kind']) return undefined;
  try {
    const count = Number(fields['slotCount'] ?? 0);
    const slots: (BoardSlot | undefined)[] = [];
    for (let i = 0; i < count; i++) {
      const raw = fields[`slot:${i}`];
      slots.push(raw ? (JSON.parse(raw) as BoardSlot) : undefined);
    }
    const board: Board = {
      id: fields['id'],
      kind: fields['kind'] as BoardKind,
      guildId: fields['guildId'] ?? '',
      channelId: fields['channelId'] ?? '',
      starterId: fields['starterId'] ?? '',
      slots,
      allowMultiple: fields['allowMultiple'] === '1',
      status: (fields['status'] ?? 'open') as BoardStatus,
      createdAt: Number(fields['createdAt'] ?? 0),
      expiresAt: Number(fields['expiresAt'] ?? 0),
      settings: JSON.parse(fields['settings'] ?? '{"seed":0}') as Board['settings'],
      maxBytes: Number(fields['maxBytes'] ?? 0),
      applicationId: fields['applicationId'] ?? '',
      tokenExpiresAt: Number(fields['tokenExpiresAt'] ?? 0),
    };
    if (fields['interactionToken']) board.interactionToken = fields['interactionToken'];
    if (fields['messageId']) board.messageId = fields['messageId'];
    if (fields['jobId']) board.jobId = fields['jobId'];
    if (fields['closedBy']) board.closedBy = fields['closedBy'];
    if (fields['closedAt']) board.closedAt = Number(fields['closedAt']);
    if (fields['maxStops']) board.maxStops = Number(fields['maxStops']);
    return board;
  } catch {
    return undefined;
  }
}

/** Contributors of a board in slot order, each once. */
export function boardContributors(board: Board): string[] {
  const seen: string[] = [];
  for (const slot of board.slots) if (slot && !seen.includes(slot.userId)) seen.push(slot.userId);
  return seen;
}
