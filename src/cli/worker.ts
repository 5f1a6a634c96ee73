/**
 * `latentwalk worker`: loads the model pack once, then renders jobs from Redis until SIGTERM / SIGINT.
 * Settings come from the environment (REDIS_URL, LATENTWALK_*; see src/jobs/config.ts); flags override them.
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadJobsConfig, type JobsConfigOverrides } from '../jobs/config.ts';
import { RedisUnusableError } from '../jobs/errors.ts';
import { redactUrl } from '../jobs/redis.ts';
import { loadEngineBackend, type RenderBackend } from '../worker/backend.ts';
import { createNoopBackend } from '../worker/noop-backend.ts';
import { RenderWorker } from '../worker/render-worker.ts';
import { CliUsageError, parseNumberOption } from './CliError.ts';

export const WORKER_USAGE = `usage: latentwalk worker [options]
  --concurrency N        jobs rendered at once (LATENTWALK_WORKER_CONCURRENCY, default 1: one per GPU)
  --model DIR            model pack (LATENTWALK_MODEL_DIR, default the bundled pack)
  --provider NAME        cpu, webgpu or cuda (LATENTWALK_PROVIDER)
  --name NAME            worker name in logs and job records (default host-pid)
  --renderer noop        render nothing (queue smoke tests and benchmarks); --noop-batch-ms N per batch
Redis: REDIS_URL (default redis://127.0.0.1:6379). On SIGTERM, running jobs get LATENTWALK_SHUTDOWN_GRACE_MS
to finish, then are handed back to the queue.`;

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
  const config = loadJobsConfig(process.env, { worker });
  const log = (line: string) => console.log(`[worker] ${line}`);

  let backend: RenderBackend;
  if (renderer === 'noop') {
    const batchMs = parseNumberOption('noop-batch-ms', v['noop-batch-ms'], { integer: true }) ?? 0;
    backend = createNoopBackend({ batchMs });
  } else {
    const loadStarted = Date.now();
    backend = await loadEngineBackend({
      ...(config.worker.modelDir ? { modelDir: config.worker.modelDir } : {}),
      ...(config.worker.provider ? { provider: config.worker.provider } : {}),
      log,
    });
    log(`model ${backend.name} loaded in ${Date.now() - loadStarted} ms`);
  }

  let renderWorker: RenderWorker;
  try {
    renderWorker = await RenderWorker.start({ config, backend, log, ...(v.name ? { name: v.name } : {}) });
  } catch (error) {
    await backend.dispose();
    throw error;
  }
  renderWorker.on('started', (jobId, info) =>
    log(`job ${jobId} started (attempt ${info.attempt}${info.resumedFrames ? `, resuming with ${info.resumedFrames} frames` : ''})`),
  );
  renderWorker.on('finished', (jobId, outcome) =>
    log(`job ${jobId} ${outcome.status}${outcome.status === 'done' ? ` (${outcome.artifact.bytes} bytes)` : `: ${outcome.reason}`}`),
  );
  log(
    `ready: ${renderWorker.id}, ${backend.name}, concurrency ${config.worker.concurrency}, ` +
      `redis ${redactUrl(config.redisUrl)} (${renderWorker.server.version}), queue ${config.prefix}:${config.queueName}`,
  );

  await new Promise<void>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals++;
      if (signals === 1) {
        const busy = renderWorker.activeJobIds;
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
        void renderWorker.stop().then(resolve, (error: Error) => {
          log(`error while stopping: ${error.message}`);
          resolve();
        });
      } else {
        log(`${signal} again: handing running jobs back now`);
        renderWorker.handBackAll();
      }
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  await backend.dispose();
  log('stopped');
  return 0;
}
