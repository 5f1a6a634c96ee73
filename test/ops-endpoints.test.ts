/**
 * The ops endpoint of a running worker and bot: /healthz answers 503 until the worker's model is loaded and
 * its Redis connected, 200 then, 503 again while Redis is down; the bot's follows Redis and the Discord
 * gateway. /metrics reports queue depth per state, jobs by kind and outcome, render seconds, frames and
 * artifact bytes, and the figures move after jobs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BotApp } from '../src/bot/BotApp.ts';
import { loadBotConfig } from '../src/bot/config.ts';
import type { SubmitRequest } from '../src/jobs/contract.ts';
import { JobProducer } from '../src/jobs/producer.ts';
import { LocalDiscord } from '../src/local-discord/index.ts';
import { silentLogger } from '../src/ops/log.ts';
import { BotMetrics, bullQueueCounts, WorkerMetrics } from '../src/ops/metrics.ts';
import { botHealth, startOpsServer, workerHealth, type OpsServer } from '../src/ops/server.ts';
import { createNoopBackend } from '../src/worker/noop-backend.ts';
import { RenderWorker } from '../src/worker/render-worker.ts';
import { TestRedis, testJobsConfig, waitFor } from './harness/redis.ts';

let redis: TestRedis;
const cleanups: (() => Promise<unknown>)[] = [];

before(async () => {
  redis = await TestRedis.start();
});
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  await redis.stop();
});

/** The value of one sample in Prometheus text, or undefined. */
function sample(metrics: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of metrics.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const body = /\{(.*)\}/.exec(line)?.[1] ?? '';
    if (Object.entries(labels).every(([k, v]) => body.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

async function get(server: OpsServer, path: string): Promise<{ status: number; text: string }> {
  const response = await fetch(`${server.url}${path}`);
  return { status: response.status, text: await response.text() };
}

const job = (kind: 'walk' | 'morph', texts: string[], frames: number): SubmitRequest => ({
  kind,
  prompts: texts.map((text) => ({ text, contributorId: 'u1' })),
  settings: { frames, steps: 1 },
  guildId: 'g1',
  channelId: 'c1',
  requesterId: 'u1',
  reply: { via: 'discord', channelId: 'c1' },
});

describe('worker /healthz and /metrics', () => {
  it('follow the model, Redis and the jobs', async () => {
    const config = testJobsConfig(redis, { worker: { attempts: 1, lockMs: 5000, stalledIntervalMs: 1000 } });
    const metrics = new WorkerMetrics();
    let worker: RenderWorker | undefined;
    let loaded = false;
    const server = await startOpsServer({
      port: 0,
      host: '127.0.0.1',
      metrics,
      info: { service: 'worker' },
      health: () => workerHealth(loaded, worker?.health()),
    });
    cleanups.push(() => server.close());

    const starting = await get(server, '/healthz');
    assert.equal(starting.status, 503);
    assert.deepEqual(JSON.parse(starting.text), { status: 'unavailable', service: 'worker', checks: { model: 'loading', redis: 'not connected yet', accepting: 'starting' } });

    // Queue depth is read at scrape time: a job waits before any worker runs.
    const producer = await JobProducer.connect(config);
    cleanups.push(() => producer.close());
    metrics.setQueueCounts(bullQueueCounts(producer.queue));
    const first = await producer.submit(job('walk', ['a lighthouse'], 4));
    assert.equal(sample((await get(server, '/metrics')).text, 'latentwalk_queue_jobs', { state: 'waiting' }), 1);
    assert.equal(sample((await get(server, '/metrics')).text, 'latentwalk_jobs_total', { kind: 'walk', outcome: 'done' }), undefined);

    const backend = createNoopBackend({
      batchMs: 5,
      beforeBatch: ({ spec }) => {
        if (JSON.stringify(spec).includes('explode')) throw new Error('the render exploded');
      },
    });
    loaded = true;
    worker = await RenderWorker.start({ config, backend, name: 'ops-worker', reconcileIntervalMs: 60_000 });
    cleanups.push(() => worker!.stop(0));
    metrics.attach(worker);
    const healthy = await get(server, '/healthz');
    assert.equal(healthy.status, 200, healthy.text);
    assert.equal(JSON.parse(healthy.text).status, 'ok');

    assert.equal((await producer.waitForOutcome(first.jobId, { timeoutMs: 20_000 })).status, 'done');
    const failing = await producer.submit(job('morph', ['explode', 'twice'], 3));
    assert.equal((await producer.waitForOutcome(failing.jobId, { timeoutMs: 20_000 })).status, 'failed');

    const text = (await get(server, '/metrics')).text;
    assert.equal(sample(text, 'latentwalk_jobs_total', { kind: 'walk', outcome: 'done', service: 'worker' }), 1);
    assert.equal(sample(text, 'latentwalk_jobs_total', { kind: 'morph', outcome: 'failed' }), 1);
    assert.equal(sample(text, 'latentwalk_render_seconds_count', { kind: 'walk' }), 1);
    assert.ok(sample(text, 'latentwalk_render_seconds_sum', { kind: 'walk' })! > 0);
    assert.equal(sample(text, 'latentwalk_frames_rendered_total', { kind: 'walk' }), 4);
    assert.ok(sample(text, 'latentwalk_render_frames_per_second', { kind: 'walk' })! > 0);
    assert.equal(sample(text, 'latentwalk_artifact_bytes_count', { kind: 'walk' }), 1);
    assert.ok(sample(text, 'latentwalk_artifact_bytes_sum', { kind: 'walk' })! > 0);
    assert.equal(sample(text, 'latentwalk_queue_jobs', { state: 'waiting' }), 0);
    assert.equal(sample(text, 'latentwalk_queue_jobs', { state: 'active' }), 0);
    assert.ok(sample(text, 'latentwalk_queue_jobs', { state: 'completed' })! >= 1);
    assert.equal(sample(text, 'latentwalk_jobs_rendering'), 0);
    assert.ok(sample(text, 'latentwalk_process_resident_memory_bytes')! > 0, 'default process metrics');
    assert.match(text, /# TYPE latentwalk_render_seconds histogram/);

    // Redis down: unhealthy, and healthy again once it is back.
    await redis.kill();
    const down = await waitFor('503 while Redis is down', async () => {
      const answer = await get(server, '/healthz');
      return answer.status === 503 ? answer : undefined;
    });
    assert.equal(JSON.parse(down.text).checks.redis, 'not connected');
    assert.equal((await get(server, '/metrics')).status, 200, 'metrics still answer without Redis');
    await redis.restart();
    await waitFor('200 once Redis is back', async () => (await get(server, '/healthz')).status === 200, 15_000);

    assert.equal((await get(server, '/nope')).status, 404);
    assert.equal((await fetch(`${server.url}/healthz`, { method: 'HEAD' })).status, 200);
    assert.equal((await fetch(`${server.url}/metrics`, { method: 'POST' })).status, 405);
  });
});

describe('bot /healthz', () => {
  it('is 200 with Redis and the gateway up, 503 while Discord is away, 200 when it is back', async () => {
    const token = 'ops-test-bot-token.0123456789abcdef';
    let discord = await LocalDiscord.start({ token, log: () => undefined });
    cleanups.push(() => discord.close());
    const config = loadBotConfig({ DISCORD_TOKEN: token }, { apiUrl: discord.restUrl, jobs: testJobsConfig(redis), logLevel: 'silent' });
    const metrics = new BotMetrics();
    let app: BotApp | undefined;
    const server = await startOpsServer({ port: 0, host: '127.0.0.1', metrics, health: () => botHealth(app?.health()) });
    cleanups.push(() => server.close());
    assert.equal((await get(server, '/healthz')).status, 503);
    app = await BotApp.start(config, { log: silentLogger, metrics, waitGuildTimeoutMs: 500 });
    cleanups.push(() => app!.stop());
    if (app.queue) metrics.setQueueCounts(bullQueueCounts(app.queue));
    const up = await get(server, '/healthz');
    assert.equal(up.status, 200, up.text);
    assert.deepEqual(JSON.parse(up.text).checks, { redis: true, discord: true });
    const text = (await get(server, '/metrics')).text;
    assert.equal(sample(text, 'latentwalk_queue_jobs', { state: 'waiting', service: 'bot' }), 0);

    const port = Number(new URL(discord.restUrl).port);
    await discord.close();
    const down = await waitFor('503 without the gateway', async () => {
      const answer = await get(server, '/healthz');
      return answer.status === 503 ? answer : undefined;
    }, 20_000);
    assert.equal(JSON.parse(down.text).checks.discord, 'gateway not ready');
    // Discord back (same address): the client reconnects and the bot is healthy again.
    discord = await LocalDiscord.start({ token, port, log: () => undefined });
    await waitFor('200 with the gateway back', async () => (await get(server, '/healthz')).status === 200, 30_000);
    await app.stop();
    assert.equal(JSON.parse((await get(server, '/healthz')).text).checks.accepting, 'stopping');
  });
});
