/**
 * The bot past one gateway connection (harness/shardbench.ts): LocalDiscord with 8 guilds recommends 4 shards
 * (2 guilds each) and closes a session that would carry more than 2 guilds with 4011. The bot connects with the
 * 4 shards it recommends, once in this process (discord.js internal sharding) and once as `latentwalk bot`
 * supervising 2 child processes of 2 shards each; a /loop from every guild (so from every shard) is answered
 * within Discord's 3 s and its result, rendered by a real worker on the tiny pack, is posted once. The
 * supervisor restarts a child that was killed (results of its guilds that finish meanwhile are still posted,
 * once), and passes SIGTERM on.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { formatShardIds, loadShardSettings, parseShardIds } from '../src/bot/config.ts';
import { shardOfGuild, shardRanges } from '../src/bot/shards.ts';
import { childInstance } from '../src/cli/bot-shards.ts';
import { ConfigError } from '../src/settings/index.ts';
import { waitFor } from './harness/redis.ts';
import { captureLogs, countBy, jsonLines, notPostedOnce, postedLines, results, roundTrip, SHARDS, ShardWorld, submit } from './harness/shardbench.ts';
import { scaleGuilds } from './harness/shards.ts';

const verbose = process.env['LATENTWALK_E2E_LOG'] === '1';

describe('shard settings', () => {
  it('parses and spells shard lists, and splits shards into per-process ranges', () => {
    assert.deepEqual(parseShardIds('0-3,5,3'), [0, 1, 2, 3, 5]);
    assert.equal(formatShardIds([0, 1, 2, 3, 5, 7, 8]), '0-3,5,7-8');
    assert.deepEqual(shardRanges(5, 2), [[0, 1], [2, 3], [4]]);
    assert.equal(childInstance('bot-1', [2, 3]), 'bot-1-shards-2-3');
    for (const g of scaleGuilds(12, SHARDS, 1, 1).guilds) assert.equal(shardOfGuild(g.id, SHARDS), g.shard);
  });

  it('names the variable when the shard settings do not fit together', () => {
    const named = (key: string, pattern = /./) => (e: unknown) => e instanceof ConfigError && e.key === key && pattern.test(e.message);
    assert.throws(() => loadShardSettings({ LATENTWALK_SHARD_IDS: '0-1' }), named('LATENTWALK_SHARD_IDS', /needs LATENTWALK_SHARDS/));
    assert.throws(() => loadShardSettings({ LATENTWALK_SHARDS: '4', LATENTWALK_SHARD_IDS: '2-4' }), named('LATENTWALK_SHARD_IDS', /0 to 3/));
    assert.throws(() => loadShardSettings({ LATENTWALK_SHARDS: '4', LATENTWALK_SHARD_IDS: 'all' }), named('LATENTWALK_SHARD_IDS'));
    assert.throws(() => loadShardSettings({ LATENTWALK_SHARDS_PER_PROCESS: '0' }), named('LATENTWALK_SHARDS_PER_PROCESS'));
    assert.throws(() => loadShardSettings({ LATENTWALK_SHARDS: 'auto' }), named('LATENTWALK_SHARDS'));
    assert.deepEqual(loadShardSettings({}), { total: undefined, ids: undefined, perProcess: 16 });
    assert.deepEqual(loadShardSettings({ LATENTWALK_SHARDS: '4', LATENTWALK_SHARD_IDS: '2-3' }), { total: 4, ids: [2, 3], perProcess: 16 });
  });
});

describe('the bot on 4 gateway shards', () => {
  let world: ShardWorld;

  before(async () => {
    world = await ShardWorld.start();
  });
  after(async () => world?.stop());

  it('is recommended 4 shards, 2 guilds on each', () => {
    assert.equal(world.discord.recommendedShards, SHARDS);
    assert.deepEqual(countBy(world.guilds.map((g) => String(g.shard))), { 0: 2, 1: 2, 2: 2, 3: 2 });
  });

  it('runs them in one process (internal sharding): every shard\'s guilds answered, every result posted once', async (t) => {
    const logs = captureLogs();
    const bot = await world.startBot(logs.logger);
    try {
      assert.deepEqual(world.sessions(), ['0/4', '1/4', '2/4', '3/4']);
      assert.equal(bot.health().discord, true);
      const done = await roundTrip(world.discord, world.guilds, 'internal');
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.deepEqual(notPostedOnce(done, logs.posted()), []);
      t.diagnostic(`internal sharding: ${done.length} results from ${SHARDS} shards; first responses within ${Math.max(...done.map((d) => d.firstResponseMs))} ms`);
    } finally {
      await bot.stop();
    }
    await waitFor('the sessions closed', () => world.discord.connectedShards.length === 0, 10_000);
  });

  it('runs them as 2 processes x 2 shards, restarts a killed one, and stops on SIGTERM', async (t) => {
    const supervisor = world.spawnBot(2);
    const logs = () => jsonLines(supervisor.stderr);
    const readyLines = (instance: string) => logs().filter((l) => l.msg === 'bot ready' && l['instance'] === instance);
    try {
      const running = await waitFor('the supervisor to say 4 shards run in 2 processes', () => logs().find((l) => l.msg === 'bot running 4 shards in 2 processes'), 180_000, 200);
      assert.equal(String(running['pids']).split(',').length, 2);
      assert.deepEqual(world.sessions(), ['0/4', '1/4', '2/4', '3/4']);
      const readies = logs().filter((l) => l.msg === 'bot ready');
      assert.deepEqual(readies.map((l) => `${l['instance']}: ${l['shards']}`).sort(), ['shards-multi-shards-0-1: 0,1 of 4', 'shards-multi-shards-2-3: 2,3 of 4']);

      const first = await roundTrip(world.discord, world.guilds, 'two processes');
      t.diagnostic(`2 processes: ${first.length} results, posted by ${JSON.stringify(countBy(postedLines(logs()).map((p) => p.instance)))}; first responses within ${Math.max(...first.map((d) => d.firstResponseMs))} ms`);

      // A crash: jobs from the guilds of shards 2-3 are queued, then their process is killed. Their results are
      // posted while it is down or once it is back (by whichever process the stream hands them to), once each.
      const killed = Number(readyLines('shards-multi-shards-2-3')[0]!['pid']);
      const queued = await submit(world.discord, world.guilds.filter((g) => g.shard >= 2), 'before a crash');
      process.kill(killed, 'SIGKILL');
      const killedAt = Date.now();
      await waitFor('the crash noticed', () => logs().some((l) => /bot \(shards 2-3 of 4\) exited/.test(String(l.msg))), 20_000);
      await waitFor('shards 2-3 back', () => readyLines('shards-multi-shards-2-3').length === 2, 240_000, 200);
      const during = await results(world.discord, queued, 240_000).catch((error: Error) => {
        const about = logs().filter((l) => queued.some((q) => JSON.stringify(l).includes(q.jobId)));
        throw new Error(`${error.message}; log lines about those jobs: ${JSON.stringify(about)}; worker: ${world.worker.stdout.slice(-2000)}`);
      });
      await waitFor('4 sessions again', () => world.sessions().join() === '0/4,1/4,2/4,3/4', 20_000);
      const backAfterMs = Date.parse(String(readyLines('shards-multi-shards-2-3')[1]!['time'])) - killedAt;
      const postedBy = countBy(postedLines(logs()).filter((p) => queued.some((q) => q.jobId === p.jobId)).map((p) => p.instance));
      t.diagnostic(`pid ${killed} (shards 2-3) killed: back after ${backAfterMs} ms; the ${during.length} results queued before were posted by ${JSON.stringify(postedBy)}`);
      const second = await roundTrip(world.discord, world.guilds, 'after a restart');
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.deepEqual(notPostedOnce([...first, ...during, ...second], postedLines(logs())), []);

      const children = [Number(readyLines('shards-multi-shards-0-1')[0]!['pid']), Number(readyLines('shards-multi-shards-2-3')[1]!['pid'])];
      let exitCode: number | null | undefined;
      void supervisor.exited.then((code) => (exitCode = code));
      supervisor.child.kill('SIGTERM');
      await waitFor('the supervisor to exit after SIGTERM', () => exitCode !== undefined, 60_000, 100);
      assert.equal(exitCode, 0);
      for (const pid of children) assert.equal(alive(pid), false, `child ${pid} stopped with the supervisor`);
      await waitFor('the sessions closed', () => world.discord.connectedShards.length === 0, 10_000);
    } catch (error) {
      if (verbose) process.stderr.write(supervisor.stderr);
      throw error;
    } finally {
      supervisor.child.kill('SIGKILL');
      await supervisor.exited;
    }
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
