/**
 * Where Redis is, as settings: REDIS_SENTINELS + REDIS_SENTINEL_MASTER, REDIS_CLUSTER_NODES, and the mistakes
 * between them named by variable; how a target is described in logs (no password); and the one-time rename of
 * keys written before every key carried the hash tag, so an upgrade keeps the queue and the guilds' settings.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { validateStackConfig } from '../src/app/config.ts';
import { loadJobsConfig } from '../src/jobs/config.ts';
import { keyPrefix } from '../src/jobs/keys.ts';
import { JobProducer } from '../src/jobs/producer.ts';
import { describeRedisTarget, redisTarget } from '../src/jobs/redis.ts';
import { ConfigError } from '../src/settings/index.ts';
import { TestRedis, testJobsConfig } from './harness/redis.ts';

describe('Redis topology settings', () => {
  it('reads Sentinels and their primary, or cluster nodes', () => {
    const sentinel = loadJobsConfig({ REDIS_SENTINELS: '10.0.0.1:26379, sentinel-2.internal:26380,[::1]:26381', REDIS_SENTINEL_MASTER: 'mymaster' });
    assert.deepEqual(sentinel.redisTopology, {
      kind: 'sentinel',
      sentinels: [
        { host: '10.0.0.1', port: 26379 },
        { host: 'sentinel-2.internal', port: 26380 },
        { host: '::1', port: 26381 },
      ],
      master: 'mymaster',
    });
    const cluster = loadJobsConfig({ REDIS_CLUSTER_NODES: '127.0.0.1:7000,127.0.0.1:7001' });
    assert.deepEqual(cluster.redisTopology, { kind: 'cluster', nodes: [{ host: '127.0.0.1', port: 7000 }, { host: '127.0.0.1', port: 7001 }] });
    assert.deepEqual(loadJobsConfig({}).redisTopology, { kind: 'single' });
  });

  it('names the variable to fix', () => {
    const fails = (env: NodeJS.ProcessEnv, key: string, message: RegExp) =>
      assert.throws(() => loadJobsConfig(env), (error: unknown) => error instanceof ConfigError && error.key === key && message.test(error.message));
    fails({ REDIS_SENTINELS: '127.0.0.1:26379' }, 'REDIS_SENTINEL_MASTER', /REDIS_SENTINEL_MASTER must be set with REDIS_SENTINELS/);
    fails({ REDIS_SENTINEL_MASTER: 'mymaster' }, 'REDIS_SENTINELS', /REDIS_SENTINELS must be set with REDIS_SENTINEL_MASTER/);
    fails({ REDIS_SENTINELS: '127.0.0.1', REDIS_SENTINEL_MASTER: 'm' }, 'REDIS_SENTINELS', /REDIS_SENTINELS must be a comma-separated list of host:port \("127\.0\.0\.1" is not one\)/);
    fails({ REDIS_CLUSTER_NODES: 'a:1,b:99999' }, 'REDIS_CLUSTER_NODES', /"b:99999" is not one/);
    fails({ REDIS_CLUSTER_NODES: 'a:1', REDIS_SENTINELS: 'b:2', REDIS_SENTINEL_MASTER: 'm' }, 'REDIS_CLUSTER_NODES', /cannot both be set/);
    fails({ REDIS_SENTINELS: 'b:2', REDIS_SENTINEL_MASTER: 'my master' }, 'REDIS_SENTINEL_MASTER', /REDIS_SENTINEL_MASTER must be the primary's name/);
  });

  it('makes `start` use the Redis it names instead of running its own', () => {
    const env = { REDIS_SENTINELS: '127.0.0.1:26379', REDIS_SENTINEL_MASTER: 'mymaster', PATH: process.env['PATH'] ?? '' };
    assert.equal(validateStackConfig(env, { bot: false }).privateRedis, false);
    assert.equal(validateStackConfig({ REDIS_CLUSTER_NODES: '127.0.0.1:7000' }, { bot: false }).privateRedis, false);
    assert.equal(validateStackConfig({}, { bot: false }).privateRedis, true);
  });

  it('is described without the password', () => {
    const config = loadJobsConfig({ REDIS_URL: 'rediss://user:s3cret@ignored:6379/2', REDIS_SENTINELS: 'a:1,b:2', REDIS_SENTINEL_MASTER: 'mymaster' });
    assert.equal(describeRedisTarget(redisTarget(config)), 'Sentinel primary "mymaster" via a:1,b:2');
    assert.equal(describeRedisTarget(redisTarget(loadJobsConfig({ REDIS_URL: 'redis://u:s3cret@h:1' }))), 'redis://***@h:1');
  });
});

describe('keys written before the hash tag', () => {
  let server: TestRedis;
  before(async () => {
    server = await TestRedis.start();
  });
  after(async () => {
    await server?.stop();
  });

  it('are renamed once, with their TTLs, when a process connects', async () => {
    const config = testJobsConfig(server);
    const old = config.prefix;
    const tag = keyPrefix(old);
    const client = server.client();
    try {
      await client.hset(`${old}:bot:guild:g1:settings`, 'maxQueuedPerMember', '5');
      await client.set(`${old}:jobs:seq`, '41');
      await client.set(`${old}:bot:button-secret`, 'a-secret-of-the-deployment', 'EX', 3600);
      await client.zadd(`${old}:render:prioritized`, 1, 'j1');
      await client.set(`${old}-other:jobs:seq`, '7'); // another deployment's prefix: not ours
      const producer = await JobProducer.connect(config);
      await producer.close();
      assert.deepEqual((await client.keys(`${old}:*`)).sort(), []);
      assert.equal(await client.hget(`${tag}:bot:guild:g1:settings`, 'maxQueuedPerMember'), '5');
      assert.equal(await client.get(`${tag}:jobs:seq`), '41');
      const ttl = await client.ttl(`${tag}:bot:button-secret`);
      assert.ok(ttl > 3500 && ttl <= 3600, `TTL kept (${ttl})`);
      assert.deepEqual(await client.zrange(`${tag}:render:prioritized`, 0, -1), ['j1']);
      assert.equal(await client.get(`${old}-other:jobs:seq`), '7');

      // Done once: a key with the old name written later (an old process still running) is left alone.
      await client.set(`${old}:jobs:late`, '1');
      const again = await JobProducer.connect(config);
      await again.close();
      assert.equal(await client.get(`${old}:jobs:late`), '1');
    } finally {
      client.disconnect();
    }
  });
});
