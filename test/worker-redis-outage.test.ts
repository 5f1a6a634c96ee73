/**
 * Redis going away under a running render, with a real redis-server (AOF, fsync always) killed and started
 * again mid-render: the render waits for it (checkpoints, cancel polls, progress, artifact and finish all
 * wait), so the job finishes on its only attempt; when Redis is away longer than the job's lock, the job is
 * resumed from its checkpoint instead of failed. Nobody is ever shown ioredis' own message. The worker runs
 * in-process with the no-op renderer, so the timings are the queue's.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { JobsConfigOverrides } from '../src/jobs/config.ts';
import type { JobResult, SubmitRequest } from '../src/jobs/contract.ts';
import { JobProducer } from '../src/jobs/producer.ts';
import { createNoopBackend } from '../src/worker/noop-backend.ts';
import { RenderWorker } from '../src/worker/render-worker.ts';
import { TestRedis, testJobsConfig, waitFor } from './harness/redis.ts';

let server: TestRedis;
const cleanups: (() => Promise<void>)[] = [];

before(async () => {
  server = await TestRedis.start();
});
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  await server.stop();
});

function walk(text: string, frames: number): SubmitRequest {
  return {
    kind: 'walk',
    prompts: [{ text, contributorId: 'u1' }],
    settings: { frames, batchSize: 1 },
    guildId: 'G',
    channelId: 'C',
    requesterId: 'u1',
    reply: {},
  };
}

async function start(worker: JobsConfigOverrides['worker']) {
  const config = testJobsConfig(server, { worker: { attempts: 1, stalledIntervalMs: 500, ...worker } });
  const producer = await JobProducer.connect(config);
  cleanups.push(() => producer.close());
  const lines: string[] = [];
  const renderer = await RenderWorker.start({ config, backend: createNoopBackend({ batchMs: 100, batchSize: 1 }), progressIntervalMs: 0, log: (line) => lines.push(line) });
  cleanups.push(() => renderer.stop(0));
  const events: string[] = [];
  renderer.on('retrying', (jobId) => events.push(`retrying ${jobId}`));
  renderer.on('handedBack', (jobId) => events.push(`handedBack ${jobId}`));
  renderer.on('finished', (jobId, outcome) => events.push(`finished ${jobId} ${outcome.status}`));
  const batches: number[] = [];
  renderer.on('batch', (_jobId, done) => batches.push(done));
  const results: JobResult[] = [];
  const reader = producer.resultConsumer({ group: 'bot', consumer: 'c1', blockMs: 100 });
  await reader.start((result) => {
    results.push(result);
  });
  cleanups.push(() => reader.stop());
  return { producer, renderer, events, batches, results, lines };
}

describe('Redis restarted under a running render', () => {
  test('a restart shorter than the lock: the render waits for Redis and finishes on its only attempt', async (t) => {
    const { producer, events, batches, results, lines } = await start({ lockMs: 8000 });
    const { jobId } = await producer.submit(walk('through a restart', 40));
    await waitFor('a few batches', () => batches.length >= 5, 10_000);
    const downAt = Date.now();
    await server.restart({ signal: 'SIGKILL', downMs: 1500 });
    t.diagnostic(`Redis down and back in ${Date.now() - downAt} ms, after batch ${batches.length}`);
    await waitFor('the result', () => results.length === 1, 30_000);
    const outcome = results[0]!.outcome;
    assert.equal(outcome.status, 'done', JSON.stringify(outcome));
    assert.equal(outcome.status === 'done' && outcome.attempts, 1);
    assert.equal(outcome.status === 'done' && outcome.report.resumedFrames, 0, 'one uninterrupted render');
    assert.deepEqual(events, [`finished ${jobId} done`], 'no retry, no hand-back, no failure');
    assert.ok(!lines.some((line) => /max retries per request/i.test(line)), lines.join('\n'));
  });

  test('an outage longer than the lock: the job is resumed from its checkpoint, not failed, and uses no attempt', async (t) => {
    const { producer, events, batches, results, lines } = await start({ lockMs: 1500 });
    const { jobId } = await producer.submit(walk('through an outage', 40));
    await waitFor('a few batches', () => batches.length >= 5, 10_000);
    await server.restart({ signal: 'SIGKILL', downMs: 3500 });
    await waitFor('the result', () => results.length === 1, 40_000);
    const outcome = results[0]!.outcome;
    assert.equal(outcome.status, 'done', JSON.stringify(outcome));
    assert.ok(outcome.status === 'done' && outcome.report.resumedFrames >= 5, `resumed ${outcome.status === 'done' && outcome.report.resumedFrames} frames`);
    t.diagnostic(`resumed ${outcome.status === 'done' && outcome.report.resumedFrames} of 40 frames after the lock was lost`);
    assert.ok(!events.some((e) => e.startsWith('retrying') || e.endsWith('failed')), events.join(', '));
    assert.ok(lines.some((line) => line.includes(`job ${jobId} lost its lock`)), lines.join('\n'));
    const listing = await producer.get(jobId);
    assert.equal(listing?.state, 'done');
  });
});
