/**
 * The changes a `/chain` board takes, each one Lua script over the board's hash (BoardStore.ts's layout: its
 * slots are the stops in so far, in order, `slotCount` of them, and `maxStops` says when it is full):
 *
 * - setStop: a member's one stop, added at the end, changed in place, or taken out (an empty stop) with the
 *   stops after it moving up; the stop that makes it full closes it (`complete`), so exactly one submit queues
 *   its job, however many arrive at once;
 * - move: the starter swaps a stop with the one before it;
 * - close: the starter closes it with the stops it has (two at least), and its job is queued.
 *
 * Cancelling and expiry are every board's (BoardStore.close and the sweeper).
 */
import type { Redis } from 'ioredis';
import { LuaScript } from '../../jobs/redis.ts';
import { OPEN_KEY, type Board, type BoardSlot, type BoardStatus, type BoardStore, type StopPicture } from './BoardStore.ts';

/** The checks every change starts with: the board is there, open, and its time is not up. */
const OPEN_CHECK = `
if redis.call('EXISTS', key) == 0 then return {'GONE'} end
local status = redis.call('HGET', key, 'status')
if status ~= 'open' then return {'CLOSED', status} end
if now >= tonumber(redis.call('HGET', key, 'expiresAt')) then return {'CLOSED', 'expired'} end
local n = tonumber(redis.call('HGET', key, 'slotCount') or '0')
`;

/** Marks the board complete and takes it off the expiry and open-board sets. */
const COMPLETE = `
local function complete(key, zkey, openBase, id, now, by)
  redis.call('HSET', key, 'status', 'complete', 'closedAt', tostring(now), 'closedBy', by)
  redis.call('ZREM', zkey, id)
  redis.call('ZREM', openKey(openBase, key), id)
end
`;

const SET_STOP = new LuaScript(
  'chain-set-stop',
  `${OPEN_KEY}${COMPLETE}
local key, zkey, openBase, id, user, stop, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7])
${OPEN_CHECK}
local max = tonumber(redis.call('HGET', key, 'maxStops') or '0')
local mine = -1
for i = 0, n - 1 do
  local raw = redis.call('HGET', key, 'slot:' .. i)
  -- The stop's JSON has its author as "userId":"<id>" (quotes inside a prompt are escaped, so no prompt matches).
  if raw and string.find(raw, '"userId":"' .. user .. '"', 1, true) then
    mine = i
    break
  end
end
if stop == '' then
  if mine < 0 then return {'NONE'} end
  for i = mine, n - 2 do redis.call('HSET', key, 'slot:' .. i, redis.call('HGET', key, 'slot:' .. (i + 1))) end
  redis.call('HDEL', key, 'slot:' .. (n - 1))
  redis.call('HSET', key, 'slotCount', tostring(n - 1))
  return {'REMOVED', tostring(mine)}
end
if mine >= 0 then
  redis.call('HSET', key, 'slot:' .. mine, stop)
  return {'CHANGED', tostring(mine)}
end
if n >= max then return {'CLOSED', 'complete'} end
redis.call('HSET', key, 'slot:' .. n, stop, 'slotCount', tostring(n + 1))
if n + 1 >= max then
  complete(key, zkey, openBase, id, now, user)
  return {'COMPLETE', tostring(n)}
end
return {'ADDED', tostring(n)}
`,
);

const MOVE_UP = new LuaScript(
  'chain-move-up',
  `
local key, index, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
${OPEN_CHECK}
if index < 1 or index >= n then return {'NO_STOP', tostring(n)} end
local above = redis.call('HGET', key, 'slot:' .. (index - 1))
redis.call('HSET', key, 'slot:' .. (index - 1), redis.call('HGET', key, 'slot:' .. index), 'slot:' .. index, above)
return {'OK'}
`,
);

const CLOSE = new LuaScript(
  'chain-close',
  `${OPEN_KEY}${COMPLETE}
local key, zkey, openBase, id, by, now, least = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])
${OPEN_CHECK}
if n < least then return {'TOO_FEW', tostring(n)} end
complete(key, zkey, openBase, id, now, by)
return {'OK'}
`,
);

/** Why a change was not made: the board is gone, or no longer open (and how it ended). */
export type ChainClosed = { kind: 'gone' } | { kind: 'closed'; status: Exclude<BoardStatus, 'open'> };

export type SetStopResult =
  /** The stop is in at `index`: added, changed in place, or (`removed`) taken out from there. */
  | { kind: 'added' | 'changed' | 'removed'; index: number; board: Board }
  /** This stop filled the chain: the caller queues its job. */
  | { kind: 'complete'; index: number; board: Board }
  /** An empty stop from a member who had none. */
  | { kind: 'none' }
  | ChainClosed;

export type MoveResult = { kind: 'ok'; board: Board } | { kind: 'no-stop'; stops: number } | ChainClosed;
export type ChainCloseResult = { kind: 'ok'; board: Board } | { kind: 'too-few'; stops: number } | ChainClosed;

/** The fewest stops a chain renders with. */
export const CHAIN_MIN_STOPS = 2;

export class ChainStore {
  constructor(
    private readonly redis: Redis,
    private readonly boards: BoardStore,
  ) {}

  /** The member's stop: `text` (and a picture it starts from), or undefined to take their stop out. */
  async setStop(id: string, userId: string, text: string | undefined, now = Date.now(), picture?: { image: StopPicture; strength?: number }): Promise<SetStopResult> {
    const stop = text === undefined ? '' : JSON.stringify({ text, userId, viaModal: true, ...(picture ?? {}) } satisfies BoardSlot);
    const reply = await SET_STOP.run<string[]>(this.redis, [], [this.boards.key(id), this.boards.expiryKey, this.boards.openBase, id, userId, stop, now]);
    switch (reply[0]) {
      case 'ADDED':
      case 'CHANGED':
      case 'REMOVED':
      case 'COMPLETE': {
        const board = await this.boards.get(id);
        if (!board) return { kind: 'gone' };
        return { kind: reply[0].toLowerCase() as 'added' | 'changed' | 'removed' | 'complete', index: Number(reply[1]), board };
      }
      case 'NONE':
        return { kind: 'none' };
      default:
        return closedOf(reply);
    }
  }

  /** Swaps stop `index` (0-based, at least 1) with the one before it. Who may is the caller's to check. */
  async moveUp(id: string, index: number, now = Date.now()): Promise<MoveResult> {
    const reply = await MOVE_UP.run<string[]>(this.redis, [], [this.boards.key(id), index, now]);
    if (reply[0] === 'OK') {
      const board = await this.boards.get(id);
      return board ? { kind: 'ok', board } : { kind: 'gone' };
    }
    if (reply[0] === 'NO_STOP') return { kind: 'no-stop', stops: Number(reply[1]) };
    return closedOf(reply);
  }

  /** Closes the chain with the stops it has, if it has at least CHAIN_MIN_STOPS; `by` closed it. */
  async close(id: string, by: string, now = Date.now()): Promise<ChainCloseResult> {
    const reply = await CLOSE.run<string[]>(this.redis, [], [this.boards.key(id), this.boards.expiryKey, this.boards.openBase, id, by, now, CHAIN_MIN_STOPS]);
    if (reply[0] === 'OK') {
      const board = await this.boards.get(id);
      return board ? { kind: 'ok', board } : { kind: 'gone' };
    }
    if (reply[0] === 'TOO_FEW') return { kind: 'too-few', stops: Number(reply[1]) };
    return closedOf(reply);
  }
}

function closedOf(reply: string[]): ChainClosed {
  if (reply[0] === 'CLOSED') return { kind: 'closed', status: (reply[1] ?? 'expired') as Exclude<BoardStatus, 'open'> };
  return { kind: 'gone' };
}
