/**
 * Discord's REST rate limits, enforced: per-route buckets, the global limit, and the count of invalid requests.
 *
 * - A bucket is a fixed window (`limit` requests, then 429 until it resets), kept per top-level resource (the
 *   route's channel, guild, or webhook id + token), as Discord keys them. Routes that share a bucket name it.
 * - The global limit counts every request made with the bot token (50 a second); interaction callbacks and
 *   webhook routes carry no bot token, so they are outside it, as Discord says of interaction endpoints.
 * - A 429 looks like Discord's: `{ message, retry_after (seconds, float), global }`, `Retry-After` in whole
 *   seconds rounded up, `X-RateLimit-Scope` (user, global or shared), `X-RateLimit-Global` on a global one.
 *   Every answer on a bucketed route carries `X-RateLimit-Limit/Remaining/Reset/Reset-After/Bucket`, so a
 *   client that reads them (@discordjs/rest does) waits instead of running into 429s.
 * - 401, 403 and 429 answers (not 429s of a shared bucket) are invalid requests; Discord bans an IP for a while
 *   past 10,000 of them in 10 minutes, so the server counts them over a sliding 10 minutes.
 *
 * Discord publishes no numbers beyond the global 50/s; the default buckets are the ones bots observe (message
 * create 5 per 5 s per channel, webhook/interaction-token routes 5 per 2 s) and generous elsewhere.
 */
import { createHash } from 'node:crypto';

export interface BucketRule {
  /** Names the bucket (its `X-RateLimit-Bucket` is a hash of it). */
  name: string;
  /** `METHOD /route/:template` pairs that share the bucket; `* /route` for any method. */
  routes: string[];
  limit: number;
  windowMs: number;
  /** `shared` buckets answer 429s with `X-RateLimit-Scope: shared`, which Discord does not count as invalid. */
  scope?: 'user' | 'shared';
}

export interface RateLimitOptions {
  /** Requests per window with the bot token (Discord: 50 a second); false: no global limit. */
  global?: { limit: number; windowMs: number } | false;
  /** Buckets checked in order (the first rule that lists the route wins); default DISCORD_BUCKETS. */
  buckets?: BucketRule[];
  /** Every other bot-token route: its own bucket per route and resource (default 50 per second). */
  otherRoutes?: { limit: number; windowMs: number };
  /** Routes outside every bucket (default: interaction callbacks, one call per interaction anyway). */
  unlimited?: string[];
}

export const DISCORD_BUCKETS: BucketRule[] = [
  { name: 'channel-message-create', routes: ['POST /channels/:channelId/messages'], limit: 5, windowMs: 5_000 },
  {
    name: 'channel-message-edit',
    routes: ['PATCH /channels/:channelId/messages/:messageId', 'DELETE /channels/:channelId/messages/:messageId'],
    limit: 5,
    windowMs: 5_000,
  },
  {
    name: 'webhook',
    routes: [
      '* /webhooks/:applicationId/:token',
      '* /webhooks/:applicationId/:token/messages/:messageId',
    ],
    limit: 5,
    windowMs: 2_000,
  },
];

const UNLIMITED = ['POST /interactions/:interactionId/:token/callback'];

export interface RateLimitRequest {
  method: string;
  /** Route template, e.g. `/channels/:channelId/messages`. */
  route: string;
  params: Record<string, string>;
  /** Carried the bot token (counts against the global limit). */
  authorized: boolean;
}

export interface RateLimitVerdict {
  /** Headers for the answer, whatever it is. */
  headers: Record<string, string>;
  /** Set when the request must be refused with 429. */
  limited?: { retryAfterS: number; global: boolean; scope: 'user' | 'global' | 'shared' };
}

export interface RateLimitStats {
  /** 429s answered, all of them. */
  rateLimited: number;
  /** Of which global. */
  globalLimited: number;
  /** 401/403/429 answers in the last 10 minutes (429s of shared buckets left out), as Discord counts them. */
  invalidLast10Min: number;
  /** 401/403/429 answers since the start. */
  invalidTotal: number;
}

interface Window {
  count: number;
  resetAt: number;
}

const INVALID_WINDOW_MS = 10 * 60_000;

export class RateLimiter {
  readonly #buckets: BucketRule[];
  readonly #global: { limit: number; windowMs: number } | false;
  readonly #other: { limit: number; windowMs: number };
  readonly #unlimited: Set<string>;
  readonly #windows = new Map<string, Window>();
  #globalWindow: Window = { count: 0, resetAt: 0 };
  readonly #invalidAt: number[] = [];
  #invalidTotal = 0;
  #rateLimited = 0;
  #globalLimited = 0;

  constructor(
    options: RateLimitOptions,
    private readonly now: () => number,
  ) {
    this.#buckets = options.buckets ?? DISCORD_BUCKETS;
    this.#global = options.global ?? { limit: 50, windowMs: 1000 };
    this.#other = options.otherRoutes ?? { limit: 50, windowMs: 1000 };
    this.#unlimited = new Set(options.unlimited ?? UNLIMITED);
  }

  /** Counts the request against its bucket and the global limit, or says it must be refused. */
  check(request: RateLimitRequest): RateLimitVerdict {
    const now = this.now();
    const key = `${request.method} ${request.route}`;
    if (this.#unlimited.has(key)) return { headers: {} };
    const rule = this.#ruleFor(request);
    const window = this.#window(`${rule.name}\u0000${majorOf(request)}`, rule.windowMs, now);
    const headers = bucketHeaders(rule, window, now);
    if (window.count >= rule.limit) {
      this.#rateLimited += 1;
      const scope = rule.scope ?? 'user';
      return { headers: { ...headers, 'X-RateLimit-Scope': scope }, limited: { retryAfterS: (window.resetAt - now) / 1000, global: false, scope } };
    }
    if (request.authorized && this.#global) {
      if (this.#globalWindow.resetAt <= now) this.#globalWindow = { count: 0, resetAt: now + this.#global.windowMs };
      if (this.#globalWindow.count >= this.#global.limit) {
        this.#rateLimited += 1;
        this.#globalLimited += 1;
        return {
          headers: { 'X-RateLimit-Global': 'true', 'X-RateLimit-Scope': 'global' },
          limited: { retryAfterS: (this.#globalWindow.resetAt - now) / 1000, global: true, scope: 'global' },
        };
      }
      this.#globalWindow.count += 1;
    }
    window.count += 1;
    return { headers: bucketHeaders(rule, window, now) };
  }

  /** Notes an answer's status (401, 403 and 429 are invalid requests, except 429s of a shared bucket). */
  record(status: number, scope?: string): void {
    if (status !== 401 && status !== 403 && status !== 429) return;
    if (status === 429 && scope === 'shared') return;
    this.#invalidTotal += 1;
    this.#invalidAt.push(this.now());
    this.#trimInvalid();
  }

  stats(): RateLimitStats {
    this.#trimInvalid();
    return { rateLimited: this.#rateLimited, globalLimited: this.#globalLimited, invalidLast10Min: this.#invalidAt.length, invalidTotal: this.#invalidTotal };
  }

  #trimInvalid(): void {
    const since = this.now() - INVALID_WINDOW_MS;
    let drop = 0;
    while (drop < this.#invalidAt.length && this.#invalidAt[drop]! <= since) drop += 1;
    if (drop > 0) this.#invalidAt.splice(0, drop);
  }

  #ruleFor(request: RateLimitRequest): BucketRule {
    for (const rule of this.#buckets) {
      for (const entry of rule.routes) {
        const [method, route] = entry.split(' ');
        if (route === request.route && (method === '*' || method === request.method)) return rule;
      }
    }
    return { name: `${request.method} ${request.route}`, routes: [], ...this.#other };
  }

  #window(key: string, windowMs: number, now: number): Window {
    let window = this.#windows.get(key);
    if (!window || window.resetAt <= now) {
      window = { count: 0, resetAt: now + windowMs };
      this.#windows.set(key, window);
      // Old windows go once the map grows (a long playground session touches many channels).
      if (this.#windows.size > 10_000) for (const [k, w] of this.#windows) if (w.resetAt <= now) this.#windows.delete(k);
    }
    return window;
  }
}

/** Discord keys buckets by the top-level resource in the path: a channel, a guild, or a webhook with its token. */
function majorOf(request: RateLimitRequest): string {
  const { params } = request;
  if (request.route.startsWith('/webhooks/')) return `webhook:${params.applicationId ?? params.webhookId ?? ''}/${params.token ?? ''}`;
  if (params.channelId) return `channel:${params.channelId}`;
  if (params.guildId) return `guild:${params.guildId}`;
  return 'global';
}

function bucketHeaders(rule: BucketRule, window: Window, now: number): Record<string, string> {
  const resetAfter = Math.max(0, window.resetAt - now) / 1000;
  return {
    'X-RateLimit-Limit': String(rule.limit),
    'X-RateLimit-Remaining': String(Math.max(0, rule.limit - window.count)),
    'X-RateLimit-Reset': (window.resetAt / 1000).toFixed(3),
    'X-RateLimit-Reset-After': resetAfter.toFixed(3),
    'X-RateLimit-Bucket': createHash('sha1').update(rule.name).digest('hex').slice(0, 32),
  };
}

/** Discord's 429 body. */
export function rateLimitBody(retryAfterS: number, global: boolean): Record<string, unknown> {
  return { message: 'You are being rate limited.', retry_after: Math.round(retryAfterS * 1000) / 1000, global };
}
