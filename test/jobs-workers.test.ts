/**
 * The worker directory: render workers announce their model (and the one size a fixed-size model renders)
 * in Redis, the bot reads who is live, and a size no live worker can render is refused before queueing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { JobsConfig } from '../src/jobs/config.ts';
import { JobProducer } from '../src/jobs/producer.ts';
import { LEXICON_TTL_MS, lexiconId, sizeUnavailable, WORKER_ANNOUNCE_TTL_MS, type WorkerAnnouncement } from '../src/jobs/workers.ts';
import { loadEngineBackend } from '../src/worker/backend.ts';
import { createNoopBackend } from '../src/worker/noop-backend.ts';
import { RenderWorker } from '../src/worker/render-worker.ts';
import { SHAPES_PACK, TINY_PACK } from './harness/packs.ts';
import { TestRedis, testJobsConfig } from './harness/redis.ts';

let server: TestRedis;
let producer: JobProducer;
let config: JobsConfig;

before(async () => {
  server = await TestRedis.start();
  config = testJobsConfig(server);
  producer = await JobProducer.connect(config);
});
after(async () => {
  await producer?.close();
  await server?.stop();
});

const shapes = (id: string, seenAt = 0): WorkerAnnouncement => ({ id, model: 'shapes', fixedSize: { width: 64, height: 64 }, seenAt });

describe('sizeUnavailable', () => {
  it('lets any size through when no worker is live (the job waits; the worker checks it)', () => {
    assert.equal(sizeUnavailable([], 512), undefined);
  });
  it('lets a size through when one live worker can render it', () => {
    assert.equal(sizeUnavailable([shapes('a')], 64), undefined);
    assert.equal(sizeUnavailable([shapes('a'), { id: 'b', model: 'sd3', seenAt: 0 }], 512), undefined);
  });
  it('names the model, its size and what to do when none can', () => {
    assert.equal(
      sizeUnavailable([shapes('a'), shapes('b')], 512),
      "size 512 is not available: this bot's model 'shapes' renders 64x64 only; leave size out or use size:64.",
    );
    const mixed = [shapes('a'), { id: 'b', model: 'wide', fixedSize: { width: 128, height: 64 }, seenAt: 0 }];
    assert.equal(sizeUnavailable(mixed, 512), "size 512 is not available: this bot's models render fixed sizes only ('shapes' 64x64, 'wide' 128x64); leave size out.");
  });
});

describe('WorkerDirectory', () => {
  it('lists workers announced within the TTL, prunes older ones, and forgets a withdrawn one', async () => {
    const dir = producer.workers;
    const now = 1_000_000_000;
    await dir.announce({ id: 'w-old', model: 'tiny' }, now - WORKER_ANNOUNCE_TTL_MS - 1);
    await dir.announce({ id: 'w-new', model: 'shapes', fixedSize: { width: 64, height: 64 } }, now - 5);
    assert.deepEqual(await dir.live(now), [{ id: 'w-new', model: 'shapes', fixedSize: { width: 64, height: 64 }, seenAt: now - 5 }]);
    assert.deepEqual(await producer.redis.hkeys(producer.guildQueue.keys.workers), ['w-new'], 'the stale entry is pruned');
    await dir.withdraw('w-new');
    assert.deepEqual(await dir.live(now), []);
  });

  it('a running worker announces its model and fixed size, and withdraws when it stops', async () => {
    for (const [pack, expected] of [
      [SHAPES_PACK, { model: 'shapes', fixedSize: { width: 64, height: 64 } }],
      [TINY_PACK, { model: 'tiny' }],
    ] as const) {
      const backend = await loadEngineBackend({ modelDir: pack });
      const worker = await RenderWorker.start({ config, backend, name: `w-${expected.model}` });
      try {
        const live = await producer.workers.live();
        assert.deepEqual(
          live.map(({ seenAt: _seenAt, lexicon: _lexicon, ...rest }) => rest),
          [{ id: `w-${expected.model}`, ...expected }],
        );
        // shapes declares its vocabulary and suggestions (latentwalk.json): published once, named by id
        assert.equal(live[0]!.lexicon !== undefined, expected.model === 'shapes');
      } finally {
        await worker.stop(0);
        await backend.dispose();
      }
      assert.deepEqual(await producer.workers.live(), [], 'withdrawn on stop');
    }
    // A backend that renders any size announces none, and has no lexicon.
    const noop = await RenderWorker.start({ config, backend: createNoopBackend(), name: 'w-noop' });
    try {
      assert.deepEqual((await producer.workers.live()).map((w) => [w.id, w.model, w.fixedSize]), [['w-noop', 'noop', undefined]]);
    } finally {
      await noop.stop(0);
    }
  });
});

describe('model lexicons', () => {
  it('a shapes worker publishes its vocabulary and suggestions; the TTL is refreshed and a lost one comes back', async () => {
    const backend = await loadEngineBackend({ modelDir: 'shapes' });
    assert.ok(backend.lexicon);
    const worker = await RenderWorker.start({ config, backend, name: 'w-lexicon' });
    try {
      const [entry] = await producer.workers.live();
      assert.equal(entry!.lexicon, lexiconId(backend.lexicon));
      assert.match(entry!.lexicon!, /^shapes-[0-9a-f]{16}$/);
      const lexicon = await producer.workers.lexicon(entry!.lexicon!);
      assert.equal(lexicon?.model, 'shapes');
      assert.ok(lexicon?.vocabulary?.includes('circle') && !lexicon.vocabulary.includes('dog'));
      assert.equal(lexicon?.suggestions?.[0], 'a red circle');
      const key = producer.guildQueue.keys.lexicon(entry!.lexicon!);
      const ttl = await producer.redis.pttl(key);
      assert.ok(ttl > 0 && ttl <= LEXICON_TTL_MS, `ttl ${ttl}`);
      await producer.redis.del(key);
      await producer.workers.refreshLexicon(backend.lexicon);
      assert.deepEqual(await producer.workers.lexicon(entry!.lexicon!), lexicon, 'published again');
      assert.equal(await producer.workers.lexicon('nothing-0000000000000000'), undefined);
      await producer.redis.set(producer.guildQueue.keys.lexicon('bad-0'), '{not json');
      assert.equal(await producer.workers.lexicon('bad-0'), undefined, 'an unreadable entry is no lexicon');
    } finally {
      await worker.stop(0);
      await backend.dispose();
    }
  });

  it('the id names the model and changes with the content', () => {
    const a = lexiconId({ model: 'shapes', vocabulary: ['red'], suggestions: ['a red circle'] });
    assert.equal(a, lexiconId({ model: 'shapes', vocabulary: ['red'], suggestions: ['a red circle'] }));
    assert.notEqual(a, lexiconId({ model: 'shapes', vocabulary: ['red', 'blue'], suggestions: ['a red circle'] }));
    assert.match(lexiconId({ model: 'my model/v2:x', vocabulary: [] }), /^my_model_v2_x-[0-9a-f]{16}$/);
  });
});
