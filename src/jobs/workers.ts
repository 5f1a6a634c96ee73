/**
 * Live render workers and the model each one serves, kept in one Redis hash (`B:workers`, worker id → JSON).
 * Workers announce themselves at start and every few seconds, and withdraw on a clean stop; an entry not
 * refreshed within the TTL is a worker that died and is ignored (and pruned). The bot reads it to refuse, with
 * an ephemeral answer, what no live worker can render (a size a fixed-size model cannot take) before queueing.
 *
 * A worker whose model declares a vocabulary or suggestions (latentwalk.json) publishes them once as a
 * lexicon (`B:lexicon:<id>`, the id naming the model and hashing the content, so workers of one model share
 * it) and names it in its announcement; the bot reads it to suggest prompts as members type. The key's TTL is
 * refreshed with every announcement, so it outlives its last worker by at most a TTL.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { JobKeys } from './keys.ts';

export interface WorkerAnnouncement {
  id: string;
  /** The model's name (e.g. "shapes"). */
  model: string;
  /** Set when the model renders one size only (its transformer has fixed latent dims). */
  fixedSize?: { width: number; height: number };
  /** The id of the model's lexicon (WorkerDirectory.lexicon), when its pack declares one. */
  lexicon?: string;
  /** When the worker last announced itself (ms since the epoch). */
  seenAt: number;
}

/** How often a worker refreshes its entry, and how long an entry counts as live without a refresh. */
export const WORKER_ANNOUNCE_INTERVAL_MS = 10_000;
export const WORKER_ANNOUNCE_TTL_MS = 3 * WORKER_ANNOUNCE_INTERVAL_MS;

/** What a small model knows, as its pack's latentwalk.json declares it. */
export interface ModelLexicon {
  /** The model's name. */
  model: string;
  /** Every word its captions used. */
  vocabulary?: string[];
  /** Prompts to suggest, most common first. */
  suggestions?: string[];
}

/** How long a published lexicon lives without a refresh. */
export const LEXICON_TTL_MS = 2 * WORKER_ANNOUNCE_TTL_MS;

/** `<model>-<16 hex of the content's SHA-256>`, safe in a key name. */
export function lexiconId(lexicon: ModelLexicon): string {
  const hash = createHash('sha256').update(JSON.stringify([lexicon.model, lexicon.vocabulary ?? [], lexicon.suggestions ?? []])).digest('hex');
  const name = lexicon.model.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 40);
  return `${name}-${hash.slice(0, 16)}`;
}

export class WorkerDirectory {
  constructor(
    private readonly redis: Redis,
    private readonly keys: JobKeys,
    private readonly ttlMs = WORKER_ANNOUNCE_TTL_MS,
  ) {}

  async announce(worker: Omit<WorkerAnnouncement, 'seenAt'>, now = Date.now()): Promise<void> {
    await this.redis.hset(this.keys.workers, worker.id, JSON.stringify({ ...worker, seenAt: now }));
  }

  /** Stores a lexicon under its id (with the TTL) and returns the id to announce. */
  async publishLexicon(lexicon: ModelLexicon): Promise<string> {
    const id = lexiconId(lexicon);
    await this.redis.set(this.keys.lexicon(id), JSON.stringify(lexicon), 'PX', LEXICON_TTL_MS);
    return id;
  }

  /** Extends a published lexicon's life; publishes it again when Redis lost it (a restart without AOF). */
  async refreshLexicon(lexicon: ModelLexicon): Promise<void> {
    const kept = await this.redis.pexpire(this.keys.lexicon(lexiconId(lexicon)), LEXICON_TTL_MS);
    if (kept === 0) await this.publishLexicon(lexicon);
  }

  /** A published lexicon, or undefined when it is gone or unreadable. */
  async lexicon(id: string): Promise<ModelLexicon | undefined> {
    const json = await this.redis.get(this.keys.lexicon(id));
    return json === null ? undefined : parseLexicon(json);
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
    const lexicon = typeof v.lexicon === 'string' && v.lexicon.length > 0 ? v.lexicon : undefined;
    return { id: v.id, model: v.model, seenAt: v.seenAt, ...(fixedSize ? { fixedSize } : {}), ...(lexicon ? { lexicon } : {}) };
  } catch {
    return undefined;
  }
}

function stringList(value: unknown): string[] | undefined {
  return Array.isArray(value) ? value.filter((s): s is string => typeof s === 'string' && s.length > 0) : undefined;
}

function parseLexicon(json: string): ModelLexicon | undefined {
  try {
    const v = JSON.parse(json) as Record<string, unknown>;
    if (typeof v['model'] !== 'string') return undefined;
    const vocabulary = stringList(v['vocabulary']);
    const suggestions = stringList(v['suggestions']);
    return { model: v['model'], ...(vocabulary ? { vocabulary } : {}), ...(suggestions ? { suggestions } : {}) };
  } catch {
    return undefined;
  }
}
