/**
 * The ops endpoint of one process: `GET /metrics` (Prometheus text format) and `GET /healthz` (200 when every
 * check passes, 503 otherwise; the body says which check failed). Opt-in: started only when
 * LATENTWALK_METRICS_PORT is set. Listens on LATENTWALK_METRICS_HOST (127.0.0.1 by default; 0.0.0.0 in
 * containers so Prometheus and the container healthcheck can reach it).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BaseMetrics } from './metrics.ts';

export interface HealthReport {
  ok: boolean;
  /** Each check: true when fine, otherwise false or a short reason. */
  checks: Record<string, boolean | string>;
}

export type HealthCheck = () => HealthReport | Promise<HealthReport>;

/** Combines named checks into a report: ok when every check is `true`. */
export function healthReport(checks: Record<string, boolean | string>): HealthReport {
  return { ok: Object.values(checks).every((value) => value === true), checks };
}

/** The bot is healthy when Redis and the Discord gateway are connected and it is not stopping. */
export function botHealth(state: { redis: boolean; discord: boolean; stopping: boolean } | undefined): HealthReport {
  if (!state) return healthReport({ redis: 'starting', discord: 'starting' });
  return healthReport({
    redis: state.redis || 'not connected',
    discord: state.discord || 'gateway not ready',
    ...(state.stopping ? { accepting: 'stopping' } : {}),
  });
}

/** The worker is healthy when its model is loaded, its Redis connections are up and it takes jobs. */
export function workerHealth(modelLoaded: boolean, state: { redis: boolean; accepting: boolean } | undefined): HealthReport {
  return healthReport({
    model: modelLoaded || 'loading',
    redis: state ? state.redis || 'not connected' : 'not connected yet',
    accepting: state ? state.accepting || 'stopping' : 'starting',
  });
}

export interface OpsServerOptions {
  port: number;
  host: string;
  metrics?: BaseMetrics | undefined;
  health: HealthCheck;
  /** Added to /healthz answers (service, worker id...). */
  info?: Record<string, string>;
}

export interface OpsServer {
  readonly port: number;
  /** http://host:port (with 127.0.0.1 for a wildcard host). */
  readonly url: string;
  close(): Promise<void>;
}

export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics' && options.metrics) {
      options.metrics.text().then(
        (text) => {
          response.writeHead(200, { 'content-type': options.metrics!.registry.contentType }).end(request.method === 'HEAD' ? undefined : text);
        },
        (error: Error) => {
          response.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${error.message}\n`);
        },
      );
      return;
    }
    if (path === '/healthz') {
      Promise.resolve()
        .then(options.health)
        .catch((error: Error): HealthReport => ({ ok: false, checks: { health: `check failed: ${error.message}` } }))
        .then((report) => {
          const body = JSON.stringify({ status: report.ok ? 'ok' : 'unavailable', ...options.info, checks: report.checks });
          response
            .writeHead(report.ok ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' })
            .end(request.method === 'HEAD' ? undefined : `${body}\n`);
        });
      return;
    }
    response.writeHead(404, { 'content-type': 'text/plain' }).end(options.metrics ? 'try /metrics or /healthz\n' : 'try /healthz\n');
  });
  // Scrapers keep connections open; they must not hold the process at exit.
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'EADDRINUSE'
          ? new Error(`LATENTWALK_METRICS_PORT ${options.port} on ${options.host} is already in use; pick another port`)
          : error,
      );
    });
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    port,
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
