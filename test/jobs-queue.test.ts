/**
 * Queue mechanics against a real redis-server (private, started by the harness): fairness, caps, positions,
 * cancellation, failures and the result stream. Workers run in-process with the no-op renderer, so these
 * tests measure the queue, not the model.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Queue } from 'bullmq';
import { ArtifactStore } from '../src/jobs/artifacts.ts';
import type { JobsConfig, JobsConfigOverrides } from '../src/jobs/config.ts';
import { buildJobSpec, type JobResult, type SubmitRequest } from '../src/jobs/contract.ts';
import { MAX_ROUND } from '../src/jobs/guild-queue.ts';
import { RedisUnusableError, SubmitRefusedError } from '../src/jobs/errors.ts';
import { keyPrefix } from '../src/jobs/keys.ts';
import { JobProducer } from '../src/jobs/producer.ts';
import { EngineError } from '../src/engine/errors.ts';
import type { RenderBackend } from '../src/worker/backend.ts';
import { createNoopBackend, type NoopBackendOptions } from '../src/worker/noop-backend.ts';
import { RenderWorker } from '../src/worker/render-worker.ts';
import { TestRedis, freePort, testJobsConfig, waitFor } from './harness/redis.ts';

let server: TestRedis;
const cleanups: (() => Promise<void>)[] = [];

before(async () => {
  server = await TestRedis.start();
});

after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  await server.stop();
});

function walk(guildId: string, userId: string, text = 'a lighthouse', settings: SubmitRequest['settings'] = {}): SubmitRequest {
  return {
    kind: 'walk',
    prompts: [{ text, contributorId: userId }],
    settings: { frames: 4, batchSize: 2, ...settings },
    guildId,
    channelId: `${guildId}-ch`,
    requesterId: userId,
    reply: { via: 'discord', channelId: `${guildId}-ch`, interactionToken: `token-${text}` },
  };
}

async function setup(overrides: JobsConfigOverrides = {}): Promise<{ config: JobsConfig; producer: JobProducer }> {
  const config = testJobsConfig(server, overrides);
  const producer = await JobProducer.connect(config);
  cleanups.push(() => producer.close());
  return { config, producer };
}

async function startWorker(config: JobsConfig, backend: RenderBackend = createNoopBackend()): Promise<RenderWorker> {
  const worker = await RenderWorker.start({ config, backend, progressIntervalMs: 0 });
  cleanups.push(() => worker.stop(0));
  return worker;
}

/** A no-op backend whose renders of prompts matching `hold` wait for `release()` before their first batch. */
function gatedBackend(hold: RegExp, options: NoopBackendOptions = {}) {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const backend = createNoopBackend({
    ...options,
    beforeBatch: async (info) => {
      if (info.batch === 0 && info.spec.prompts.some((p) => hold.test(p))) await gate;
      await options.beforeBatch?.(info);
    },
  });
  return { backend, release };
}

async function collectResults(producer: JobProducer, group: string, consumer = 'c1') {
  const results: JobResult[] = [];
  const reader = producer.resultConsumer({ group, consumer, blockMs: 100 });
  await reader.start((result) => {
    results.push(result);
  });
  cleanups.push(() => reader.stop());
  return { results, reader };
}

async function bullCounts(config: JobsConfig) {
  const queue = new Queue(config.queueName, { connection: { url: config.redisUrl }, prefix: keyPrefix(config.prefix) });
  try {
    const counts = await queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed');
    const count = (state: string) => counts[state] ?? 0;
    return {
      waiting: count('waiting'),
      prioritized: count('prioritized'),
      active: count('active'),
      delayed: count('delayed'),
      completed: count('completed'),
      failed: count('failed'),
    };
  } finally {
    await queue.close();
  }
}

describe('fairness between guilds', () => {
  test('with guild A holding 20 queued jobs, guild B starts no later than A’s second-next job (queue idle)', async () => {
    const { config, producer } = await setup({ caps: { perGuild: 25, perUser: 25 } });
    const a: string[] = [];
    for (let i = 0; i < 20; i++) a.push((await producer.submit(walk('A', 'ua', `a${i}`))).jobId);
    const b = await producer.submit(walk('B', 'ub', 'b0'));
    assert.equal(b.positionInGuild, 1);
    assert.ok(b.position <= 2, `B queued at position ${b.position}`);

    // The listing shows the order the jobs will run in.
    const listed = (await producer.list()).map((job) => job.jobId);
    assert.equal(listed.length, 21);
    assert.ok(listed.indexOf(b.jobId) <= 1, `listing: ${listed.join(',')}`);
    assert.deepEqual(listed.filter((id) => id !== b.jobId), a, 'guild A stays first come first served');
    const position = await producer.position(a[5]!);
    assert.equal(position?.positionInGuild, 6);

    const worker = await startWorker(config);
    const started: string[] = [];
    worker.on('started', (jobId) => started.push(jobId));
    await waitFor('all 21 jobs to finish', async () => (await producer.list()).length === 0, 20_000);
    assert.ok(started.indexOf(b.jobId) < started.indexOf(a[1]!), `start order: ${started.join(',')}`);
    assert.deepEqual(started.filter((id) => id !== b.jobId), a);
  });

  test('while A’s first job renders, B’s job goes next, ahead of A’s other 19', async () => {
    const { config, producer } = await setup({ caps: { perGuild: 25, perUser: 25 } });
    const { backend, release } = gatedBackend(/^a0$/);
    const worker = await startWorker(config, backend);
    const started: string[] = [];
    worker.on('started', (jobId) => started.push(jobId));
    const a: string[] = [(await producer.submit(walk('A', 'ua', 'a0'))).jobId];
    await waitFor('A1 to start', () => started.length === 1);
    for (let i = 1; i < 20; i++) a.push((await producer.submit(walk('A', 'ua', `a${i}`))).jobId);
    const b = await producer.submit(walk('B', 'ub', 'b0'));
    assert.equal(b.position, 1, 'B is next in line');
    const c = await producer.submit(walk('C', 'uc', 'c0'));
    assert.equal(c.position, 2, 'C comes right after B, still before A2');
    release();
    await waitFor('all jobs to finish', async () => (await producer.list()).length === 0, 20_000);
    assert.deepEqual(started.slice(0, 4), [a[0], b.jobId, c.jobId, a[1]]);
  });
});

describe('recent use', () => {
  /** Guild A submits `n` jobs and cancels them: it has nothing queued, only its recent use. */
  async function busyThenIdle(producer: JobProducer, n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const { jobId } = await producer.submit(walk('A', `ua${i}`, `old${i}`));
      await producer.cancel(jobId);
    }
  }

  test('a guild that submitted a lot lately queues behind quiet guilds even with nothing of its own waiting', async () => {
    const { producer } = await setup({ fairness: { usageHalfLifeMs: 60_000, usageAllowance: 3, maxUsageRounds: 4 } });
    // Two recent submits stay within the allowance: no push.
    await busyThenIdle(producer, 2);
    const early = await producer.submit(walk('A', 'ua', 'early'));
    const q0 = await producer.submit(walk('Q0', 'u0', 'q0'));
    assert.deepEqual((await producer.list()).map((job) => [job.jobId, job.round]), [[early.jobId, 1], [q0.jobId, 1]]);
    await producer.cancel(early.jobId);
    await producer.cancel(q0.jobId);
    await busyThenIdle(producer, 12); // 15 recent submits: 5 rounds' worth, capped at 4
    const q1 = await producer.submit(walk('Q1', 'u1', 'q1'));
    const a = await producer.submit(walk('A', 'ua', 'a'));
    const q2 = await producer.submit(walk('Q2', 'u2', 'q2'));
    const q3 = await producer.submit(walk('Q3', 'u3', 'q3'));
    const listed = (await producer.list()).map((job) => [job.jobId, job.round]);
    assert.deepEqual(listed, [
      [q1.jobId, 1],
      [q2.jobId, 1],
      [q3.jobId, 1],
      [a.jobId, 5], // pushed back by the cap of 4 rounds
    ]);
    assert.equal(a.position, 2, 'told its place when it was queued');
    assert.equal((await producer.position(a.jobId))?.position, 4, 'and later arrivals from quiet guilds went ahead');
  });

  test('the push decays with its half-life, and without it the same submits are first come first served', async () => {
    const decaying = await setup({ fairness: { usageHalfLifeMs: 300, usageAllowance: 1, maxUsageRounds: 4 } });
    await busyThenIdle(decaying.producer, 3);
    await new Promise((resolve) => setTimeout(resolve, 1500)); // five half-lives: 3 -> 0.09
    const a = await decaying.producer.submit(walk('A', 'ua', 'a'));
    const q = await decaying.producer.submit(walk('Q', 'u1', 'q'));
    assert.deepEqual((await decaying.producer.list()).map((job) => [job.jobId, job.round]), [[a.jobId, 1], [q.jobId, 1]], 'no push left');

    const off = await setup({ fairness: { usageHalfLifeMs: 0 } });
    await busyThenIdle(off.producer, 6);
    const a2 = await off.producer.submit(walk('A', 'ua', 'a'));
    const q2 = await off.producer.submit(walk('Q', 'u1', 'q'));
    assert.deepEqual((await off.producer.list()).map((job) => [job.jobId, job.round]), [[a2.jobId, 1], [q2.jobId, 1]]);
  });

  test('a pushed-back job still runs: the rounds before it drain and it starts', async () => {
    const { config, producer } = await setup({ fairness: { usageHalfLifeMs: 60_000, usageAllowance: 2, maxUsageRounds: 4 } });
    await busyThenIdle(producer, 8);
    const a = await producer.submit(walk('A', 'ua', 'a'));
    const q = await producer.submit(walk('Q', 'u1', 'q'));
    const worker = await startWorker(config);
    const started: string[] = [];
    worker.on('started', (jobId) => started.push(jobId));
    await waitFor('both jobs to finish', async () => (await producer.list()).length === 0, 20_000);
    assert.deepEqual(started, [q.jobId, a.jobId]);
  });
});

test('rounds never pass BullMQ’s priority limit, and a guild stays FIFO at the cap', async () => {
  const { producer } = await setup();
  const first = await producer.submit(walk('A', 'ua', 'x0'));
  // As if two million jobs had started without the queue ever draining.
  await producer.redis.set(producer.guildQueue.keys.round, String(MAX_ROUND - 1));
  const later: string[] = [];
  for (let i = 1; i <= 3; i++) later.push((await producer.submit(walk('A', `ua${i}`, `x${i}`))).jobId);
  const listed = (await producer.list()).map((job) => [job.jobId, job.round]);
  assert.deepEqual(listed, [
    [first.jobId, 1],
    [later[0], MAX_ROUND - 1],
    [later[1], MAX_ROUND],
    [later[2], MAX_ROUND],
  ]);
});

test('reconcile repairs a reservation whose BullMQ job never appeared (a producer that died mid-submit)', async () => {
  const { producer } = await setup();
  const { results } = await collectResults(producer, 'bot');
  const spec = buildJobSpec(walk('G', 'u1'), producer.config.limits, Date.now() - 120_000);
  const orphan = await producer.guildQueue.reserve(spec);
  assert.equal((await producer.list()).length, 1);
  assert.equal(await producer.reconcile(), 1);
  assert.equal((await producer.list()).length, 0);
  await waitFor('the repair’s result', () => results.length === 1);
  assert.equal(results[0]!.jobId, orphan.jobId);
  assert.equal(results[0]!.outcome.status, 'cancelled');
  assert.equal(await producer.reconcile(), 0);
});

describe('caps', () => {
  test('per-user, per-guild and global caps refuse with a reason and enqueue nothing', async () => {
    const { config, producer } = await setup({ caps: { perGuild: 3, perUser: 2, total: 5 } });
    await producer.submit(walk('G', 'u1', 'one'));
    await producer.submit(walk('G', 'u1', 'two'));
    const before = await bullCounts(config);

    const user = await producer.submit(walk('G', 'u1', 'three')).catch((error: unknown) => error);
    assert.ok(user instanceof SubmitRefusedError);
    assert.equal(user.reason, 'USER_CAP');
    assert.match(user.message, /you already have 2 renders queued \(the limit is 2\)/);

    await producer.submit(walk('G', 'u2', 'four'));
    const guild = await producer.submit(walk('G', 'u3', 'five')).catch((error: unknown) => error);
    assert.ok(guild instanceof SubmitRefusedError);
    assert.equal(guild.reason, 'GUILD_CAP');
    assert.match(guild.message, /this server already has 3 renders queued \(the limit is 3\)/);

    await producer.submit(walk('H', 'u4', 'six'));
    await producer.submit(walk('H', 'u5', 'seven'));
    const total = await producer.submit(walk('K', 'u6', 'eight')).catch((error: unknown) => error);
    assert.ok(total instanceof SubmitRefusedError);
    assert.equal(total.reason, 'QUEUE_FULL');

    const after = await bullCounts(config);
    assert.equal(after.prioritized, before.prioritized + 3, 'only the accepted jobs reached BullMQ');
    assert.equal((await producer.list()).length, 5);
    assert.equal((await producer.list({ guildId: 'K' })).length, 0);
  });

  test('invalid input is refused at submit and enqueues nothing', async () => {
    const { config, producer } = await setup();
    const error = await producer.submit(walk('G', 'u1', 'x', { frames: 1000 })).catch((e: unknown) => e);
    assert.ok(error instanceof SubmitRefusedError);
    assert.equal(error.reason, 'INVALID');
    assert.match(error.message, /1000 frames is more than this bot renders; ask for 60 or fewer/);
    const counts = await bullCounts(config);
    assert.equal(counts.prioritized + counts.waiting, 0);
    assert.equal((await producer.list()).length, 0);
  });

  test('a second submit with the same job id returns the first job', async () => {
    const { config, producer } = await setup();
    const first = await producer.submit({ ...walk('G', 'u1'), jobId: 'render-123' });
    const second = await producer.submit({ ...walk('G', 'u1'), jobId: 'render-123' });
    assert.equal(first.jobId, 'render-123');
    assert.equal(second.duplicate, true);
    assert.equal((await bullCounts(config)).prioritized, 1);
  });
});

describe('cancellation', () => {
  test('a waiting job is removed and reported cancelled once', async () => {
    const { config, producer } = await setup();
    const { results } = await collectResults(producer, 'bot');
    const ticket = await producer.submit(walk('G', 'u1'));
    assert.deepEqual(await producer.cancel(ticket.jobId), { state: 'cancelled' });
    assert.deepEqual(await producer.cancel(ticket.jobId), { state: 'finished', finalState: 'cancelled' });
    const counts = await bullCounts(config);
    assert.equal(counts.prioritized + counts.waiting, 0);
    assert.equal((await producer.position(ticket.jobId))?.state, 'cancelled');
    await waitFor('the cancelled result', () => results.length === 1);
    assert.equal(results[0]!.outcome.status, 'cancelled');
    assert.equal(results[0]!.reply.interactionToken, 'token-a lighthouse');
  });

  test('an active job stops within one batch and ends cancelled, not failed', async () => {
    const { config, producer } = await setup();
    const batchMs = 150;
    const worker = await startWorker(config, createNoopBackend({ batchMs, batchSize: 1 }));
    let batchesAfterCancel = -1;
    worker.on('batch', () => {
      if (batchesAfterCancel >= 0) batchesAfterCancel++;
    });
    const ticket = await producer.submit(walk('G', 'u1', 'long', { frames: 40, batchSize: 1 }));
    await waitFor('two batches', async () => ((await producer.get(ticket.jobId))?.progress?.framesDone ?? 0) >= 2);

    // Another producer, as another process would: the cancel travels through Redis.
    const other = await JobProducer.connect(config);
    cleanups.push(() => other.close());
    const cancelledAt = Date.now();
    batchesAfterCancel = 0;
    // 'cancelled' when the worker honoured the cancel before this call returned.
    assert.match((await other.cancel(ticket.jobId)).state, /^cancell(ing|ed)$/);
    const outcome = await producer.waitForOutcome(ticket.jobId, { pollMs: 20 });
    assert.equal(outcome.status, 'cancelled');
    assert.ok(Date.now() - cancelledAt < batchMs * 2 + 500, `stopped ${Date.now() - cancelledAt} ms after the cancel`);
    assert.ok(batchesAfterCancel <= 1, `${batchesAfterCancel} batches finished after the cancel`);
    await waitFor('BullMQ to complete it', async () => (await bullCounts(config)).completed === 1);
    const counts = await bullCounts(config);
    assert.equal(counts.failed, 0);
    assert.equal(counts.delayed, 0);
  });
});

describe('failures', () => {
  test('a render that keeps throwing ends failed with one sentence for people, never the library’s message; the worker keeps serving', async () => {
    const { config, producer } = await setup({ worker: { attempts: 2 } });
    let tries = 0;
    const backend = createNoopBackend({
      beforeBatch: ({ spec }) => {
        if (spec.prompts[0] === 'boom') {
          tries++;
          // What onnxruntime says when the GPU is full: not for a Discord channel.
          throw new Error("Non-zero status code returned while running MatMul node. Name:'/transformer/MatMul' Status Message: Failed to allocate memory");
        }
      },
    });
    await startWorker(config, backend);
    const { results } = await collectResults(producer, 'bot');
    const bad = await producer.submit(walk('G', 'u1', 'boom'));
    const outcome = await producer.waitForOutcome(bad.jobId, { pollMs: 20 });
    assert.equal(tries, 2);
    const sentence = "the renderer hit an internal error; press Reroll to try again, and tell the bot's operator if it keeps happening";
    assert.deepEqual(outcome, { status: 'failed', reason: sentence, attempts: 2 });
    const good = await producer.submit(walk('G', 'u1', 'fine'));
    assert.equal((await producer.waitForOutcome(good.jobId, { pollMs: 20 })).status, 'done');
    await waitFor('both results', () => results.length === 2);
    assert.deepEqual(
      results.map((r) => [r.jobId, r.outcome.status]),
      [
        [bad.jobId, 'failed'],
        [good.jobId, 'done'],
      ],
    );
    const queue = new Queue(config.queueName, { connection: { url: config.redisUrl }, prefix: keyPrefix(config.prefix) });
    const job = await queue.getJob(bad.jobId);
    assert.equal(await job?.getState(), 'failed');
    assert.equal(job?.failedReason, sentence);
    await queue.close();
  });

  test('an engine option error fails at once, without retries', async () => {
    const { config, producer } = await setup({ worker: { attempts: 3 } });
    let tries = 0;
    await startWorker(
      config,
      createNoopBackend({
        beforeBatch: () => {
          tries++;
          throw new EngineError('BAD_OPTION', 'width must be a multiple of 16 for this model, got 72');
        },
      }),
    );
    const ticket = await producer.submit(walk('G', 'u1'));
    const outcome = await producer.waitForOutcome(ticket.jobId, { pollMs: 20 });
    assert.deepEqual(outcome, { status: 'failed', reason: 'width must be a multiple of 16 for this model, got 72', code: 'BAD_OPTION', attempts: 1 });
    assert.equal(tries, 1);
  });
});

describe('progress and artifacts', () => {
  test('progress reaches BullMQ at least once per batch, and the artifact is stored with its size accounted', async () => {
    const { config, producer } = await setup();
    const worker = await startWorker(config, createNoopBackend({ batchMs: 20, batchSize: 1 }));
    const updates: { framesDone: number; attempt: number }[] = [];
    await producer.onProgress((_jobId, progress) => {
      if (progress.stage !== 'starting') updates.push(progress);
    });
    let batches = 0;
    worker.on('batch', () => batches++);
    const ticket = await producer.submit(walk('G', 'u1', 'p', { frames: 6, batchSize: 1 }));
    const outcome = await producer.waitForOutcome(ticket.jobId, { pollMs: 20 });
    assert.equal(outcome.status, 'done');
    assert.equal(batches, 6);
    await waitFor('progress events', () => new Set(updates.map((u) => u.framesDone)).size >= 6);
    for (let done = 1; done <= 6; done++) assert.ok(updates.some((u) => u.framesDone === done), `no progress event at ${done} frames`);
    if (outcome.status !== 'done') return;
    const bytes = await producer.fetchArtifact(outcome.artifact.key);
    assert.equal(bytes?.length, outcome.artifact.bytes);
    assert.equal(await producer.artifacts.usedBytes(), outcome.artifact.bytes);
    await producer.deleteArtifact(outcome.artifact.key);
    assert.equal(await producer.artifacts.usedBytes(), 0);
    assert.equal(await producer.fetchArtifact(outcome.artifact.key), undefined);
  });

  test('the artifact store refuses past its byte ceiling and sweeps expired artifacts', async () => {
    const { config, producer } = await setup();
    const store = new ArtifactStore(producer.redis, config.prefix, { ttlMs: 200, capBytes: 100 });
    const artifact = (n: number) => ({
      bytes: new Uint8Array(n),
      format: 'gif' as const,
      mimeType: 'image/gif',
      extension: 'gif',
      width: 1,
      height: 1,
      frameCount: 1,
      reductions: [],
    });
    await store.store('a', artifact(60));
    await assert.rejects(store.store('b', artifact(60)), /artifact store is full \(60 of 100 bytes in use\)/);
    await store.store('a', artifact(50)); // replacing its own artifact does not count twice
    assert.equal(await store.usedBytes(), 50);
    await new Promise((resolve) => setTimeout(resolve, 250));
    await store.store('b', artifact(90)); // 'a' expired and was swept
    assert.equal(await store.usedBytes(), 90);
  });
});

describe('result stream', () => {
  test('a result consumer restarted while jobs complete receives every result exactly once', async () => {
    const { config, producer } = await setup({ caps: { perUser: 20, perGuild: 20 } });
    await startWorker(config, createNoopBackend({ batchMs: 40 }));
    const seen = new Map<string, number>();
    const handler = (result: JobResult) => {
      seen.set(result.jobId, (seen.get(result.jobId) ?? 0) + 1);
    };
    const first = producer.resultConsumer({ group: 'bot', consumer: 'bot-1', blockMs: 100 });
    await first.start(handler);
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push((await producer.submit(walk('G', 'u1', `r${i}`))).jobId);
    await waitFor('three results', () => seen.size >= 3);
    await first.stop();
    const whileDown = seen.size;
    await waitFor('every job to finish', async () => (await producer.list()).length === 0, 20_000);
    assert.ok(whileDown < 10, 'some results arrived while the consumer was down');

    const second = producer.resultConsumer({ group: 'bot', consumer: 'bot-1', blockMs: 100 });
    await second.start(handler);
    cleanups.push(() => second.stop());
    await waitFor('all ten results', () => seen.size === 10);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual([...seen.keys()].sort(), [...ids].sort());
    assert.ok([...seen.values()].every((count) => count === 1), `duplicates: ${JSON.stringify([...seen])}`);

    // Another group (say, an audit log) independently gets all ten as well.
    const { results: audit } = await collectResults(producer, 'audit');
    await waitFor('the audit group to catch up', () => audit.length === 10);
  });
});

test('a result handled for longer than the claim time is not taken over by another consumer of the group', async () => {
  const { config, producer } = await setup();
  const calls: string[] = [];
  const readers = ['c1', 'c2'].map((consumer) => producer.resultConsumer({ group: 'bot', consumer, blockMs: 50, claimIdleMs: 400 }));
  for (const [i, reader] of readers.entries()) {
    await reader.start(async (result) => {
      calls.push(`${result.jobId}@c${i + 1}`);
      await new Promise((resolve) => setTimeout(resolve, 1500)); // a post held up by a rate limit: 3.75x the claim time
    });
    cleanups.push(() => reader.stop());
  }
  await startWorker(config);
  const ticket = await producer.submit(walk('G', 'u1'));
  await waitFor('the result to be handled', () => calls.length >= 1, 10_000);
  await new Promise((resolve) => setTimeout(resolve, 2500));
  assert.equal(calls.length, 1, `handled ${calls.join(', ')}`);
  assert.ok(calls[0]!.startsWith(ticket.jobId));
  const pending = (await producer.redis.call('XPENDING', producer.guildQueue.keys.results, 'bot')) as [number, ...unknown[]];
  assert.equal(pending[0], 0, 'acknowledged once handled');
});

describe('redis', () => {
  test('a server that may evict keys is refused with the fix', async () => {
    const evicting = await TestRedis.start({ maxmemoryPolicy: 'allkeys-lru' });
    try {
      const config = testJobsConfig(evicting);
      await assert.rejects(JobProducer.connect(config), (error: unknown) => {
        assert.ok(error instanceof RedisUnusableError);
        assert.match(error.message, /has maxmemory-policy allkeys-lru, which may evict queued jobs and locks; set it to noeviction/);
        return true;
      });
      await assert.rejects(RenderWorker.start({ config, backend: createNoopBackend() }), RedisUnusableError);
    } finally {
      await evicting.stop();
    }
  });

  test('an unreachable server is reported in one line', async () => {
    const config = testJobsConfig(server, { redisUrl: `redis://127.0.0.1:${await freePort()}` });
    await assert.rejects(JobProducer.connect(config), /cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+ .*start it or set REDIS_URL/);
  });

  test('Redis restarted (AOF) while jobs wait: nothing is lost, producer, worker and consumer connections recover', async () => {
    const restartable = await TestRedis.start();
    cleanups.push(() => restartable.stop());
    const config = testJobsConfig(restartable);
    const producer = await JobProducer.connect(config);
    cleanups.push(() => producer.close());
    const { backend, release } = gatedBackend(/^w0$/);
    const worker = await RenderWorker.start({ config, backend });
    cleanups.push(() => worker.stop(0));
    const { results } = await collectResults(producer, 'bot');
    const started: string[] = [];
    worker.on('started', (jobId) => started.push(jobId));

    const ids = [(await producer.submit(walk('G', 'u1', 'w0'))).jobId];
    await waitFor('the first job to start', () => started.length === 1);
    ids.push((await producer.submit(walk('G', 'u2', 'w1'))).jobId, (await producer.submit(walk('H', 'u3', 'w2'))).jobId);

    await restartable.restart({ signal: 'SIGKILL', downMs: 300 });

    // Bot side: listing and submitting work again once the connection is back.
    const listed = await waitFor('the listing after the restart', () => producer.list().catch(() => undefined), 10_000, 200);
    assert.deepEqual(listed.map((job) => job.jobId).sort(), [...ids].sort());
    const late = await waitFor('a submit after the restart', () => producer.submit(walk('K', 'u4', 'w3')).catch(() => undefined), 10_000, 200);
    ids.push(late.jobId);

    // Worker side: the held job finishes and the others run.
    release();
    await waitFor('all four results', () => results.length === 4, 20_000);
    assert.deepEqual(results.map((r) => r.jobId).sort(), [...ids].sort());
    assert.ok(results.every((r) => r.outcome.status === 'done'));
  });
});
