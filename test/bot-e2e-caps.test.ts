/**
 * End to end, caps under a burst: 20 simultaneous /loop commands and then 20 simultaneous Reroll clicks from
 * one member, in a server that allows 2 jobs per member, queue exactly 2 each time; everyone else is told why,
 * privately, before anything public appears. A Reroll credits the member who pressed it. Real discord.js
 * client against LocalDiscord, redis-server; no worker (jobs stay queued).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { JobProducer } from '../src/jobs/index.ts';
import type { InteractionHandle } from '../src/local-discord/index.ts';
import { buttonId, GUILD, Stack, USERS } from './harness/stack.ts';

let stack: Stack;
let producer: JobProducer;

before(async () => {
  stack = await Stack.start({ worker: false });
  producer = await JobProducer.connect(stack.jobsConfig);
  const set = await stack.slashSub('alice', 'settings', 'limits', { max_queued_per_member: 2 });
  assert.match(await stack.ephemeral(set), /Max queued per member: 2/);
});
after(async () => {
  await producer?.close();
  await stack?.stop();
});

async function bobsJobs(): Promise<string[]> {
  return (await producer.list({ guildId: GUILD })).filter((job) => job.userId === USERS.bob).map((job) => job.jobId);
}

/** Every interaction answered; returns how many got a public queued message and the private refusals. */
async function outcomes(handles: InteractionHandle[]): Promise<{ queued: number; refusals: string[] }> {
  let queued = 0;
  const refusals: string[] = [];
  for (const handle of handles) {
    const state = await stack.acknowledged(handle, 10_000);
    if (state.ephemeral) refusals.push(await stack.ephemeral(handle));
    else {
      const message = await stack.reply(handle, 10_000);
      if (message.content.startsWith('⏳ Queued')) queued++;
    }
  }
  return { queued, refusals };
}

describe('a burst from one member with a cap of 2', () => {
  it('20 simultaneous commands queue exactly 2; 20 simultaneous Reroll clicks queue exactly 2, credited to the presser', async (t) => {
    const started = Date.now();
    const commands = await Promise.all(Array.from({ length: 20 }, (_, i) => stack.slash('bob', 'loop', { prompt: `a kite number ${i}`, frames: 2, steps: 1 })));
    const first = await outcomes(commands);
    t.diagnostic(`20 commands answered in ${Date.now() - started} ms: ${first.queued} queued, ${first.refusals.length} refused`);
    assert.equal(first.queued, 2);
    assert.equal((await bobsJobs()).length, 2);
    assert.equal(first.refusals.length, 18);
    for (const text of first.refusals) assert.match(text, /You already have 2 jobs queued or rendering here \(this server allows 2\)/);
    const late = stack.discord.requests.filter((r) => r.errorCode === 10062);
    assert.equal(late.length, 0, 'every command was answered within 3 s');

    // A result with a Reroll button (carol's failed loop), and bob's two jobs out of the way.
    const carol = await stack.slash('carol', 'loop', { prompt: 'a paper boat', frames: 2, steps: 1 });
    const carolJob = `render-${carol.interactionId}`;
    await stack.reply(carol);
    await producer.publishOutcome(carolJob, { status: 'failed', reason: 'the renderer ran out of memory; try fewer frames', attempts: 1 });
    const failed = await stack.waitForMessage((await stack.reply(carol)).id, 'the failure with Reroll', (m) => m.content.startsWith('❌'), 10_000);
    for (const jobId of await bobsJobs()) await producer.cancel(jobId, 'test');
    assert.equal((await bobsJobs()).length, 0);

    const reroll = buttonId(failed, 'Reroll');
    const clicks = await Promise.all(Array.from({ length: 20 }, () => stack.click('bob', failed.id, reroll)));
    const second = await outcomes(clicks);
    assert.equal(second.queued, 2);
    assert.equal((await bobsJobs()).length, 2);
    assert.equal(second.refusals.length, 18);
    const queuedReroll = (await Promise.all(clicks.map((c) => stack.reply(c).catch(() => undefined)))).find((m) => m?.content.startsWith('⏳ Queued'));
    assert.ok(queuedReroll);
    // Credited to bob, who pressed it, then carol, who wrote the prompt.
    assert.match(queuedReroll.content, new RegExp(`by <@${USERS.bob}>, <@${USERS.carol}>`));
  });
});
