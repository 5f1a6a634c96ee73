/**
 * End to end, what server admins and the bot's operator control: who may use /settings (Discord decides,
 * overrides included; the bot does not re-check), buttons that keep answering after the bot token is reset,
 * the cap on open boards per member, and upload budgets that follow the server's boost tier up to the
 * operator's ceiling. Real discord.js client, LocalDiscord, redis-server; no worker.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { JobProducer } from '../src/jobs/index.ts';
import { UserActionError } from '../src/local-discord/index.ts';
import { buttonId, GENERAL, GUILD, Stack, USERS, waitFor } from './harness/stack.ts';

const MiB = 1024 * 1024;
let stack: Stack;
let producer: JobProducer;

before(async () => {
  stack = await Stack.start({ worker: false, jobs: { limits: { maxArtifactBytes: 60 * MiB } } });
  producer = await JobProducer.connect(stack.jobsConfig);
});
after(async () => {
  await producer?.close();
  await stack?.stop();
});

describe('/settings', () => {
  it('is Discord\'s to allow: a member an admin let in by an override can use it without Manage Server', async () => {
    await assert.rejects(stack.slashSub('bob', 'settings', 'show'), (e: unknown) => e instanceof UserActionError && /may not use \/settings/.test(e.message));
    stack.discord.setCommandPermissions(GUILD, 'settings', [{ id: USERS.bob, type: 2, permission: true }]);
    try {
      const show = await stack.slashSub('bob', 'settings', 'show');
      assert.match(await stack.ephemeral(show), /Settings for this server/);
      const set = await stack.slashSub('bob', 'settings', 'limits', { default_fps: 12 });
      assert.match(await stack.ephemeral(set), /Default fps: 12/);
    } finally {
      stack.discord.setCommandPermissions(GUILD, 'settings', []);
      await stack.acknowledged(await stack.slashSub('alice', 'settings', 'reset'));
    }
  });
});

describe('buttons', () => {
  it('keep answering after the bot token is reset (signed with a key the deployment keeps, not the token)', async () => {
    const handle = await stack.slash('carol', 'loop', { prompt: 'a paper crane', frames: 2, steps: 1 });
    const request = await stack.reply(handle);
    await producer.publishOutcome(`render-${handle.interactionId}`, { status: 'failed', reason: 'the renderer ran out of memory; try fewer frames', attempts: 1 });
    const failed = await stack.waitForMessage(request.id, 'the failure', (m) => m.content.startsWith('❌'), 10_000);
    const del = buttonId(failed, 'Delete');

    await stack.stopBot();
    stack.botConfig.token = stack.discord.resetToken();
    await stack.startBot();

    // Someone else's click is checked against the job, not refused as a forged button.
    const stranger = await stack.click('erin', failed.id, del);
    assert.match(await stack.ephemeral(stranger), /not yours to delete/);
    await stack.acknowledged(await stack.click('carol', failed.id, del));
    await waitFor('deleted', () => stack.discord.message(failed.id) === undefined);
  });
});

describe('open boards', () => {
  it('a member may have LATENTWALK_MAX_OPEN_BOARDS (2) open at once; the next is refused privately until one closes', async () => {
    const first = await stack.reply(await stack.slash('dave', 'morph', { from: 'a quiet harbour' }));
    await stack.reply(await stack.slash('dave', 'grid', { p1: 'red', p2: 'blue' }));
    const third = await stack.slash('dave', 'morph', { from: 'a noisy market' });
    assert.match(await stack.ephemeral(third), /You already have 2 boards open here \(the limit is 2\)/);
    assert.equal(stack.discord.messages(GENERAL).filter((m) => m.interaction_metadata?.id === third.interactionId && !stack.discord.messageMeta(m.id)!.visibleTo).length, 0, 'nothing public');
    // Another member is not affected.
    await stack.reply(await stack.slash('erin', 'morph', { from: 'a windmill' }));
    await stack.acknowledged(await stack.clickLabel('dave', first.id, 'Cancel board'));
    const fourth = await stack.reply(await stack.slash('dave', 'morph', { from: 'a noisy market' }));
    assert.match(fourth.content, /wants to morph from/);
  });
});

describe('upload budget', () => {
  it('follows the boost tier (10, 10, 50, 100 MiB) up to the operator\'s ceiling', async () => {
    const budgetAt = async (tier: 0 | 1 | 2 | 3): Promise<number> => {
      stack.discord.setPremiumTier(GUILD, tier);
      await waitFor('the tier in the bot cache', () => stack.bot!.context.client.guilds.cache.get(GUILD)!.premiumTier === tier);
      const handle = await stack.slash('alice', 'loop', { prompt: `tier ${tier}`, frames: 2, steps: 1 });
      await stack.reply(handle);
      const jobId = `render-${handle.interactionId}`;
      const listing = await producer.get(jobId);
      await producer.cancel(jobId, 'test');
      return listing!.spec!.maxBytes;
    };
    assert.equal(await budgetAt(0), 10 * MiB);
    assert.equal(await budgetAt(1), 10 * MiB);
    assert.equal(await budgetAt(2), 50 * MiB);
    assert.equal(await budgetAt(3), 60 * MiB, 'tier 3 allows 100 MiB; the operator allows 60');
    stack.discord.setPremiumTier(GUILD, 0);
  });
});
