/**
 * `latentwalk worker`: loads the model pack once, then renders jobs from Redis until SIGTERM / SIGINT.
 * Settings come from the environment (REDIS_URL, LATENTWALK_*; see src/jobs/config.ts); flags override them.
 * Logs are JSON lines on stdout (pino) carrying the worker id and, per job, the job and guild ids. With
 * LATENTWALK_METRICS_PORT set it serves /metrics and /healthz (healthy once the model is loaded and Redis is
 * connected).
 */
import { parseArgs } from 'node:util';
import { notifyReady, watchSupervisor } from '../app/ipc.ts';
import { loadJobsConfig, type JobsConfigOverrides } from '../jobs/config.ts';
import { ConfigError } from '../settings/index.ts';
import { RedisUnusableError } from '../jobs/errors.ts';
import { describeRedisTarget, redisTarget } from '../jobs/redis.ts';
import { loadOpsConfig } from '../ops/config.ts';
import { createLogger, describeError } from '../ops/log.ts';
import { bullQueueCounts, WorkerMetrics } from '../ops/metrics.ts';
import { startOpsServer, workerHealth, type OpsServer } from '../ops/server.ts';
import { loadEngineBackend, type RenderBackend } from '../worker/backend.ts';
import { createNoopBackend } from '../worker/noop-backend.ts';
import { defaultWorkerName, RenderWorker } from '../worker/render-worker.ts';
import { CliUsageError, parseNumberOption } from './CliError.ts';

export const WORKER_USAGE = `usage: latentwalk worker [options]
  --concurrency N        jobs rendered at once (LATENTWALK_WORKER_CONCURRENCY, default 1: one per GPU)
  --model NAME|DIR       a bundled model (shapes, emoji) or a model pack directory (LATENTWALK_MODEL_DIR,
                         default the bundled default)
  --provider NAME        cpu, webgpu or cuda (LATENTWALK_PROVIDER)
  --threads N            onnxruntime threads per model session (LATENTWALK_THREADS, default one per core)
  --name NAME            worker name in logs and job records (default host-pid)
  --renderer noop        render nothing (queue smoke tests and benchmarks); --noop-batch-ms N per batch
Redis: REDIS_URL (default redis://127.0.0.1:6379). On SIGTERM, running jobs get LATENTWALK_SHUTDOWN_GRACE_MS
to finish, then are handed back to the queue. LATENTWALK_METRICS_PORT: serve /metrics and /healthz.`;

const PROVIDERS = ['cpu', 'webgpu', 'cuda'] as const;

export async function runWorkerCommand(argv: string[]): Promise<number> {
  try {
    return await runWorker(argv);
  } catch (error) {
    // Set-up problems an operator fixes: one line, exit 1.
    if (error instanceof ConfigError || error instanceof RedisUnusableError) {
      console.error(`latentwalk: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

async function runWorker(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        concurrency: { type: 'string' },
        model: { type: 'string' },
        provider: { type: 'string' },
        threads: { type: 'string' },
        name: { type: 'string' },
        renderer: { type: 'string' },
        'noop-batch-ms': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new CliUsageError((error as Error).message.split('\n')[0] ?? 'bad arguments');
  }
  const v = parsed.values;
  if (v.help) {
    console.log(WORKER_USAGE);
    return 0;
  }
  const renderer = v.renderer ?? 'engine';
  if (renderer !== 'engine' && renderer !== 'noop') throw new CliUsageError(`--renderer must be engine or noop, got '${renderer}'`);
  if (v.provider !== undefined && !(PROVIDERS as readonly string[]).includes(v.provider)) {
    throw new CliUsageError(`--provider must be one of ${PROVIDERS.join(', ')}, got '${v.provider}'`);
  }
  const concurrency = parseNumberOption('concurrency', v.concurrency, { integer: true });
  if (concurrency !== undefined && (concurrency < 1 || concurrency > 64)) throw new CliUsageError(`--concurrency must be from 1 to 64, got ${concurrency}`);
  const worker: NonNullable<JobsConfigOverrides['worker']> = {};
  if (concurrency !== undefined) worker.concurrency = concurrency;
  if (v.model !== undefined) worker.modelDir = v.model;
  if (v.provider !== undefined) worker.provider = v.provider as (typeof PROVIDERS)[number];
  const threads = parseNumberOption('threads', v.threads, { integer: true });
  if (threads !== undefined && (threads < 1 || threads > 256)) throw new CliUsageError(`--threads must be from 1 to 256, got ${threads}`);
  if (threads !== undefined) worker.threads = threads;
  const config = loadJobsConfig(process.env, { worker });
  const ops = loadOpsConfig(process.env);
  const workerId = v.name ?? defaultWorkerName();
  const logger = createLogger({ service: 'worker', level: ops.logLevel, destination: 1, base: { workerId } });
  const log = (line: string) => logger.info(line);
  // Started by `latentwalk start`: a supervisor that goes away is a SIGTERM (before the worker is ready: exit).
  let onSupervisorGone: () => void = () => process.exit(1);
  watchSupervisor(() => onSupervisorGone());

  // The endpoint comes up first, answering 503 until the model is loaded and the queue connected.
  let renderWorker: RenderWorker | undefined;
  let modelLoaded = false;
  const metrics = ops.metricsPort !== undefined ? new WorkerMetrics() : undefined;
  let opsServer: OpsServer | undefined;
  if (ops.metricsPort !== undefined) {
    opsServer = await startOpsServer({
      port: ops.metricsPort,
      host: ops.metricsHost,
      metrics,
      info: { service: 'worker', workerId },
      health: () => workerHealth(modelLoaded, renderWorker?.health()),
    });
    logger.info(`metrics and health on ${opsServer.url}/metrics and ${opsServer.url}/healthz`, { opsUrl: opsServer.url });
  }

  let backend: RenderBackend;
  try {
    if (renderer === 'noop') {
      const batchMs = parseNumberOption('noop-batch-ms', v['noop-batch-ms'], { integer: true }) ?? 0;
      backend = createNoopBackend({ batchMs });
    } else {
      const loadStarted = Date.now();
      backend = await loadEngineBackend({
        ...(config.worker.modelDir ? { modelDir: config.worker.modelDir } : {}),
        ...(config.worker.provider ? { provider: config.worker.provider } : {}),
        ...(config.worker.threads ? { threads: config.worker.threads } : {}),
        log,
      });
      log(`model ${backend.name} loaded in ${Date.now() - loadStarted} ms`);
    }
    modelLoaded = true;
    try {
      renderWorker = await RenderWorker.start({ config, backend, logger, name: workerId });
    } catch (error) {
      await backend.dispose();
      throw error;
    }
  } catch (error) {
    await opsServer?.close();
    throw error;
  }
  const running = renderWorker;
  metrics?.attach(running);
  metrics?.setQueueCounts(bullQueueCounts(running.producer.queue));
  running.on('started', (jobId, info) =>
    logger.info(`job ${jobId} started (attempt ${info.attempt}${info.resumedFrames ? `, resuming with ${info.resumedFrames} frames` : ''})`, {
      jobId,
      guildId: info.guildId,
      kind: info.kind,
      attempt: info.attempt,
    }),
  );
  running.on('finished', (jobId, outcome, meta) => {
    const fields = { jobId, guildId: meta.guildId, kind: meta.kind, status: outcome.status };
    if (outcome.status === 'done') {
      logger.info(`job ${jobId} done (${outcome.artifact.bytes} bytes)`, { ...fields, bytes: outcome.artifact.bytes, renderMs: outcome.renderMs, frames: outcome.report.frames });
    } else logger.info(`job ${jobId} ${outcome.status}: ${outcome.reason}`, fields);
  });
  logger.info(
    `ready: ${running.id}, ${backend.name}, concurrency ${config.worker.concurrency}, ` +
      `redis ${describeRedisTarget(redisTarget(config))} (${running.server.version}), queue ${config.prefix}:${config.queueName}`,
    { event: 'ready', model: backend.name, concurrency: config.worker.concurrency },
  );
  notifyReady({ service: 'worker', id: running.id, ...(opsServer ? { opsUrl: opsServer.url } : {}) });

  await new Promise<void>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals++;
      if (signals === 1) {
        const busy = running.activeJobIds;
        log(
          `${signal}: taking no more jobs` +
            (busy.length ? `; ${busy.join(', ')} may finish within ${config.worker.shutdownGraceMs} ms, then go back to the queue` : ''),
        );
        // A render that ignores its abort must not keep the process forever; its lock then expires and
        // another worker takes the job over.
        setTimeout(() => {
          log('shutdown deadline passed; exiting, the queue will reassign what was running');
          process.exit(0);
        }, config.worker.shutdownGraceMs + 60_000).unref();
        void running.stop().then(resolve, (error: Error) => {
          logger.warn(`error while stopping: ${describeError(error)}`);
          resolve();
        });
      } else {
        log(`${signal} again: handing running jobs back now`);
        running.handBackAll();
      }
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    onSupervisorGone = () => onSignal('SIGTERM');
  });
  await backend.dispose();
  await opsServer?.close();
  log('stopped');
  return 0;
}
