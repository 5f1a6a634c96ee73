/**
 * `/chain` end to end: the real discord.js client in the bot, against LocalDiscord, with a real redis-server
 * and a real worker rendering the bundled "shapes" model. Four members fill a chain of four (a fifth, whose
 * form was open, is refused); the starter reorders and closes one, after a member left their stop empty; a
 * chain expires; a chain's job is cancelled mid-render by its starter; the worker is killed mid-chain and the
 * result is posted once, resumed from the checkpoint. Every result is one GIF in the board's own message,
 * crediting each member with their stop.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import type { InteractionHandle, LocalMessage } from '../src/local-discord/index.ts';
import { SHAPES_PACK } from './harness/packs.ts';
import { buttonId, buttons, Stack, USERS, waitFor, type UserName } from './harness/stack.ts';

let stack: Stack;

before(async () => {
  stack = await Stack.start({ worker: false });
  await stack.startWorker(SHAPES_PACK);
  // Room for renders long enough to cancel or kill part-way (the server's default is 24 frames).
  await stack.acknowledged(await stack.slashSub('alice', 'settings', 'limits', { max_frames: 60 }));
});
after(async () => {
  await stack?.stop();
});

async function finalWithFile(messageId: string, timeoutMs = 90_000): Promise<LocalMessage> {
  return stack.waitForMessage(messageId, 'a result with an attachment', (m) => m.attachments.length > 0, timeoutMs);
}

function field(message: LocalMessage, name: string): string {
  const found = message.embeds[0]?.fields?.find((f) => f.name === name);
  assert.ok(found, `no embed field ${name}: ${JSON.stringify(message.embeds[0]?.fields?.map((f) => f.name))}`);
  return found.value;
}

function fieldNames(message: LocalMessage): string[] {
  return message.embeds[0]?.fields?.map((f) => f.name) ?? [];
}

/** Opens the member's form on the board (the modal, as LocalDiscord recorded it). */
async function openForm(user: UserName, boardId: string) {
  const click = await stack.clickLabel(user, boardId, 'Add or change your stop');
  assert.equal((await stack.acknowledged(click)).responseType, 9, `${user} gets a modal`);
  const modal = stack.discord.openModals(USERS[user]).at(-1);
  assert.ok(modal, `${user}'s modal`);
  return modal;
}

/** Adds (or changes, or with '' takes out) a member's stop through the board's button and modal. */
async function setStop(user: UserName, boardId: string, text: string): Promise<InteractionHandle> {
  const modal = await openForm(user, boardId);
  const submit = await stack.submit(user, modal.modal.custom_id, { prompt: text });
  await stack.acknowledged(submit);
  return submit;
}

async function startChain(user: UserName, options: Record<string, string | number>): Promise<LocalMessage> {
  const board = await stack.reply(await stack.slash(user, 'chain', options));
  assert.match(board.content, /started a chain/);
  return board;
}

/** The job id in a Cancel button's custom id (`lw:cancel:<job>:<sig>`). */
function jobIdOf(message: LocalMessage): string {
  return buttonId(message, 'Cancel').split(':')[2]!;
}

function uploadsOf(filename: string): number {
  return stack.discord.requests.filter((r) => r.files.some((f) => f.filename === filename)).length;
}

async function pages(attachmentId: string): Promise<number | undefined> {
  const file = stack.discord.attachment(attachmentId);
  assert.ok(file, 'attachment bytes stored');
  const meta = await sharp(file.data, { animated: true }).metadata();
  assert.equal(meta.format, 'gif');
  return meta.pages;
}

describe('/chain', () => {
  it('four members fill a chain of four; it renders once full, credited to each with their stop; a fifth is refused', async () => {
    const board = await startChain('alice', { prompt: 'a red circle', stops: 4, frames: 8, steps: 2, seed: 5 });
    assert.match(board.content, /1\. “a red circle” \(<@\d+>\)/);
    assert.match(board.content, /1 of 4 stops/);
    assert.equal(board.components.length, 1, 'one row of buttons: nothing to move with one stop');
    for (const [user, text] of [['bob', 'a blue square'], ['carol', 'a green triangle']] as const) await setStop(user, board.id, text);
    const afterThree = stack.message(board.id);
    assert.match(afterThree.content, /2\. “a blue square”.*\n3\. “a green triangle”/);
    assert.match(afterThree.content, /3 of 4 stops/);
    // erin opens the form while one stop is left; dave's stop fills the chain first.
    const erinForm = await openForm('erin', board.id);
    const daveFill = await setStop('dave', board.id, 'a yellow star');
    assert.equal(stack.discord.interactionResponse(daveFill.interactionId)?.responseType, 7, 'the stop that fills it updates the board');
    const late = await stack.submit('erin', erinForm.modal.custom_id, { prompt: 'a purple ring' });
    assert.match(await stack.ephemeral(late), /This chain is full: its 4 stops were in before yours arrived.*“a purple ring”/);

    const final = await finalWithFile(board.id);
    assert.equal(final.attachments.length, 1, 'one GIF');
    assert.match(final.attachments[0]!.filename, /^latentwalk-chain-5\.gif$/);
    assert.equal(await pages(final.attachments[0]!.id), 8, 'a loop: 8 frames, no ping-pong');
    assert.match(final.content, /^✅ chain through “a red circle” → “a blue square” → “a green triangle” → “a yellow star” and back/);
    assert.equal(final.embeds[0]?.title, '⛓️ Chain');
    const stops: [string, UserName][] = [['a red circle', 'alice'], ['a blue square', 'bob'], ['a green triangle', 'carol'], ['a yellow star', 'dave']];
    stops.forEach(([text, user], i) => assert.equal(field(final, `Stop ${i + 1}`), `${text} · <@${USERS[user]}>`));
    for (const user of ['alice', 'bob', 'carol', 'dave'] as const) assert.ok(field(final, 'Contributors').includes(`<@${USERS[user]}>`), `${user} credited`);
    assert.ok(!field(final, 'Contributors').includes(`<@${USERS.erin}>`));
    assert.match(field(final, 'Frames'), /^8 rendered, 8 in the loop/);
    assert.equal(field(final, 'Steps'), '2');
    assert.deepEqual(buttons(final).map((b) => b.label), ['Reroll', 'Delete']);
    // One job for the whole chain.
    assert.equal(uploadsOf('latentwalk-chain-5.gif'), 1, 'one upload');
  });

  it('the starter reorders and closes it, after a member left their stop empty; only the starter may', async () => {
    const board = await startChain('carol', { prompt: 'a red circle', frames: 6, steps: 1 });
    assert.match(board.content, /1 of 8 stops/, 'LATENTWALK_CHAIN_STOPS by default');
    const close = buttons(board).find((b) => b.label === 'Close and render');
    assert.ok(close);
    await assert.rejects(stack.click('carol', board.id, close.custom_id), /disabled/, 'one stop cannot close it');
    await setStop('bob', board.id, 'a blue square');
    await setStop('dave', board.id, 'a green triangle');
    await setStop('erin', board.id, 'a yellow star');
    // bob changes his stop in place: his form comes with it filled in.
    const bobForm = await openForm('bob', board.id);
    const input = JSON.stringify(bobForm.modal.components);
    assert.ok(input.includes('"value":"a blue square"'), `bob's stop is in his form: ${input}`);
    await stack.acknowledged(await stack.submit('bob', bobForm.modal.custom_id, { prompt: 'a big blue square' }));
    // dave leaves his stop empty: it is taken out, and the stops after it move up.
    await setStop('dave', board.id, '');
    let now = stack.message(board.id);
    assert.doesNotMatch(now.content, /green triangle/);
    assert.match(now.content, /1\. “a red circle”.*\n2\. “a big blue square”.*\n3\. “a yellow star”/);
    assert.match(now.content, /3 of 8 stops/);
    // An empty stop from a member who has none adds nothing.
    const nothing = await stack.submit('alice', (await openForm('alice', board.id)).modal.custom_id, { prompt: ' \u200b ' });
    assert.match(await stack.ephemeral(nothing), /left your stop empty, so nothing was added/);

    // Only the starter reorders and closes.
    const notStarter = await stack.clickLabel('bob', board.id, 'Move 3 up');
    assert.match(await stack.ephemeral(notStarter), /Only <@\d+>, who started this chain, can change the order/);
    const notStarterClose = await stack.clickLabel('erin', board.id, 'Close and render');
    assert.match(await stack.ephemeral(notStarterClose), /can close it/);
    await stack.acknowledged(await stack.clickLabel('carol', board.id, 'Move 3 up'));
    await stack.acknowledged(await stack.clickLabel('carol', board.id, 'Move 2 up'));
    now = stack.message(board.id);
    assert.match(now.content, /1\. “a yellow star”.*\n2\. “a red circle”.*\n3\. “a big blue square”/);
    await stack.acknowledged(await stack.clickLabel('carol', board.id, 'Close and render'));
    // A fast worker may already have replaced the closing line with its queue or progress line (naming the stops in order).
    assert.match(stack.message(board.id).content, /Closed with 3 stops by <@\d+>|chain through “a yellow star” → “a red circle” → “a big blue square”/);

    const final = await finalWithFile(board.id);
    assert.equal(field(final, 'Stop 1'), `a yellow star · <@${USERS.erin}>`);
    assert.equal(field(final, 'Stop 2'), `a red circle · <@${USERS.carol}>`);
    assert.equal(field(final, 'Stop 3'), `a big blue square · <@${USERS.bob}>`);
    assert.ok(!fieldNames(final).includes('Stop 4'));
    assert.ok(!field(final, 'Contributors').includes(`<@${USERS.dave}>`), 'dave took his stop out');
    assert.equal(await pages(final.attachments[0]!.id), 6);
  });

  it('expires after its time and says so; a late stop is told', async () => {
    const board = await startChain('bob', { prompt: 'a paper boat' });
    const form = await openForm('erin', board.id);
    stack.botSkewMs = stack.botConfig.boardTtlMs + 1000;
    try {
      const expired = await stack.waitForMessage(board.id, 'expired', (m) => /expired/.test(m.content), 10_000);
      assert.match(expired.content, /This chain expired before it was closed \(1 of 8 stops\); start a new one with \/chain/);
      assert.equal(buttons(expired).length, 0);
      const late = await stack.submit('erin', form.modal.custom_id, { prompt: 'a paper plane' });
      assert.match(await stack.ephemeral(late), /expired/);
    } finally {
      stack.botSkewMs = 0;
    }
  });

  it('its job is cancelled mid-render by the starter, or while waiting by a manager (not by a member outside it); no file', async () => {
    const board = await startChain('dave', { prompt: 'a red circle', stops: 2, frames: 60, steps: 50 });
    await setStop('erin', board.id, 'a blue square');
    const rendering = await stack.waitForMessage(board.id, 'rendering', (m) => m.content.startsWith('🎨 Rendering') && /\d+\/60 frames/.test(m.content), 60_000);
    assert.match(rendering.content, /chain through “a red circle” → “a blue square” and back/);
    // Another chain waits behind it; a manager who is not in it cancels it.
    const waiting = await startChain('bob', { prompt: 'a green star', stops: 2, steps: 1 });
    await setStop('carol', waiting.id, 'a purple ring');
    await stack.waitForMessage(waiting.id, 'queued', (m) => m.content.startsWith('⏳ Queued'), 10_000);
    const manager = await stack.clickLabel('alice', waiting.id, 'Cancel');
    assert.match(await stack.ephemeral(manager), /Cancelled .* it had not started yet/);
    await stack.waitForMessage(waiting.id, 'cancelled by the manager', (m) => m.content.startsWith(`🛑 Cancelled by <@${USERS.alice}>`), 10_000);
    const stranger = await stack.clickLabel('bob', board.id, 'Cancel');
    assert.match(await stack.ephemeral(stranger), /not yours/);
    const press = await stack.clickLabel('dave', board.id, 'Cancel');
    assert.match(await stack.ephemeral(press), /Stopping .* the render ends within one batch/);
    const cancelled = await stack.waitForMessage(board.id, 'cancelled', (m) => m.content.startsWith('🛑 Cancelled'), 30_000);
    assert.equal(cancelled.attachments.length, 0);
    await waitFor('the worker to log the cancel', () => /cancelled/.test(stack.worker!.stdout), 10_000);
  });

  it('a worker killed mid-chain: another resumes it from the checkpoint and the result is posted once', async () => {
    // Long enough to be killed part-way: a few seconds of rendering here, more on a loaded machine.
    const board = await startChain('alice', { prompt: 'a red circle', stops: 3, frames: 36, steps: 40, seed: 11 });
    await setStop('bob', board.id, 'a green star');
    await setStop('carol', board.id, 'a blue square');
    const progressed = await stack.waitForMessage(board.id, 'a few frames rendered', (m) => /🎨 Rendering/.test(m.content) && Number(/(\d+)\/36 frames/.exec(m.content)?.[1] ?? 0) >= 3, 90_000);
    const jobId = jobIdOf(progressed);
    await stack.stopWorker();
    const done = Number(/(\d+)\/36 frames/.exec(stack.message(board.id).content)?.[1] ?? 0);
    assert.ok(done < 36, `killed mid-chain (${done} of 36 frames)`);
    await stack.startWorker(SHAPES_PACK);
    const final = await finalWithFile(board.id, 180_000);
    assert.match(final.embeds[0]?.footer?.text ?? '', new RegExp(jobId));
    assert.match(field(final, 'Recovered'), /took 2 attempts, reused \d+ checkpointed frames/);
    assert.match(stack.worker!.stdout, new RegExp(`job ${jobId} started \\(attempt 2, resuming with \\d+ frames\\)`));
    // Give a duplicate every chance to show up, then count the uploads of this job's GIF.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(uploadsOf('latentwalk-chain-11.gif'), 1, 'one upload');
    assert.equal(stack.discord.messages(stack.message(board.id).channel_id).filter((m) => m.attachments.some((a) => a.filename === 'latentwalk-chain-11.gif')).length, 1, 'one result in the channel');
  });
});
