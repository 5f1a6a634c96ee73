/**
 * End to end, Redis restarted in the middle of a render: the real redis-server (AOF) is killed and started
 * again while a real worker renders a /walk; the requester gets the finished GIF, rendered in one attempt,
 * and never sees a library's message. Real discord.js client, LocalDiscord, a `latentwalk worker` process
 * with the tiny pack.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Stack, waitFor } from './harness/stack.ts';

let stack: Stack;

before(async () => {
  // One attempt: a render that Redis' restart failed would end failed, not retried.
  stack = await Stack.start({ jobs: { worker: { attempts: 1 } }, workerEnv: { LATENTWALK_LOCK_MS: '15000' } });
});
after(async () => {
  await stack?.stop();
});

describe('Redis restarted mid-render', () => {
  it('the job finishes on its only attempt and its GIF is posted; no internal message reaches the channel', async (t) => {
    const handle = await stack.slash('bob', 'walk', { prompt: 'a long corridor', frames: 24, steps: 12 });
    const request = await stack.reply(handle);
    await stack.waitForMessage(request.id, 'rendering', (m) => /🎨 Rendering/.test(m.content) && /[1-9]\d*\/24 frames/.test(m.content), 60_000);
    const jobId = `render-${handle.interactionId}`;
    assert.doesNotMatch(stack.worker!.stdout, new RegExp(`job ${jobId} done`), 'still rendering when Redis goes');
    const downAt = Date.now();
    await stack.redis.restart({ signal: 'SIGKILL', downMs: 2000 });
    t.diagnostic(`Redis killed and back after ${Date.now() - downAt} ms`);
    const final = await stack.waitForMessage(request.id, 'the result', (m) => m.attachments.length > 0 || m.content.startsWith('❌'), 120_000);
    assert.equal(final.attachments.length, 1, final.content);
    const fields = final.embeds[0]?.fields?.map((f) => f.name) ?? [];
    assert.ok(!fields.includes('Recovered'), 'one attempt, nothing resumed');
    const everything = JSON.stringify(stack.discord.messages(request.channel_id));
    assert.doesNotMatch(everything, /max retries|ECONNREFUSED|Connection is closed|ioredis/i);
    await waitFor('the worker log', () => new RegExp(`job ${jobId} done`).test(stack.worker!.stdout), 5000);
    assert.doesNotMatch(stack.worker!.stdout, new RegExp(`job ${jobId} (failed|attempt)`));
  });
});
