/**
 * Live render workers and the model each one serves, kept in one Redis hash (`B:workers`, worker id → JSON).
 * Workers announce themselves at start and every few seconds, and withdraw on a clean stop; an entry not
 * refreshed within the TTL is a worker that died and is ignored (and pruned). The bot reads it to refuse, with
 * an ephemeral answer, what no live worker can render (a size a fixed-size model cannot take) before queueing.
 */
import type { Redis } from 'ioredis';
import type { JobKeys } from './keys.ts';

export interface WorkerAnnouncement {
  id: string;
  /** The model's name (e.g. "shapes"). */
  model: string;
  /** Set when the model renders one size only (its transformer has fixed latent dims). */
  fixedSize?: { width: number; height: number };
  /** When the worker last announced itself (ms since the epoch). */
  seenAt: number;
}

/** How often a worker refreshes its entry, and how long an entry counts as live without a refresh. */
export const WORKER_ANNOUNCE_INTERVAL_MS = 10_000;
export const WORKER_ANNOUNCE_TTL_MS = 3 * WORKER_ANNOUNCE_INTERVAL_MS;

export class WorkerDirectory {
  constructor(
    private readonly redis: Redis,
    private readonly keys: JobKeys,
    private readonly ttlMs = WORKER_ANNOUNCE_TTL_MS,
  ) {}

  async announce(worker: Omit<WorkerAnnouncement, 'seenAt'>, now = Date.now()): Promise<void> {
    await this.redis.hset(this.keys.workers, worker.id, JSON.stringify({ ...worker, seenAt: now }));
  }

  async withdraw(id: string): Promise<void> {
    await this.redis.hdel(this.keys.workers, id);
  }

  /** Workers that announced themselves within the TTL; older entries are pruned. */
  async live(now = Date.now()): Promise<WorkerAnnouncement[]> {
    const entries = await this.redis.hgetall(this.keys.workers);
    const live: WorkerAnnouncement[] = [];
    const stale: string[] = [];
    for (const [id, json] of Object.entries(entries)) {
      const entry = parseAnnouncement(json);
      if (entry && now - entry.seenAt <= this.ttlMs) live.push(entry);
      else stale.push(id);
    }
    if (stale.length > 0) await this.redis.hdel(this.keys.workers, ...stale);
    return live.sort((a, b) => a.id.localeCompare(b.id));
  }
}

/**
 * Why a square `size` cannot be rendered by any of these workers, or undefined when one can (or none is
 * live: the job then waits for a worker, which checks the size itself).
 */
export function sizeUnavailable(workers: readonly WorkerAnnouncement[], size: number): string | undefined {
  if (workers.length === 0) return undefined;
  const fits = (w: WorkerAnnouncement) => !w.fixedSize || (w.fixedSize.width === size && w.fixedSize.height === size);
  if (workers.some(fits)) return undefined;
  const offers = [...new Map(workers.map((w) => [`${w.model} ${w.fixedSize!.width}x${w.fixedSize!.height}`, w])).values()];
  if (offers.length === 1) {
    const { model, fixedSize } = offers[0]!;
    const square = fixedSize!.width === fixedSize!.height ? ` or use size:${fixedSize!.width}` : '';
    return `size ${size} is not available: this bot's model '${model}' renders ${fixedSize!.width}x${fixedSize!.height} only; leave size out${square}.`;
  }
  const list = offers.map((w) => `'${w.model}' ${w.fixedSize!.width}x${w.fixedSize!.height}`).join(', ');
  return `size ${size} is not available: this bot's models render fixed sizes only (${list}); leave size out.`;
}

function parseAnnouncement(json: string): WorkerAnnouncement | undefined {
  try {
    const v = JSON.parse(json) as Partial<WorkerAnnouncement>;
    if (typeof v.id !== 'string' || typeof v.model !== 'string' || typeof v.seenAt !== 'number') return undefined;
    const f = v.fixedSize;
    const fixedSize = f && Number.isInteger(f.width) && Number.isInteger(f.height) ? { width: f.width, height: f.height } : undefined;
    return { id: v.id, model: v.model, seenAt: v.seenAt, ...(fixedSize ? { fixedSize } : {}) };
  } catch {
    return undefined;
  }
}
