/**
 * End to end, over time: /queue and /cancel (a waiting job and a rendering one), a bot restarted while a job
 * renders (the result is still delivered, once), and a result that arrives after the interaction token
 * expired (posted as a new channel message that references the request). Real discord.js client, LocalDiscord,
 * redis-server and a worker rendering the tiny pack.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Routes } from 'discord.js';
import type { InteractionHandle, LocalMessage } from '../src/local-discord/index.ts';
import { buttonId, GENERAL, Stack, USERS, waitFor } from './harness/stack.ts';

let stack: Stack;

before(async () => {
  stack = await Stack.start();
});
after(async () => {
  await stack?.stop();
});

async function originalId(handle: InteractionHandle): Promise<string> {
  return waitFor('the original response', () => stack.discord.interactionResponse(handle.interactionId)?.originalMessageId);
}

/** The job id shown in the message's footer or its Cancel button. */
function jobIdOf(message: LocalMessage): string {
  const id = buttonId(message, 'Cancel');
  return id.split(':')[2]!;
}

describe('/queue and /cancel', () => {
  it('lists the guild’s jobs in order and cancels a waiting one and a rendering one', async () => {
    await stack.stopWorker();
    const loop = await stack.slash('bob', 'loop', { prompt: 'a lava lamp', frames: 2, steps: 1 });
    const loopMessage = await stack.waitForMessage(await originalId(loop), 'queued', (m) => m.content.startsWith('⏳ Queued'));
    // Big enough to still be rendering when the Cancel arrives.
    const walk = await stack.slash('carol', 'walk', { prompt: 'a long corridor', frames: 24, steps: 12 });
    const walkMessage = await stack.waitForMessage(await originalId(walk), 'queued', (m) => /Position: 2nd/.test(m.content));
    const morph = await stack.slash('dave', 'morph', { from: 'dawn', to: 'dusk', frames: 2, steps: 1 });
    const morphMessage = await stack.waitForMessage(await originalId(morph), 'queued', (m) => /Position: 3rd/.test(m.content));

    const listing = await stack.ephemeral(await stack.slash('erin', 'queue'));
    const lines = listing.split('\n').slice(1);
    assert.equal(lines.length, 3, listing);
    assert.match(lines[0]!, new RegExp(`^1\\. ⏳ \\*\\*loop\\*\\* by <@${USERS.bob}>: 1st in line`));
    assert.match(lines[1]!, new RegExp(`^2\\. ⏳ \\*\\*walk\\*\\* by <@${USERS.carol}>: 2nd in line`));
    assert.match(lines[2]!, new RegExp(`^3\\. ⏳ \\*\\*morph\\*\\* by <@${USERS.dave}>: 3rd in line`));
    assert.ok(lines[0]!.includes(jobIdOf(loopMessage)));

    // Only the requester (or Manage Messages) may cancel.
    const stranger = await stack.slash('erin', 'cancel', { job: jobIdOf(loopMessage) });
    assert.match(await stack.ephemeral(stranger), /not yours/);
    const cancelWaiting = await stack.slash('bob', 'cancel');
    assert.match(await stack.ephemeral(cancelWaiting), /Cancelled .* it had not started yet/);
    await stack.waitForMessage(loopMessage.id, 'cancelled', (m) => m.content.startsWith(`🛑 Cancelled by <@${USERS.bob}>`));
    // A moderator cancels dave's job by id.
    const moderator = await stack.slash('alice', 'cancel', { job: jobIdOf(morphMessage) });
    assert.match(await stack.ephemeral(moderator), /Cancelled/);
    await stack.waitForMessage(morphMessage.id, 'cancelled', (m) => m.content.startsWith('🛑 Cancelled'));

    const after = await stack.ephemeral(await stack.slash('erin', 'queue'));
    assert.equal(after.split('\n').length, 2, after);

    // The walk starts rendering; its requester presses Cancel on the progress message.
    await stack.startWorker();
    const rendering = await stack.waitForMessage(walkMessage.id, 'rendering', (m) => m.content.startsWith('🎨 Rendering'), 30_000);
    const notYours = await stack.clickLabel('dave', rendering.id, 'Cancel');
    assert.match(await stack.ephemeral(notYours), /not yours/);
    const press = await stack.clickLabel('carol', rendering.id, 'Cancel');
    assert.match(await stack.ephemeral(press), /Stopping .* the render ends within one batch/);
    const cancelled = await stack.waitForMessage(walkMessage.id, 'cancelled', (m) => m.content.startsWith('🛑 Cancelled'), 30_000);
    assert.equal(cancelled.attachments.length, 0);
    // The worker logs the cancel after it has published it, so the bot may post first.
    await waitFor('the worker to log the cancel', () => /cancelled/.test(stack.worker!.stdout), 10_000);
  });
});

describe('restart', () => {
  it('a bot restarted while a job renders still delivers the result, once', async () => {
    const handle = await stack.slash('bob', 'walk', { prompt: 'a winding river', frames: 16, steps: 8 });
    const messageId = await originalId(handle);
    await stack.waitForMessage(messageId, 'rendering', (m) => m.content.startsWith('🎨 Rendering'), 30_000);
    await stack.stopBot();
    const jobId = `render-${handle.interactionId}`;
    await waitFor('the job to finish while the bot is down', () => new RegExp(`job ${jobId} done`).test(stack.worker!.stdout), 60_000);
    assert.equal(stack.message(messageId).attachments.length, 0, 'nothing posted while the bot was down');
    await stack.startBot();
    const final = await stack.waitForMessage(messageId, 'the result', (m) => m.attachments.length > 0, 30_000);
    assert.ok(final.embeds[0]);
    // Give a duplicate every chance to show up, then count uploads for this interaction.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await stack.stopBot();
    await stack.startBot();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const token = stack.discord.interactionResponse(handle.interactionId)!.token;
    const uploads = stack.discord.requests.filter((r) => r.files.length > 0 && r.path.includes(token));
    assert.equal(uploads.length, 1, 'one upload');
    const channelPosts = stack.discord.messages(GENERAL).filter((m) => m.attachments.length > 0 && m.message_reference?.message_id === messageId);
    assert.equal(channelPosts.length, 0, 'no second copy in the channel');
  });
});

describe('restart with open boards and buttons', () => {
  it('a board opened before a restart, and the buttons of its result, keep working afterwards', async () => {
    const handle = await stack.slash('dave', 'morph', { from: 'a quiet harbour', frames: 2, steps: 1 });
    const board = await stack.reply(handle);
    await stack.stopBot();
    await stack.startBot();
    await stack.acknowledged(await stack.clickLabel('erin', board.id, 'Set where it goes'));
    const modal = stack.discord.openModals(USERS.erin)[0]!;
    await stack.submit('erin', modal.modal.custom_id, { prompt: 'a stormy sea' });
    const final = await stack.waitForMessage(board.id, 'the result', (m) => m.attachments.length > 0, 60_000);
    await stack.stopBot();
    await stack.startBot();
    // Erin contributed a prompt, so she may delete it.
    await stack.acknowledged(await stack.click('erin', final.id, buttonId(final, 'Delete')));
    await waitFor('deleted', () => stack.discord.message(final.id) === undefined);
  });
});

describe('failed progress edits', () => {
  it('a status message deleted mid-render fails no job: the result is posted as a new message', async () => {
    const handle = await stack.slash('carol', 'walk', { prompt: 'a paper lantern', frames: 12, steps: 6 });
    const messageId = await originalId(handle);
    await stack.waitForMessage(messageId, 'rendering', (m) => m.content.startsWith('🎨 Rendering'), 30_000);
    await stack.bot!.context.client.rest.delete(Routes.channelMessage(GENERAL, messageId));
    const posted = await waitFor(
      'the result in the channel',
      () => stack.discord.messages(GENERAL).find((m) => m.attachments.length > 0 && m.content.includes(`<@${USERS.carol}>, your walk is ready`)),
      60_000,
    );
    assert.equal(posted.message_reference, undefined, 'no reference to a deleted message');
    assert.match(stack.worker!.stdout, new RegExp(`job render-${handle.interactionId} done`));
  });
});

describe('token expiry', () => {
  it('a result whose interaction token expired arrives as a channel message referencing the request', async () => {
    await stack.stopWorker();
    const handle = await stack.slash('alice', 'loop', { prompt: 'a slow sunrise', frames: 2, steps: 1 });
    const original = await stack.waitForMessage(await originalId(handle), 'queued', (m) => m.content.startsWith('⏳ Queued'));
    stack.skewMs = 16 * 60_000; // Discord's clock: 16 minutes later
    await stack.startWorker();
    const posted = await waitFor(
      'a channel message with the result',
      () => stack.discord.messages(GENERAL).find((m) => m.attachments.length > 0 && m.message_reference?.message_id === original.id),
      60_000,
    );
    assert.match(posted.content, new RegExp(`<@${USERS.alice}>, your loop is ready`));
    assert.equal(posted.webhook_id, undefined, 'sent with the bot token, not the interaction webhook');
    assert.ok(posted.embeds[0]?.fields?.some((f) => f.name === 'Seed'));
    // Only the requester is named; nobody else can be pinged.
    assert.deepEqual(posted.mentions.map((u) => u.id), [USERS.alice]);
    assert.equal(posted.mention_everyone, false);
    const moved = await stack.waitForMessage(original.id, 'pointing at the new message', (m) => m.content.startsWith('➡️'));
    assert.equal(moved.attachments.length, 0);
    const rejected = stack.discord.requests.filter((r) => r.errorCode === 50027);
    assert.ok(rejected.length >= 1, 'the expired token was tried and refused');
  });
});
