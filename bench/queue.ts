/**
 * `npm run bench:queue`: what the queue itself costs, with a no-op renderer so model time does not hide it.
 *
 *   submit-to-start latency   one job at a time into an idle worker
 *   throughput                many small jobs through one worker (concurrency 1), all bookkeeping included
 *                             (checkpoint per batch, progress, artifact store, result stream)
 *   fairness                  guild A floods the queue, guild B submits now and then: how many jobs each waits
 *
 * Starts a private redis-server (AOF on, noeviction) on a free port; never touches the system Redis.
 * Options: --jobs N (throughput jobs, default 200), --flood N (guild A's jobs, default 40).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { jobsConfig, type JobsConfig } from '../src/jobs/config.ts';
import type { SubmitRequest } from '../src/jobs/contract.ts';
import { startLocalRedis } from '../src/jobs/local-redis.ts';
import { JobProducer } from '../src/jobs/producer.ts';
import { createNoopBackend } from '../src/worker/noop-backend.ts';
import { RenderWorker } from '../src/worker/render-worker.ts';

const { values } = parseArgs({ options: { jobs: { type: 'string' }, flood: { type: 'string' } } });
const THROUGHPUT_JOBS = Number(values.jobs ?? 200);
const FLOOD = Number(values.flood ?? 40);

function request(guildId: string, userId: string, frames = 2): SubmitRequest {
  return {
    kind: 'walk',
    prompts: [{ text: 'bench', contributorId: userId }],
    settings: { frames, batchSize: 2 },
    guildId,
    channelId: 'bench',
    requesterId: userId,
    reply: { via: 'cli' },
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function withWorker<T>(config: JobsConfig, batchMs: number, fn: (producer: JobProducer, worker: RenderWorker) => Promise<T>): Promise<T> {
  const producer = await JobProducer.connect(config);
  const worker = await RenderWorker.start({ config, backend: createNoopBackend({ batchMs }), progressIntervalMs: 1000 });
  try {
    return await fn(producer, worker);
  } finally {
    await worker.stop(0);
    await producer.close();
  }
}

async function latency(base: JobsConfig): Promise<void> {
  const config = { ...base, prefix: 'bench-latency' };
  await withWorker(config, 0, async (producer, worker) => {
    const samples: number[] = [];
    for (let i = 0; i < 50; i++) {
      const submitted = performance.now();
      const started = new Promise<number>((resolve) => worker.once('started', () => resolve(performance.now())));
      const { jobId } = await producer.submit(request('g', 'u'));
      samples.push((await started) - submitted);
      await producer.waitForOutcome(jobId, { pollMs: 2 });
    }
    samples.sort((a, b) => a - b);
    console.log(
      `submit-to-start latency (idle worker, ${samples.length} jobs): p50 ${percentile(samples, 50).toFixed(1)} ms, ` +
        `p95 ${percentile(samples, 95).toFixed(1)} ms, max ${samples.at(-1)!.toFixed(1)} ms`,
    );
  });
}

async function throughput(base: JobsConfig): Promise<void> {
  const config = { ...base, prefix: 'bench-throughput' };
  await withWorker(config, 0, async (producer, worker) => {
    let finished = 0;
    let firstStart = 0;
    const done = new Promise<number>((resolve) =>
      worker.on('finished', () => {
        if (++finished === THROUGHPUT_JOBS) resolve(performance.now());
      }),
    );
    worker.once('started', () => (firstStart = performance.now()));
    const submitStarted = performance.now();
    for (let i = 0; i < THROUGHPUT_JOBS; i++) await producer.submit(request(`g${i % 10}`, `u${i}`), { bypassCaps: true });
    const submitMs = performance.now() - submitStarted;
    const end = await done;
    const seconds = (end - firstStart) / 1000;
    console.log(
      `throughput (no-op render, 2 frames a job, concurrency 1): ${(THROUGHPUT_JOBS / seconds).toFixed(1)} jobs/s ` +
        `(${THROUGHPUT_JOBS} jobs in ${seconds.toFixed(2)} s); submit: ${(THROUGHPUT_JOBS / (submitMs / 1000)).toFixed(0)} submits/s`,
    );
  });
}

async function fairness(base: JobsConfig): Promise<void> {
  const config = { ...base, prefix: 'bench-fairness' };
  // Each job "renders" for 20 ms (one batch), so queue order, not timing noise, decides who waits.
  await withWorker(config, 20, async (producer, worker) => {
    const startOrder: string[] = [];
    worker.on('started', (jobId) => startOrder.push(jobId));
    const guildOf = new Map<string, string>();
    const startsAtSubmit = new Map<string, number>();
    /** For each B job: A's jobs queued and not yet started when it was submitted (what plain FIFO would make it wait for). */
    const fifoWait: number[] = [];
    const submit = async (guild: string) => {
      if (guild === 'B') {
        const aStarted = startOrder.filter((id) => guildOf.get(id) === 'A').length;
        fifoWait.push([...guildOf.values()].filter((g) => g === 'A').length - aStarted);
      }
      const { jobId } = await producer.submit(request(guild, `${guild}-user`, 2), { bypassCaps: true });
      guildOf.set(jobId, guild);
      startsAtSubmit.set(jobId, startOrder.length);
    };
    for (let i = 0; i < FLOOD; i++) await submit('A');
    // B trickles in while A's flood is being served.
    for (let i = 0; i < 5; i++) {
      await new Promise((resolve) => setTimeout(resolve, 120));
      await submit('B');
    }
    while (startOrder.length < guildOf.size || (await producer.list()).length > 0) await new Promise((resolve) => setTimeout(resolve, 20));
    const bJobs = [...guildOf].filter(([, g]) => g === 'B').map(([id]) => id);
    // A's jobs that started between a B job's submit and its start.
    const aAhead = bJobs.map((bId) =>
      startOrder.slice(startsAtSubmit.get(bId)!, startOrder.indexOf(bId)).filter((id) => guildOf.get(id) === 'A').length,
    );
    const mean = (values: number[]) => (values.reduce((sum, x) => sum + x, 0) / values.length).toFixed(1);
    console.log(
      `fairness (guild A floods ${FLOOD} jobs, guild B submits 5 during it, one worker): each B job started after ` +
        `at most ${Math.max(...aAhead)} of A's jobs (mean ${mean(aAhead)}); plain FIFO would have made it wait for ` +
        `up to ${Math.max(...fifoWait)} (mean ${mean(fifoWait)})`,
    );
  });
}

const dir = await mkdtemp(join(tmpdir(), 'latentwalk-bench-redis-'));
const redis = await startLocalRedis({ port: await freePort(), dir });
try {
  const config = jobsConfig({ redisUrl: redis.url, caps: { perGuild: 10_000, perUser: 10_000, total: 100_000 } });
  console.log(`private redis-server at ${redis.url} (AOF everysec, noeviction); no-op renderer`);
  await latency(config);
  await throughput(config);
  await fairness(config);
} finally {
  redis.process.kill('SIGTERM');
  await redis.exited;
  await rm(dir, { recursive: true, force: true });
}
