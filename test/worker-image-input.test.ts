/**
 * Image input through the queue: a job names an input image stored in Redis, a real worker (engine backend on
 * the tiny pack) renders from it, frame 0 comes out near the picture; an expired image and a pack without a
 * vae_encoder fail the job at once (no retry) with a line the requester can act on.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import type { JobsConfig } from '../src/jobs/config.ts';
import { JobProducer } from '../src/jobs/producer.ts';
import { SubmitRefusedError } from '../src/jobs/errors.ts';
import { loadEngineBackend } from '../src/worker/backend.ts';
import { RenderWorker } from '../src/worker/render-worker.ts';
import { copyTinyPack, removeTestPacks, TINY_PACK } from './harness/packs.ts';
import { TestRedis, testJobsConfig } from './harness/redis.ts';

let server: TestRedis;
let producer: JobProducer;
let config: JobsConfig;
const raw = new Uint8Array(64 * 64 * 3);
for (let i = 0; i < 64 * 64; i++) raw.set([40 + (i % 64) * 3, 200 - Math.floor(i / 64) * 2, 120], i * 3);

before(async () => {
  server = await TestRedis.start();
  config = testJobsConfig(server);
  producer = await JobProducer.connect(config);
});
after(async () => {
  await producer?.close();
  await server?.stop();
  removeTestPacks();
});

const base = { guildId: 'g1', channelId: 'c1', requesterId: 'u1', reply: { via: 'cli' as const } };
const prompts = [
  { text: 'a cat', contributorId: 'u1' },
  { text: 'a dog', contributorId: 'u1' },
];

describe('image input through the worker', () => {
  it('renders from the stored image: frame 0 near it, the report says how', async () => {
    const png = await sharp(raw, { raw: { width: 64, height: 64, channels: 3 } }).png().toBuffer();
    const key = await producer.inputImages.put(png);
    const backend = await loadEngineBackend({ modelDir: TINY_PACK });
    const worker = await RenderWorker.start({ config, backend, name: 'w-image' });
    try {
      const ticket = await producer.submit({
        ...base,
        kind: 'morph',
        prompts,
        settings: { frames: 2, smooth: 'off', format: 'webp', fps: 5, image: { key, bytes: png.length, name: 'photo.png' }, strength: 0.25 },
      });
      const outcome = await producer.waitForOutcome(ticket.jobId, { pollMs: 20 });
      assert.equal(outcome.status, 'done', JSON.stringify(outcome));
      if (outcome.status !== 'done') return;
      assert.equal(outcome.report.image?.startStep, 3);
      assert.equal(outcome.artifact.format, 'webp');
      const file = await producer.fetchArtifact(outcome.artifact.key);
      const first = await sharp(file!, { animated: false, page: 0 }).removeAlpha().raw().toBuffer();
      const diff = first.reduce((s, v, i) => s + Math.abs(v - raw[i]!), 0) / first.length;
      assert.ok(diff < 25, `frame 0 mean abs diff ${diff.toFixed(1)}`);

      // An image Redis no longer has: failed at once, with what to do.
      const gone = await producer.submit({ ...base, kind: 'loop', prompts: [prompts[0]!], settings: { frames: 2, image: { key: 'img-000000000000000000000000', bytes: 10 } } });
      const expired = await producer.waitForOutcome(gone.jobId, { pollMs: 20 });
      assert.equal(expired.status, 'failed');
      assert.match(expired.status === 'failed' ? expired.reason : '', /has expired .* run the command again with the image/);
      assert.equal(expired.status === 'failed' ? expired.attempts : 0, 1, 'not retried');
    } finally {
      await worker.stop(0);
      await backend.dispose();
    }
  });

  it('a worker whose pack has no vae_encoder fails the job with the engine\'s line', async () => {
    const bare = copyTinyPack();
    rmSync(join(bare, 'vae_encoder'), { recursive: true });
    const png = await sharp(raw, { raw: { width: 64, height: 64, channels: 3 } }).png().toBuffer();
    const key = await producer.inputImages.put(png);
    const backend = await loadEngineBackend({ modelDir: bare });
    const worker = await RenderWorker.start({ config, backend, name: 'w-bare' });
    try {
      const ticket = await producer.submit({ ...base, kind: 'loop', prompts: [prompts[0]!], settings: { frames: 2, image: { key, bytes: png.length } } });
      const outcome = await producer.waitForOutcome(ticket.jobId, { pollMs: 20 });
      assert.equal(outcome.status, 'failed');
      assert.match(outcome.status === 'failed' ? outcome.reason : '', /has no vae_encoder; image input needs/);
    } finally {
      await worker.stop(0);
      await backend.dispose();
    }
  });

  it('the contract refuses a strength without an image and a bad image reference', async () => {
    await assert.rejects(producer.submit({ ...base, kind: 'loop', prompts: [prompts[0]!], settings: { strength: 0.5 } }), (e: unknown) => e instanceof SubmitRefusedError && /strength needs an image/.test(e.message));
    await assert.rejects(
      producer.submit({ ...base, kind: 'loop', prompts: [prompts[0]!], settings: { image: { key: '../../etc', bytes: 1 } } }),
      (e: unknown) => e instanceof SubmitRefusedError && /settings\.image\.key: must be an input image id/.test(e.message),
    );
    await assert.rejects(producer.inputImages.put(new Uint8Array(10 * 1024 * 1024 + 1)), /the limit is 10 MiB/);
  });
});
