/**
 * Live previews, the worker's side, against a real redis-server: after each checkpointed batch the newest frame
 * becomes a small WebP still in Redis, named by the progress events (never carried in them), at most once per
 * interval and one at a time; none for operator (CLI) jobs, none when a still is over the byte limit or the
 * limit is 0; the finish deletes it. Plus the still itself (size, aspect, kernel) and the config keys.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { ConfigError, loadJobsConfig, type JobsConfig, type JobsConfigOverrides } from '../src/jobs/config.ts';
import type { JobPreviewInfo, JobProgress, SubmitRequest } from '../src/jobs/contract.ts';
import { JobKeys } from '../src/jobs/keys.ts';
import { JobProducer } from '../src/jobs/producer.ts';
import { createNoopBackend } from '../src/worker/noop-backend.ts';
import { encodeStill, LivePreview, PREVIEW_SIDE } from '../src/worker/preview.ts';
import { RenderWorker } from '../src/worker/render-worker.ts';
import { TestRedis, testJobsConfig } from './harness/redis.ts';

let server: TestRedis;
const cleanups: (() => Promise<void>)[] = [];

before(async () => {
  server = await TestRedis.start();
});

after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  await server.stop();
});

function request(kind: 'walk' | 'grid', via: 'discord' | 'cli' = 'discord'): SubmitRequest {
  return {
    kind,
    prompts: kind === 'grid' ? ['a', 'b', 'c', 'd'].map((text) => ({ text, contributorId: 'u1' })) : [{ text: 'a lighthouse', contributorId: 'u1' }],
    settings: kind === 'grid' ? { gridSize: 3, batchSize: 2 } : { frames: 8, batchSize: 2 },
    guildId: 'g1',
    channelId: 'c1',
    requesterId: 'u1',
    reply: via === 'cli' ? { via: 'cli' } : { via: 'discord', channelId: 'c1', interactionToken: 'token' },
  };
}

interface Run {
  events: JobPreviewInfo[];
  progress: JobProgress[];
  keysDuring: boolean[];
  keyAfter: number;
}

/** One job through a worker on the no-op renderer (each batch takes `batchMs`), watching its previews. */
async function run(overrides: JobsConfigOverrides, job: SubmitRequest, batchMs = 60): Promise<Run & { producer: JobProducer; config: JobsConfig }> {
  const config = testJobsConfig(server, overrides);
  const producer = await JobProducer.connect(config);
  cleanups.push(() => producer.close());
  const worker = await RenderWorker.start({ config, backend: createNoopBackend({ batchMs, size: 16 }), progressIntervalMs: 0 });
  cleanups.push(() => worker.stop(0));
  const events: JobPreviewInfo[] = [];
  const keysDuring: boolean[] = [];
  const progress: JobProgress[] = [];
  const stopProgress = await producer.onProgress((_id, p) => progress.push(p));
  worker.on('preview', (_id, info) => events.push(info));
  const { jobId } = await producer.submit(job);
  worker.on('preview', () => {
    void producer.redis.exists(new JobKeys(config.prefix).preview(jobId)).then((n) => keysDuring.push(n === 1));
  });
  const outcome = await producer.waitForOutcome(jobId, { pollMs: 10, timeoutMs: 30_000 });
  assert.equal(outcome.status, 'done');
  await sleep(100); // the last progress events
  stopProgress();
  const keyAfter = await producer.redis.exists(new JobKeys(config.prefix).preview(jobId));
  return { events, progress, keysDuring, keyAfter, producer, config };
}

describe('the worker publishes live previews', () => {
  it('a still per batch (interval 0), in Redis while rendering, named by the progress, deleted at the finish', async () => {
    const { events, progress, keysDuring, keyAfter } = await run({ preview: { intervalMs: 0, maxBytes: 65_536 } }, request('walk'));
    assert.ok(events.length >= 2, `stills: ${events.length}`);
    assert.ok(events.length <= 4, 'never more than one per batch (8 frames, batches of 2)');
    const seqs = events.map((e) => e.seq);
    assert.deepEqual([...seqs].sort((a, b) => a - b), seqs, 'seq grows');
    assert.equal(new Set(seqs).size, seqs.length);
    for (const info of events) assert.ok(info.bytes > 0 && info.bytes <= 65_536);
    const named = progress.filter((p) => p.preview).map((p) => p.preview!.seq);
    assert.ok(named.includes(events.at(-1)!.seq), 'the newest still reaches the progress events');
    for (const p of progress) assert.equal(JSON.stringify(p).length < 1000, true, 'no image bytes in a progress event');
    assert.ok(keysDuring.some(Boolean), 'the still was in Redis while the job rendered');
    assert.equal(keyAfter, 0, 'the finish deleted it');
  });

  it('the still in Redis is the newest frame as a WebP fitted into 256 px', async () => {
    const config = testJobsConfig(server, { preview: { intervalMs: 0, maxBytes: 65_536 } });
    const producer = await JobProducer.connect(config);
    cleanups.push(() => producer.close());
    const worker = await RenderWorker.start({ config, backend: createNoopBackend({ batchMs: 300, size: 16 }), progressIntervalMs: 0 });
    cleanups.push(() => worker.stop(0));
    const first = new Promise<[string, JobPreviewInfo]>((resolve) => worker.once('preview', (id, info) => resolve([id, info])));
    const { jobId } = await producer.submit(request('walk'));
    const [id, info] = await first;
    assert.equal(id, jobId);
    const still = await producer.previews.fetch(jobId);
    assert.ok(still);
    assert.equal(still.seq, info.seq);
    assert.equal(still.frame, 1, 'the newest frame of the first batch (frames 0 and 1)');
    assert.equal(still.mimeType, 'image/webp');
    const meta = await sharp(still.data).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['webp', PREVIEW_SIDE, PREVIEW_SIDE]);
    await producer.cancel(jobId);
  });

  it('at most one still per interval', async () => {
    const { events } = await run({ preview: { intervalMs: 60_000, maxBytes: 65_536 } }, request('walk'));
    assert.equal(events.length, 1, 'the first batch only');
  });

  it('grid cells get previews too', async () => {
    const { events } = await run({ preview: { intervalMs: 0, maxBytes: 65_536 } }, request('grid'));
    assert.ok(events.length >= 2, `stills: ${events.length}`);
    assert.ok(events.every((e) => e.frame >= 0 && e.frame < 9));
  });

  it('none for an operator (CLI) job, none over the byte limit, none when the limit is 0', async () => {
    for (const [overrides, job] of [
      [{ preview: { intervalMs: 0, maxBytes: 65_536 } }, request('walk', 'cli')],
      [{ preview: { intervalMs: 0, maxBytes: 40 } }, request('walk')],
      [{ preview: { intervalMs: 0, maxBytes: 0 } }, request('walk')],
    ] as const) {
      const { events, progress, keyAfter } = await run(overrides, job, 20);
      assert.deepEqual(events, [], JSON.stringify(overrides));
      assert.ok(progress.length > 0 && progress.every((p) => p.preview === undefined));
      assert.equal(keyAfter, 0);
    }
  });
});

describe('LivePreview', () => {
  const frame = { width: 4, height: 4, data: new Uint8Array(48).fill(200) };
  const batch = { indices: [6, 7], frames: [frame, frame] };

  it('makes one still at a time and never fails the render', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let encodes = 0;
    const published: JobPreviewInfo[] = [];
    const lines: string[] = [];
    const preview = new LivePreview({
      jobId: 'j1',
      store: { publish: async () => { if (published.length === 1) throw new Error('Redis said no'); } },
      intervalMs: 0,
      maxBytes: 1000,
      onPublished: (info) => published.push(info),
      log: (line) => lines.push(line),
      encode: async () => {
        encodes++;
        await gate;
        return { data: Buffer.alloc(10), width: 4, height: 4, mimeType: 'image/webp' };
      },
    });
    preview.offer(batch);
    preview.offer(batch); // one is still being made: skipped
    preview.offer(batch);
    assert.equal(encodes, 1);
    release();
    await preview.settle();
    assert.deepEqual(published.map((p) => [p.frame, p.bytes]), [[7, 10]]);
    preview.offer(batch); // the store fails: logged, dropped
    await preview.settle();
    assert.equal(published.length, 1);
    assert.match(lines.join('\n'), /dropped: Redis said no/);
    preview.stop();
    preview.offer(batch);
    assert.equal(encodes, 2, 'nothing after stop');
  });
});

describe('encodeStill', () => {
  it('fits any frame into 256 px, keeping its aspect', async () => {
    for (const [w, h, ew, eh] of [
      [64, 64, 256, 256],
      [1024, 512, 256, 128],
      [96, 160, 154, 256],
    ] as const) {
      const still = await encodeStill({ width: w, height: h, data: new Uint8Array(w * h * 3).fill(90) });
      const meta = await sharp(still.data).metadata();
      assert.deepEqual([meta.format, meta.width, meta.height, still.width, still.height], ['webp', ew, eh, ew, eh]);
    }
  });

  it('upscales with nearest neighbour: a two-colour frame stays two flat halves', async () => {
    const data = new Uint8Array(8 * 8 * 3);
    for (let i = 0; i < 64; i++) data.set(i % 8 < 4 ? [255, 0, 0] : [0, 0, 255], i * 3);
    const still = await encodeStill({ width: 8, height: 8, data });
    const { data: raw } = await sharp(still.data).raw().toBuffer({ resolveWithObject: true });
    const at = (x: number, y: number) => [...raw.subarray((y * 256 + x) * 3, (y * 256 + x) * 3 + 3)];
    assert.ok(at(10, 10)[0]! > 200 && at(10, 10)[2]! < 60, `left is red: ${at(10, 10)}`);
    assert.ok(at(240, 10)[2]! > 200 && at(240, 10)[0]! < 60, `right is blue: ${at(240, 10)}`);
  });
});

describe('preview settings', () => {
  it('are read from the environment and refused with the key named', () => {
    const config = loadJobsConfig({ LATENTWALK_PREVIEW_INTERVAL_MS: '1500', LATENTWALK_PREVIEW_MAX_BYTES: '0' });
    assert.deepEqual(config.preview, { intervalMs: 1500, maxBytes: 0 });
    assert.deepEqual(loadJobsConfig({}).preview, { intervalMs: 5000, maxBytes: 65_536 });
    assert.throws(() => loadJobsConfig({ LATENTWALK_PREVIEW_INTERVAL_MS: 'soon' }), (e: unknown) => e instanceof ConfigError && e.key === 'LATENTWALK_PREVIEW_INTERVAL_MS' && /whole number/.test(e.message));
    assert.throws(() => loadJobsConfig({ LATENTWALK_PREVIEW_MAX_BYTES: '-1' }), (e: unknown) => e instanceof ConfigError && e.key === 'LATENTWALK_PREVIEW_MAX_BYTES');
    assert.throws(() => loadJobsConfig({ LATENTWALK_PREVIEW_MAX_BYTES: String(9 * 1024 * 1024) }), /LATENTWALK_PREVIEW_MAX_BYTES must be at most/);
  });
});
