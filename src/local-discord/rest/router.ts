/**
 * A small REST router for `/api[/v{n}]/...`: route templates with `:params`, Bot-token auth per route,
 * Discord's JSON errors, rate limits (ratelimits.ts: Discord's buckets, global limit and 429s when enabled;
 * otherwise generous headers, so @discordjs/rest never waits), an optional latency per call, and a log of
 * every request for tests. Unknown routes answer 404 and are logged, so a missing route shows up at once.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError, Errors } from '../errors.ts';
import type { FaultInjector } from '../faults.ts';
import type { LogFn, RecordedRequest } from '../types.ts';
import { parseBody, type ParsedBody } from './multipart.ts';
import { rateLimitBody, type RateLimiter } from './ratelimits.ts';

export interface RouteRequest {
  method: string;
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  body: ParsedBody;
  authorized: boolean;
}

export interface RouteResult {
  status: number;
  json?: unknown;
}

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** e.g. `/channels/:channelId/messages/:messageId`; literal segments must match exactly. */
  pattern: string;
  /** Requires `Authorization: Bot <token>`. */
  auth: boolean;
  handle(req: RouteRequest): RouteResult | Promise<RouteResult>;
}

export interface RouterOptions {
  /** The bot token `Authorization: Bot` must carry (a function: it can be reset). */
  token: () => string;
  now: () => number;
  log: LogFn;
  record: (request: RecordedRequest) => void;
  /** Largest request body accepted (Discord refuses more than 25 MiB per message; allow for boosts). */
  maxBodyBytes: number;
  /** Failures asked for by a test; checked after auth, before the route runs. */
  faults?: FaultInjector;
  /** Discord's rate limits; absent: none, and headers that never make a client wait. */
  rateLimits?: RateLimiter;
  /** Milliseconds each call waits before it is handled (a network's round trip, for deadline tests). */
  latencyMs?: () => number;
}

export const ok = (json: unknown): RouteResult => ({ status: 200, json });
export const noContent = (): RouteResult => ({ status: 204 });

export class Router {
  constructor(
    private readonly routes: Route[],
    private readonly options: RouterOptions,
  ) {}

  /** `apiPath` is the path after `/api` (with or without the `/v10` prefix), query included. */
  async handle(req: IncomingMessage, res: ServerResponse, apiPath: string): Promise<void> {
    const url = new URL(apiPath, 'http://local');
    const path = url.pathname.replace(/^\/v\d+(?=\/|$)/, '') || '/';
    const method = (req.method ?? 'GET').toUpperCase();
    const latency = this.options.latencyMs?.() ?? 0;
    if (latency > 0) await sleep(latency);
    const authorized = req.headers.authorization === `Bot ${this.options.token()}`;
    const at = this.options.now();
    const segments = path.split('/').slice(1).map(safeDecode);
    const decodedPath = `/${segments.join('/')}`;
    let route: Route | undefined;
    let body: ParsedBody = { json: undefined, files: [] };
    let result: RouteResult;
    let headers: Record<string, string> | undefined = this.options.rateLimits ? {} : undefined;
    let scope: string | undefined;
    try {
      const candidates = this.routes
        .map((r) => ({ route: r, params: match(r.pattern, segments) }))
        .filter((c): c is { route: Route; params: Record<string, string> } => c.params !== null);
      const found = candidates.find((c) => c.route.method === method);
      if (!found) {
        this.options.log('warn', `local-discord: no route for ${method} ${decodedPath}`);
        throw candidates.length ? Errors.methodNotAllowed() : Errors.notFound();
      }
      route = found.route;
      if (route.auth && !authorized) throw Errors.unauthorized();
      body = await parseBody(req.headers['content-type'], await readBody(req, this.options.maxBodyBytes));
      const verdict = this.options.rateLimits?.check({ method, route: route.pattern, params: found.params, authorized });
      if (verdict) headers = verdict.headers;
      if (verdict?.limited) {
        const { retryAfterS, global } = verdict.limited;
        scope = verdict.limited.scope;
        headers = { ...verdict.headers, 'Retry-After': String(Math.max(1, Math.ceil(retryAfterS))) };
        throw new RateLimited(retryAfterS, global);
      }
      const fault = this.options.faults?.check({ method, route: route.pattern, params: found.params, body: body.json, fileCount: body.files.length });
      if (fault) throw fault;
      result = await route.handle({ method, path: decodedPath, params: found.params, query: url.searchParams, body, authorized });
    } catch (err) {
      if (err instanceof RateLimited) {
        result = { status: 429, json: rateLimitBody(err.retryAfterS, err.global) };
      } else if (err instanceof ApiError) {
        result = { status: err.status, json: err.toJSON() };
      } else {
        this.options.log('warn', `local-discord: ${method} ${decodedPath} failed: ${(err as Error).stack ?? String(err)}`);
        result = { status: 500, json: { message: '500: Internal Server Error', code: 0 } };
      }
    }
    this.options.record({
      method,
      route: route?.pattern ?? decodedPath,
      path: decodedPath,
      query: Object.fromEntries(url.searchParams),
      status: result.status,
      body: body.json,
      files: body.files.map((f) => ({ field: f.field, filename: f.filename, size: f.data.length, contentType: f.contentType })),
      authorized,
      at,
      ...(result.status >= 400 && isCoded(result.json) ? { errorCode: result.json.code } : {}),
    });
    this.options.rateLimits?.record(result.status, scope);
    this.#write(res, result, route?.pattern ?? 'unknown', headers);
  }

  #write(res: ServerResponse, result: RouteResult, bucket: string, headers: Record<string, string> | undefined): void {
    if (headers) {
      for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    } else {
      const nowSeconds = Date.now() / 1000;
      res.setHeader('X-RateLimit-Limit', '50');
      res.setHeader('X-RateLimit-Remaining', '49');
      res.setHeader('X-RateLimit-Reset', (nowSeconds + 1).toFixed(3));
      res.setHeader('X-RateLimit-Reset-After', '1.000');
      res.setHeader('X-RateLimit-Bucket', Buffer.from(bucket).toString('base64url').slice(0, 32));
    }
    if (result.status === 204 || result.json === undefined) {
      res.writeHead(result.status === 200 ? 204 : result.status);
      res.end();
      return;
    }
    const text = JSON.stringify(result.json);
    res.writeHead(result.status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }
}

class RateLimited extends Error {
  constructor(
    readonly retryAfterS: number,
    readonly global: boolean,
  ) {
    super('rate limited');
  }
}

function isCoded(v: unknown): v is { code: number } {
  return typeof v === 'object' && v !== null && typeof (v as { code?: unknown }).code === 'number';
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment); // `%40original` -> `@original`
  } catch {
    return segment;
  }
}

function match(pattern: string, segments: string[]): Record<string, string> | null {
  const parts = pattern.split('/').slice(1);
  if (parts.length !== segments.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i += 1) {
    const part = parts[i]!;
    const segment = segments[i]!;
    if (part.startsWith(':')) {
      if (!segment) return null;
      params[part.slice(1)] = segment;
    } else if (part !== segment) {
      return null;
    }
  }
  return params;
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw Errors.tooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
