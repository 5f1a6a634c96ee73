/**
 * Worker processes (`latentwalk worker`) against a private redis-server: killed with SIGKILL mid-render (real
 * engine, bundled tiny pack) and stopped with SIGTERM mid-job. Nothing is lost, work is resumed from the
 * checkpointed frames, and each job's result is delivered once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Queue } from 'bullmq';
import type { JobsConfig } from '../src/jobs/config.ts';
import type { JobOutcome, SubmitRequest } from '../src/jobs/contract.ts';
import { keyPrefix } from '../src/jobs/keys.ts';
import { JobProducer } from '../src/jobs/producer.ts';
import { loadEngineBackend } from '../src/worker/backend.ts';
import { FrameCheckpoint } from '../src/worker/checkpoint.ts';
import { createNoopBackend } from '../src/worker/noop-backend.ts';
import { toEngineRequest } from '../src/worker/request.ts';
import { RenderWorker } from '../src/worker/render-worker.ts';
import { SHAPES_PACK } from './harness/packs.ts';
import { TestRedis, spawnLatentwalk, testJobsConfig, waitFor, type CliProcess } from './harness/redis.ts';

let server: TestRedis;
const cleanups: (() => Promise<unknown>)[] = [];

before(async () => {
  server = await TestRedis.start();
});

after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  await server.stop();
});

async function setup(config: JobsConfig) {
  const producer = await JobProducer.connect(config);
  cleanups.push(() => producer.close());
  const checkpoint = new FrameCheckpoint(producer.redis, config.prefix, config.checkpointTtlMs);
  return { producer, checkpoint };
}

function worker(config: JobsConfig, args: string[], env: Record<string, string> = {}): CliProcess {
  const process = spawnLatentwalk(config, ['worker', ...args], env);
  cleanups.push(async () => {
    process.child.kill('SIGKILL');
    await process.exited;
  });
  return process;
}

/** Every entry the result stream holds for a job. */
async function resultEntries(producer: JobProducer, jobId: string): Promise<number> {
  const entries = await producer.redis.xrange(producer.guildQueue.keys.results, '-', '+');
  return entries.filter(([, fields]) => fields[1] === jobId).length;
}

async function bullState(config: JobsConfig, jobId: string): Promise<string> {
  const queue = new Queue(config.queueName, { connection: { url: config.redisUrl }, prefix: keyPrefix(config.prefix) });
  try {
    return (await (await queue.getJob(jobId))?.getState()) ?? 'missing';
  } finally {
    await queue.close();
  }
}

const request = (settings: SubmitRequest['settings']): SubmitRequest => ({
  kind: 'walk',
  prompts: [{ text: 'a lighthouse in a storm', contributorId: 'u1' }],
  settings,
  guildId: 'g1',
  channelId: 'c1',
  requesterId: 'u1',
  reply: { via: 'discord', channelId: 'c1' },
});

describe('worker crash (SIGKILL) with the real engine', () => {
  test('another worker finishes the job, resuming from the checkpointed frames; the result is delivered once', async () => {
    // Short locks so the dead worker's job is noticed within a couple of seconds.
    // The shapes pack by name: the kill below is timed to its render speed, not the default pack's.
    const config = testJobsConfig(server, { worker: { lockMs: 1500, stalledIntervalMs: 500, maxStalled: 2, modelDir: SHAPES_PACK } });
    const env = { LATENTWALK_LOCK_MS: '1500', LATENTWALK_STALLED_INTERVAL_MS: '500', LATENTWALK_MAX_STALLED: '2' };
    const { producer, checkpoint } = await setup(config);
    const results: string[] = [];
    const reader = producer.resultConsumer({ group: 'bot', consumer: 'bot-1', blockMs: 100 });
    await reader.start((result) => {
      results.push(result.jobId);
    });
    cleanups.push(() => reader.stop());

    const first = worker(config, ['--name', 'doomed'], env);
    await first.waitForOutput(/ready:/);
    // Seconds of rendering with the shapes model, one frame per batch: time to kill it part-way.
    const spec = { frames: 40, steps: 50, batchSize: 1, seed: 7 };
    const { jobId } = await producer.submit(request(spec));
    await waitFor('three checkpointed frames', async () => (await checkpoint.count(jobId)) >= 3, 30_000, 5);
    first.child.kill('SIGKILL');
    await first.exited;
    const savedAtKill = await checkpoint.count(jobId);
    assert.equal((await producer.position(jobId))?.state, 'active', 'the job was mid-render when its worker died');
    assert.ok(savedAtKill < 40, `only ${savedAtKill} of 40 frames were done`);

    const second = worker(config, ['--name', 'rescuer'], env);
    const outcome = await producer.waitForOutcome(jobId, { timeoutMs: 240_000, pollMs: 50 });
    assert.equal(outcome.status, 'done', JSON.stringify(outcome));
    if (outcome.status !== 'done') return;
    assert.ok(outcome.report.resumedFrames >= savedAtKill, `resumed ${outcome.report.resumedFrames} frames, ${savedAtKill} were saved`);
    assert.equal(outcome.attempts, 2);
    assert.match(second.stdout, new RegExp(`job ${jobId} started \\(attempt 2, resuming with \\d+ frames\\)`));

    // Resuming changes nothing in the output: same bytes as one uninterrupted render.
    const artifact = await producer.fetchArtifact(outcome.artifact.key);
    const engine = await loadEngineBackend({ modelDir: SHAPES_PACK }); // the pack the workers above ran
    try {
      const job = (await producer.get(jobId))!.spec!;
      const wanted = toEngineRequest(job, engine.defaults);
      const straight = await engine.render(wanted.walk, wanted.settings, {});
      const reference = await engine.encode(straight.frames, wanted.encode);
      assert.ok(artifact && Buffer.compare(artifact, Buffer.from(reference.bytes)) === 0, 'resumed GIF differs from an uninterrupted render');
    } finally {
      await engine.dispose();
    }

    await waitFor('the result to reach the consumer', () => results.includes(jobId));
    await new Promise((resolve) => setTimeout(resolve, 1000)); // a few more stalled checks: still one result
    assert.equal(await resultEntries(producer, jobId), 1);
    assert.deepEqual(results, [jobId]);
    assert.equal(await bullState(config, jobId), 'completed');

    second.child.kill('SIGTERM');
    assert.equal(await second.exited, 0);
  });
});

describe('frame checkpoints', () => {
  test('keep a blended batch\'s latents with its frames; frames of another model are never handed back', async () => {
    const config = testJobsConfig(server);
    const { checkpoint } = await setup(config);
    const frame = (v: number) => ({ width: 2, height: 1, data: Uint8Array.of(v, v, v, v, v, v) });
    const state = (v: number) => Float32Array.of(v, -v, v / 3, 1e-30, -0);
    await checkpoint.save('cp1', { indices: [4, 7], frames: [frame(1), frame(2)], states: [state(0.5), state(2)] }, 'shapes on cpu');
    await checkpoint.save('cp1', { indices: [9], frames: [frame(3)] }, 'shapes on cpu');
    assert.equal(await checkpoint.count('cp1'), 3, 'frames only');
    const work = await checkpoint.load('cp1', 'shapes on cpu');
    assert.deepEqual([...work.frames.keys()].sort(), [4, 7, 9]);
    assert.deepEqual(work.frames.get(7)!.data, frame(2).data);
    assert.deepEqual([...work.states.keys()].sort(), [4, 7]);
    assert.deepEqual(work.states.get(4), state(0.5), 'the float32 bytes come back exactly');
    assert.deepEqual(work.states.get(7), state(2));
    const other = await checkpoint.load('cp1', 'another model');
    assert.equal(other.frames.size + other.states.size, 0);
    await checkpoint.clear('cp1');
  });
});

describe('worker shutdown (SIGTERM)', () => {
  test('a job still running at the deadline is handed back, resumed elsewhere, never lost; the worker exits 0', async () => {
    const config = testJobsConfig(server);
    const { producer, checkpoint } = await setup(config);
    const first = worker(config, ['--renderer', 'noop', '--noop-batch-ms', '150'], { LATENTWALK_SHUTDOWN_GRACE_MS: '300' });
    await first.waitForOutput(/ready:/);
    const { jobId } = await producer.submit(request({ frames: 30, batchSize: 1 }));
    await waitFor('two checkpointed frames', async () => (await checkpoint.count(jobId)) >= 2, 20_000);
    const stoppedAt = Date.now();
    first.child.kill('SIGTERM');
    assert.equal(await first.exited, 0);
    assert.ok(Date.now() - stoppedAt < 5000, `took ${Date.now() - stoppedAt} ms to stop`);
    assert.match(first.stdout, new RegExp(`job ${jobId} handed back to the queue`));
    const saved = await checkpoint.count(jobId);
    assert.equal((await producer.position(jobId))?.state, 'waiting');
    assert.match(await bullState(config, jobId), /^(prioritized|waiting)$/);

    const rescuer = await RenderWorker.start({ config, backend: createNoopBackend({ batchMs: 5 }) });
    cleanups.push(() => rescuer.stop(0));
    const outcome: JobOutcome = await producer.waitForOutcome(jobId, { pollMs: 20 });
    assert.equal(outcome.status, 'done');
    if (outcome.status === 'done') assert.ok(outcome.report.resumedFrames >= saved && saved >= 2);
    assert.equal(await resultEntries(producer, jobId), 1);
  });

  test('a job that finishes within the grace period is completed before the worker exits 0', async () => {
    const config = testJobsConfig(server);
    const { producer } = await setup(config);
    const first = worker(config, ['--renderer', 'noop', '--noop-batch-ms', '200'], { LATENTWALK_SHUTDOWN_GRACE_MS: '10000' });
    await first.waitForOutput(/ready:/);
    const { jobId } = await producer.submit(request({ frames: 4, batchSize: 1 }));
    await waitFor('the job to start', async () => (await producer.position(jobId))?.state === 'active');
    first.child.kill('SIGTERM');
    assert.equal(await first.exited, 0);
    const record = await producer.get(jobId);
    assert.equal(record?.state, 'done');
    assert.equal(record?.outcome?.status === 'done' && record.outcome.attempts, 1);
    assert.equal(await resultEntries(producer, jobId), 1);
  });
});

describe('lock renewal during a long render (real engine)', () => {
  test('a render lasting several lock lifetimes keeps its lock: no other worker takes it over', async () => {
    const lockMs = 1000;
    const engine = await loadEngineBackend();
    const settings = { steps: 50, batchSize: 1, seed: 3 };
    // Sized from a short calibration render, so the job outlasts several lock lifetimes on a fast machine too.
    const calibrationFrames = 4;
    const started = performance.now();
    await engine.render({ kind: 'walk', prompts: ['a lighthouse in a storm'], frames: calibrationFrames }, settings, {});
    const perFrameMs = (performance.now() - started) / calibrationFrames;
    const frames = Math.min(2000, Math.max(40, Math.ceil((4 * lockMs) / perFrameMs)));
    const config = testJobsConfig(server, {
      limits: { maxFrames: 2000 },
      worker: { lockMs, stalledIntervalMs: 300, maxStalled: 1 },
    });
    const { producer } = await setup(config);
    const renderer = await RenderWorker.start({ config, backend: engine });
    cleanups.push(async () => {
      await renderer.stop(0);
      await engine.dispose();
    });
    const { jobId } = await producer.submit(request({ frames, ...settings }));
    await waitFor('the render to start', async () => (await producer.position(jobId))?.state === 'active');
    // A second worker whose stalled checks would take the job over the moment its lock lapsed.
    const rival = await RenderWorker.start({ config, backend: createNoopBackend() });
    cleanups.push(() => rival.stop(0));
    const rivalStarted: string[] = [];
    rival.on('started', (id) => rivalStarted.push(id));
    const outcome = await producer.waitForOutcome(jobId, { timeoutMs: 240_000, pollMs: 50 });
    assert.equal(outcome.status, 'done');
    if (outcome.status !== 'done') return;
    assert.ok(outcome.renderMs > 2 * lockMs, `the render of ${frames} frames took only ${outcome.renderMs} ms`);
    assert.equal(outcome.attempts, 1);
    assert.equal(outcome.report.resumedFrames, 0);
    assert.deepEqual(rivalStarted, []);
  });
});
