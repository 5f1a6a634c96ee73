import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, DEFAULT_JOBS_CONFIG, loadJobsConfig } from '../src/jobs/config.ts';
import { buildJobSpec, parseJobSpec, type SubmitRequest } from '../src/jobs/contract.ts';
import type { Redis } from 'ioredis';
import { RedisUnusableError, SubmitRefusedError } from '../src/jobs/errors.ts';
import { checkRedisServer } from '../src/jobs/redis.ts';
import { toEngineRequest } from '../src/worker/request.ts';

const limits = DEFAULT_JOBS_CONFIG.limits;

function request(overrides: Partial<SubmitRequest> = {}): SubmitRequest {
  return {
    kind: 'morph',
    prompts: [
      { text: 'a red fox', contributorId: '111' },
      { text: 'a blue whale', contributorId: '222' },
    ],
    guildId: '900',
    channelId: '901',
    requesterId: '111',
    reply: { via: 'discord', applicationId: '1', interactionToken: 'tok', channelId: '901' },
    ...overrides,
  };
}

function refusal(fn: () => unknown): SubmitRefusedError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof SubmitRefusedError, `expected SubmitRefusedError, got ${error}`);
    return error;
  }
  assert.fail('expected a refusal');
}

describe('job contract', () => {
  test('a valid request becomes a versioned spec with a seed and a byte budget', () => {
    const spec = buildJobSpec(request({ settings: { frames: 12 } }), limits, 1000);
    assert.equal(spec.v, 1);
    assert.equal(spec.createdAt, 1000);
    assert.equal(typeof spec.settings.seed, 'number');
    assert.equal(spec.settings.frames, 12);
    assert.equal(spec.maxBytes, 10 * 1024 * 1024);
    assert.deepEqual(parseJobSpec(JSON.parse(JSON.stringify(spec))), spec);
  });

  test('limits are enforced with a message the requester can act on', () => {
    const frames = refusal(() => buildJobSpec(request({ settings: { frames: 500 } }), limits));
    assert.equal(frames.reason, 'INVALID');
    assert.equal(frames.field, 'settings.frames');
    assert.match(frames.message, /500 frames .* ask for 60 or fewer/);

    const prompt = refusal(() =>
      buildJobSpec(request({ prompts: [{ text: 'a', contributorId: '1' }, { text: 'x'.repeat(600), contributorId: '2' }] }), limits),
    );
    assert.equal(prompt.field, 'prompts.1.text');
    assert.match(prompt.message, /prompt 2 is 600 characters; the limit is 500/);

    assert.match(refusal(() => buildJobSpec(request({ settings: { steps: 99 } }), limits)).message, /50 or fewer/);
    assert.match(refusal(() => buildJobSpec(request({ settings: { width: 2048 } }), limits)).message, /1024 pixels or less/);
    const grid = request({
      kind: 'grid',
      prompts: ['a', 'b', 'c', 'd'].map((text) => ({ text, contributorId: '1' })),
      settings: { gridSize: 9 },
    });
    assert.match(refusal(() => buildJobSpec(grid, limits)).message, /6x6 or smaller/);
  });

  test('structural mistakes name the field', () => {
    assert.match(refusal(() => buildJobSpec(request({ prompts: [{ text: 'one', contributorId: '1' }] }), limits)).message, /a morph takes 2 prompts, got 1/);
    assert.match(refusal(() => buildJobSpec(request({ settings: { width: 100 } }), limits)).message, /settings\.width: .*multiple of 16/);
    assert.match(refusal(() => buildJobSpec(request({ guildId: 'a:b' }), limits)).message, /guildId: must be 1-64 letters/);
    assert.match(
      refusal(() => buildJobSpec(request({ settings: { colour: 'red' } as never }), limits)).message,
      /unknown option colour in settings/,
    );
    assert.match(refusal(() => buildJobSpec(request({ settings: { gridSize: 3 } }), limits)).message, /gridSize only applies to grids/);
    assert.match(refusal(() => buildJobSpec(request({ jobId: '12345' }), limits)).message, /not all digits/);
  });

  test('smooth: blend unless the request says, a bad mode named, and a job stored before it existed renders off', () => {
    assert.equal(buildJobSpec(request({}), limits).settings.smooth, 'blend');
    assert.equal(buildJobSpec(request({ settings: { smooth: 'even' } }), limits).settings.smooth, 'even');
    assert.match(refusal(() => buildJobSpec(request({ settings: { smooth: 'wobbly' } as never }), limits)).message, /settings\.smooth: must be one of off, even, blend/);
    const legacy = buildJobSpec(request({ settings: { seed: 1 } }), limits);
    delete (legacy.settings as { smooth?: string }).smooth;
    assert.equal(toEngineRequest(parseJobSpec(legacy), { fps: 10, frames: 8, displayScale: 1 }).settings.smooth, 'off');
  });

  test('format: mp4 and webp for animations, png and jpeg for grids; a job stored without one stays a GIF', () => {
    const defaults = { fps: 10, frames: 8, displayScale: 1 };
    for (const format of ['gif', 'mp4', 'webp'] as const) {
      assert.equal(toEngineRequest(buildJobSpec(request({ settings: { format } }), limits), defaults).encode.format, format);
    }
    assert.match(refusal(() => buildJobSpec(request({ settings: { format: 'png' } }), limits)).message, /settings\.format: a morph is an animation: gif, mp4, webp/);
    assert.match(refusal(() => buildJobSpec(request({ settings: { format: 'avi' } as never }), limits)).message, /settings\.format: must be one of gif, mp4, webp, png, jpeg/);
    const grid = request({ kind: 'grid', prompts: ['a', 'b', 'c', 'd'].map((text) => ({ text, contributorId: '1' })), settings: { format: 'mp4' } });
    assert.match(refusal(() => buildJobSpec(grid, limits)).message, /a grid is one still image: png or jpeg/);
    const legacy = buildJobSpec(request({ settings: { seed: 1 } }), limits);
    assert.equal(legacy.settings.format, undefined);
    assert.equal(toEngineRequest(parseJobSpec(legacy), defaults).encode.format, 'gif');
  });

  test('the worker maps a job onto the engine request with pack defaults', () => {
    const defaults = { fps: 10, frames: 8, displayScale: 2 };
    const morph = toEngineRequest(buildJobSpec(request({ settings: { seed: 7, steps: 3 } }), limits), defaults);
    assert.deepEqual(morph.walk, { kind: 'morph', prompts: ['a red fox', 'a blue whale'], frames: 8 });
    assert.deepEqual(morph.settings, { seed: 7, steps: 3, smooth: 'blend' }, 'submit fills in the default smoothing');
    assert.equal(morph.encode.format, 'gif');
    assert.equal(morph.encode.rubberBand, true);
    assert.equal(morph.encode.displayScale, 2);
    const grid = toEngineRequest(
      buildJobSpec(request({ kind: 'grid', prompts: ['a', 'b', 'c', 'd'].map((text) => ({ text, contributorId: '1' })) }), limits),
      defaults,
    );
    assert.equal(grid.walk.kind === 'grid' && grid.walk.gridSize, 3);
    assert.equal(grid.framesTotal, 9);
    assert.equal(grid.encode.format, 'png');
  });
});

describe('jobs config', () => {
  test('defaults without environment', () => {
    const config = loadJobsConfig({});
    assert.equal(config.redisUrl, 'redis://127.0.0.1:6379');
    assert.equal(config.worker.concurrency, 1);
  });

  test('reads REDIS_URL and LATENTWALK_* variables', () => {
    const config = loadJobsConfig({
      REDIS_URL: 'redis://example:7000',
      LATENTWALK_MAX_QUEUED_PER_GUILD: '7',
      LATENTWALK_LOCK_MS: '5000',
      LATENTWALK_ARTIFACT_TTL_S: '60',
      LATENTWALK_THREADS: '1',
    });
    assert.equal(config.worker.threads, 1, 'onnxruntime threads for the worker');
    assert.throws(() => loadJobsConfig({ LATENTWALK_THREADS: '0' }), /LATENTWALK_THREADS/);
    assert.equal(config.redisUrl, 'redis://example:7000');
    assert.equal(config.caps.perGuild, 7);
    assert.equal(config.worker.lockMs, 5000);
    assert.equal(config.artifactTtlMs, 60_000);
  });

  test('a bad value names the variable', () => {
    assert.throws(() => loadJobsConfig({ LATENTWALK_MAX_FRAMES: 'lots' }), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.key, 'LATENTWALK_MAX_FRAMES');
      assert.match(error.message, /^LATENTWALK_MAX_FRAMES must be a whole number between 2 and 1000 \(got "lots"\)$/);
      return true;
    });
    assert.throws(() => loadJobsConfig({ REDIS_URL: 'localhost:6379' }), /REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL/);
    assert.throws(() => loadJobsConfig({ LATENTWALK_PROVIDER: 'tpu' }), /LATENTWALK_PROVIDER must be one of cpu, webgpu, cuda/);
  });
});

describe('process boundaries', () => {
  test('nothing the bot imports from src/jobs loads the worker, the engine or onnxruntime at runtime', async () => {
    const { readdir, readFile } = await import('node:fs/promises');
    const dir = new URL('../src/jobs/', import.meta.url);
    for (const name of await readdir(dir)) {
      const source = await readFile(new URL(name, dir), 'utf8');
      for (const match of source.matchAll(/^\s*(import|export)\s+(?!type\b)[^;]*?from\s+'([^']+)'/gms)) {
        const target = match[2]!;
        // src/worker/ and src/engine/ (not this folder's own workers.ts, the directory of live workers).
        assert.doesNotMatch(target, /(^|\/)(worker|engine)(\/|\.ts$)|onnxruntime|sharp/, `${name} imports ${target} at runtime`);
      }
      assert.doesNotMatch(source, /import\(\s*'[^']*(worker|engine|onnxruntime)/, `${name} imports the engine dynamically`);
    }
  });
});

describe('redis server check', () => {
  const fakeServer = (info: string) => ({ info: async () => info }) as unknown as Redis;

  test('a server older than 6.2 is refused with the version named', async () => {
    await assert.rejects(
      checkRedisServer(fakeServer('# Server\r\nredis_version:5.0.7\r\n# Memory\r\nmaxmemory_policy:noeviction\r\n'), 'redis://user:secret@db:6379'),
      (error: unknown) => {
        assert.ok(error instanceof RedisUnusableError);
        assert.equal(error.message, 'Redis at redis://***@db:6379 is version 5.0.7; the job queue needs 6.2.0 or newer');
        return true;
      },
    );
  });

  test('a usable server without AOF passes with a warning', async () => {
    const info = await checkRedisServer(fakeServer('redis_version:7.2.4\r\nmaxmemory_policy:noeviction\r\naof_enabled:0\r\n'), 'redis://h:1');
    assert.equal(info.version, '7.2.4');
    assert.equal(info.aofEnabled, false);
    assert.match(info.warnings[0]!, /append-only persistence off: queued jobs are lost if Redis restarts \(set appendonly yes\)/);
  });
});
