/**
 * A Redis Cluster of three primaries (real redis-server processes) through REDIS_CLUSTER_NODES: the bot (real
 * discord.js client against LocalDiscord), a `latentwalk worker --renderer noop` process and a `latentwalk
 * jobs` command all work against it, because every key of the project carries the one hash tag `{prefix}`:
 * BullMQ's and ours live in one slot, so the Lua scripts and transactions that span them stay legal.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { keyPrefix } from '../src/jobs/keys.ts';
import { TestCluster } from './harness/cluster.ts';
import { runLatentwalk, spawnLatentwalk, type CliProcess } from './harness/redis.ts';
import { GENERAL, GENERAL2, GENERAL3, GUILD, GUILD2, GUILD3, Stack, type UserName } from './harness/stack.ts';

let cluster: TestCluster;
let stack: Stack;
let worker: CliProcess;

before(async () => {
  cluster = await TestCluster.start();
  stack = await Stack.start({ worker: false, guilds: 3, jobs: { redisTopology: cluster.topology } });
  worker = spawnLatentwalk(stack.jobsConfig, ['worker', '--renderer', 'noop', '--noop-batch-ms', '10', '--name', 'cluster-worker']);
  await worker.waitForOutput(/ready:/, 60_000);
});

after(async () => {
  worker?.child.kill('SIGKILL');
  await worker?.exited;
  await stack?.stop().catch(() => undefined);
  await cluster?.stop().catch(() => undefined);
});

/** Results Discord took for an interaction: successful requests with a file through its webhook. */
function posts(interactionId: string): number {
  const token = stack.discord.interactionResponse(interactionId)?.token;
  if (!token) return 0;
  return stack.discord.requests.filter((r) => r.status < 300 && r.files.length > 0 && r.path.includes(token)).length;
}

describe('Redis Cluster', () => {
  it('queues, renders and posts jobs from three servers, each once; boards, /queue and the CLI work', async () => {
    const where: [string, string, UserName][] = [
      [GUILD, GENERAL, 'bob'],
      [GUILD2, GENERAL2, 'carol'],
      [GUILD3, GENERAL3, 'dave'],
    ];
    const handles = [];
    for (const [guildId, channelId, member] of where) {
      for (let i = 0; i < 2; i++) {
        const handle = await stack.slash(member, 'loop', { prompt: `a lighthouse ${guildId} ${i}`, frames: 2, steps: 1 }, channelId, guildId);
        // Queued, or already further along (the worker is quick).
        const reply = await stack.reply(handle);
        assert.ok(/^(⏳ Queued|🎨 Rendering)/.test(reply.content) || reply.attachments.length > 0, reply.content);
        handles.push(handle);
      }
    }
    for (const handle of handles) {
      await stack.waitForMessage(stack.discord.interactionResponse(handle.interactionId)!.originalMessageId!, 'the result', (m) => m.attachments.length > 0, 20_000);
    }
    // A board (the bot's own Lua scripts) and the queue listing.
    const board = await stack.reply(await stack.slash('erin', 'morph', { from: 'a quiet harbour' }));
    assert.ok(board.components && board.components.length > 0, 'the board has its buttons');
    assert.match(await stack.ephemeral(await stack.slash('alice', 'queue')), /queue|Nothing/i);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.deepEqual(handles.map((h) => posts(h.interactionId)), handles.map(() => 1), 'each result posted once');

    const listed = await runLatentwalk(stack.jobsConfig, ['jobs', 'list']);
    assert.equal(listed.code, 0, listed.stderr);

    // Every key of ours sits on one node, under the one hash tag.
    const tag = keyPrefix(stack.jobsConfig.prefix);
    const byNode = [...(await cluster.keysByNode())].map(([port, keys]) => [port, keys.filter((key) => key.includes(stack.jobsConfig.prefix))] as const);
    const holding = byNode.filter(([, keys]) => keys.length > 0);
    assert.equal(holding.length, 1, `our keys are on one node: ${JSON.stringify(byNode.map(([port, keys]) => [port, keys.length]))}`);
    const keys = holding[0]![1];
    assert.ok(keys.length > 20, `found ${keys.length} keys`);
    assert.deepEqual(keys.filter((key) => !key.startsWith(`${tag}:`)), [], 'every key starts with the hash tag');
  });
});
