/**
 * End to end: the real discord.js client in the bot, against LocalDiscord, with a real redis-server and a
 * real worker rendering the tiny pack. Flows: /morph (defer → queued → progress → result GIF), a /morph
 * completed by a second member through the modal, a /grid board filled by four members with a race for the
 * last corner, Reroll and Delete, /settings, and every kind of bad input getting its ephemeral answer.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ButtonBuilder, ButtonStyle, ActionRowBuilder, type TextChannel } from 'discord.js';
import sharp from 'sharp';
import type { LocalMessage } from '../src/local-discord/index.ts';
import { SHAPES_PACK } from './harness/packs.ts';
import { buttonId, buttons, GENERAL, NO_FILES, RENDERS, Stack, USERS, waitFor } from './harness/stack.ts';

let stack: Stack;

before(async () => {
  stack = await Stack.start();
});
after(async () => {
  await stack?.stop();
});

/** Contents a message went through, from now on. */
function recordEdits(): { contents: Map<string, string[]>; stop: () => void } {
  const contents = new Map<string, string[]>();
  const listener = (message: LocalMessage) => {
    const list = contents.get(message.id) ?? [];
    list.push(message.content);
    contents.set(message.id, list);
  };
  stack.discord.on('messageUpdate', listener);
  stack.discord.on('messageCreate', listener);
  return { contents, stop: () => (stack.discord.off('messageUpdate', listener), stack.discord.off('messageCreate', listener)) };
}

/** Every message the bot sent or edited so far asked Discord to parse no mentions. */
function assertNoMentionsParsed(): void {
  const seen = stack.messageRequests();
  assert.ok(seen.length > 0);
  for (const request of seen) {
    assert.deepEqual((request.allowedMentions as { parse?: unknown } | undefined)?.parse, [], `${request.route}: ${JSON.stringify(request.allowedMentions)}`);
  }
}

async function finalWithFile(messageId: string, timeoutMs = 60_000): Promise<LocalMessage> {
  return stack.waitForMessage(messageId, 'a result with an attachment', (m) => m.attachments.length > 0, timeoutMs);
}

function field(message: LocalMessage, name: string): string {
  const found = message.embeds[0]?.fields?.find((f) => f.name === name);
  assert.ok(found, `no embed field ${name}: ${JSON.stringify(message.embeds[0]?.fields?.map((f) => f.name))}`);
  return found.value;
}

async function pages(attachmentId: string): Promise<{ format: string | undefined; pages: number | undefined }> {
  const file = stack.discord.attachment(attachmentId);
  assert.ok(file, 'attachment bytes stored');
  const meta = await sharp(file.data, { animated: true }).metadata();
  return { format: meta.format, pages: meta.pages };
}

describe('/morph from to', () => {
  it('defers, shows the queue position, progress, then the GIF with its embed', async () => {
    const edits = recordEdits();
    const handle = await stack.slash('alice', 'morph', { from: 'a red apple', to: 'a blue ball', frames: 4, steps: 2, seed: 7 });
    const ack = await stack.acknowledged(handle);
    assert.equal(ack.responseType, 5, 'deferred');
    assert.ok((ack.acknowledgedAfterMs ?? 99_999) < 3000, 'acknowledged within 3 s');
    const state = await waitFor('original message', () => stack.discord.interactionResponse(handle.interactionId)?.originalMessageId);
    const final = await finalWithFile(state);
    edits.stop();

    const seen = edits.contents.get(state) ?? [];
    assert.ok(seen.some((c) => c.startsWith('⏳ Queued') && /Position: 1st/.test(c)), `queued edit: ${JSON.stringify(seen)}`);
    assert.ok(seen.some((c) => c.startsWith('🎨 Rendering') && /[▰▱]+/.test(c) && /\d+\/4 frames/.test(c)), `progress edit: ${JSON.stringify(seen)}`);

    const attachment = final.attachments[0]!;
    assert.match(attachment.filename, /^latentwalk-morph-7\.gif$/);
    const gif = await pages(attachment.id);
    assert.equal(gif.format, 'gif');
    assert.equal(gif.pages, 6, '4 frames played forward and back: 0 1 2 3 2 1');

    assert.equal(field(final, 'From').startsWith('a red apple'), true);
    assert.ok(field(final, 'To').startsWith('a blue ball'));
    assert.ok(field(final, 'Contributors').includes(`<@${USERS.alice}>`));
    assert.equal(field(final, 'Seed'), '7');
    assert.equal(field(final, 'Steps'), '2');
    assert.ok(field(final, 'Guidance'));
    assert.match(field(final, 'Size'), /^64×64/);
    assert.match(field(final, 'Frames'), /^4 rendered, 6 in the ping-pong/);
    assert.match(field(final, 'Render time'), /\d+ s/);
    assert.equal(field(final, 'Model'), 'tiny');
    assert.deepEqual(buttons(final).map((b) => b.label), ['Reroll', 'Delete']);
    assertNoMentionsParsed();
  });

  it('Delete answers "not yours" to others and removes the result for its requester', async () => {
    const handle = await stack.slash('bob', 'loop', { prompt: 'a spinning top', frames: 2, steps: 1 });
    const messageId = await waitFor('reply', () => stack.discord.interactionResponse(handle.interactionId)?.originalMessageId);
    const final = await finalWithFile(messageId);
    const deleteId = buttonId(final, 'Delete');
    const stranger = await stack.click('carol', messageId, deleteId);
    assert.match(await stack.ephemeral(stranger), /not yours/);
    assert.ok(stack.discord.message(messageId), 'still there');
    await stack.click('bob', messageId, deleteId);
    await waitFor('deleted', () => stack.discord.message(messageId) === undefined);
  });
});

describe('long prompts', () => {
  it('a prompt cut at 77 tokens is flagged in the result', async () => {
    const words = Array.from({ length: 90 }, (_, i) => `w${i}`).join(' ');
    const handle = await stack.slash('dave', 'loop', { prompt: words, frames: 2, steps: 1 });
    const messageId = await waitFor('reply', () => stack.discord.interactionResponse(handle.interactionId)?.originalMessageId);
    const final = await finalWithFile(messageId);
    const flag = field(final, '⚠️ Cut at 77 tokens');
    assert.match(flag, /^• Prompt: \d+ words past the limit were not read: “w\d+ w\d+/);
  });
});

describe('/morph from alone', () => {
  it('is completed by a second member through the modal, crediting both', async () => {
    const handle = await stack.slash('alice', 'morph', { from: 'a sleeping cat', frames: 2, steps: 1 });
    const board = await stack.reply(handle);
    assert.match(board.content, /wants to morph from “a sleeping cat”/);
    const click = await stack.clickLabel('bob', board.id, 'Set where it goes');
    assert.equal((await stack.acknowledged(click)).responseType, 9, 'a modal');
    const modal = stack.discord.openModals(USERS.bob)[0];
    assert.ok(modal);
    await stack.submit('bob', modal.modal.custom_id, { prompt: 'a roaring lion' });
    const final = await finalWithFile(board.id);
    assert.ok(field(final, 'From').startsWith('a sleeping cat'));
    assert.ok(field(final, 'To').startsWith('a roaring lion'));
    assert.ok(field(final, 'To').includes(`<@${USERS.bob}>`));
    const contributors = field(final, 'Contributors');
    assert.ok(contributors.includes(`<@${USERS.alice}>`) && contributors.includes(`<@${USERS.bob}>`));
  });
});

describe('/grid board', () => {
  it('four members fill it, the race for the last corner has one winner, the fifth is told it is full', async () => {
    const handle = await stack.slash('alice', 'grid', { p1: 'a snowy mountain', grid_size: 2, steps: 1 });
    const board = await stack.reply(handle);
    assert.match(board.content, /top left\*\*: “a snowy mountain”/);
    // bob and carol take two corners.
    for (const [user, text] of [['bob', 'a desert'], ['carol', 'a jungle']] as const) {
      await stack.acknowledged(await stack.clickLabel(user, board.id, 'Add a corner'));
      const modal = stack.discord.openModals(USERS[user])[0]!;
      await stack.acknowledged(await stack.submit(user, modal.modal.custom_id, { prompt: text }));
    }
    const afterTwo = stack.message(board.id);
    assert.match(afterTwo.content, /top right\*\*: “a desert”/);
    assert.match(afterTwo.content, /bottom left\*\*: “a jungle”/);
    // bob may not take a second corner.
    const again = await stack.clickLabel('bob', board.id, 'Add a corner');
    assert.match(await stack.ephemeral(again), /already added a prompt/);

    // dave and erin both open the form while one corner is left, and submit at the same moment.
    for (const user of ['dave', 'erin'] as const) await stack.acknowledged(await stack.clickLabel(user, board.id, 'Add a corner'));
    const daveModal = stack.discord.openModals(USERS.dave)[0]!;
    const erinModal = stack.discord.openModals(USERS.erin)[0]!;
    const [dave, erin] = await Promise.all([
      stack.submit('dave', daveModal.modal.custom_id, { prompt: 'an ocean' }),
      stack.submit('erin', erinModal.modal.custom_id, { prompt: 'a volcano' }),
    ]);
    const [daveState, erinState] = await Promise.all([stack.acknowledged(dave), stack.acknowledged(erin)]);
    const winners = [daveState, erinState].filter((s) => s.responseType === 7);
    const losers = [daveState, erinState].filter((s) => s.responseType === 4);
    assert.equal(winners.length, 1, 'exactly one submit updated the board');
    assert.equal(losers.length, 1);
    const loser = losers[0] === daveState ? dave : erin;
    const winnerName = losers[0] === daveState ? 'erin' : 'dave';
    assert.match(await stack.ephemeral(loser), /board is full/);

    const final = await finalWithFile(board.id);
    assert.equal(final.attachments.length, 1, 'one grid');
    assert.equal((await pages(final.attachments[0]!.id)).format, 'png');
    const contributors = field(final, 'Contributors');
    for (const user of ['alice', 'bob', 'carol', winnerName] as const) assert.ok(contributors.includes(`<@${USERS[user]}>`), `${user} credited`);
    assert.match(field(final, 'Grid'), /2×2 cells/);

    // Reroll: same prompts, new seed, a new message.
    const reroll = await stack.clickLabel('bob', board.id, 'Reroll');
    assert.equal((await stack.acknowledged(reroll)).responseType, 5);
    const rerollMessage = await waitFor('reroll reply', () => stack.discord.interactionResponse(reroll.interactionId)?.originalMessageId);
    assert.notEqual(rerollMessage, board.id);
    const rerolled = await finalWithFile(rerollMessage);
    assert.equal(field(rerolled, 'Top left').split(' · ')[0], field(final, 'Top left').split(' · ')[0]);
    assert.notEqual(field(rerolled, 'Seed'), field(final, 'Seed'));
  });

  it('the starter can cancel; a member whose form was open is told', async () => {
    const handle = await stack.slash('carol', 'grid', { p1: 'a red door' });
    const board = await stack.reply(handle);
    await stack.acknowledged(await stack.clickLabel('dave', board.id, 'Add a corner'));
    const notStarter = await stack.clickLabel('bob', board.id, 'Cancel board');
    assert.match(await stack.ephemeral(notStarter), /not yours/);
    await stack.acknowledged(await stack.clickLabel('carol', board.id, 'Cancel board'));
    assert.match(stack.message(board.id).content, /Cancelled by/);
    assert.equal(buttons(stack.message(board.id)).length, 0);
    const modal = stack.discord.openModals(USERS.dave)[0]!;
    const late = await stack.submit('dave', modal.modal.custom_id, { prompt: 'a green door' });
    assert.match(await stack.ephemeral(late), /cancelled/);
  });

  it('expires after its time and says so; a late submit is told', async () => {
    const handle = await stack.slash('bob', 'grid', { p2: 'a paper boat' });
    const board = await stack.reply(handle);
    await stack.acknowledged(await stack.clickLabel('erin', board.id, 'Add a corner'));
    stack.botSkewMs = stack.botConfig.boardTtlMs + 1000;
    try {
      await stack.waitForMessage(board.id, 'expired', (m) => /expired/.test(m.content), 10_000);
      assert.equal(buttons(stack.message(board.id)).length, 0);
      const modal = stack.discord.openModals(USERS.erin)[0]!;
      const late = await stack.submit('erin', modal.modal.custom_id, { prompt: 'a paper plane' });
      assert.match(await stack.ephemeral(late), /expired/);
    } finally {
      stack.botSkewMs = 0;
    }
  });
});

describe('bad input', () => {
  const cases: [string, string, Record<string, string | number>, RegExp][] = [
    ['empty prompt', 'loop', { prompt: '   ' }, /empty: write a few words/],
    ['prompt of zero-width characters only', 'walk', { prompt: '\u200b\u200c\u200d\u2060\ufeff\ufe0f\u200e' }, /empty: write a few words/],
    ['board corner of zero-width characters only', 'grid', { p1: 'a cat', p2: '\u200b \u200b' }, /top-right prompt \(p2\) is empty/],
    ['frames over the guild limit', 'morph', { from: 'a', to: 'b', frames: 30 }, /30 frames is over this server's limit of 24/],
    ['size not a multiple of 16', 'loop', { prompt: 'a', size: 100 }, /multiple of 16/],
  ];
  for (const [what, command, options, expected] of cases) {
    it(`${what}: ephemeral answer, nothing queued`, async () => {
      const handle = await stack.slash('dave', command, options);
      const state = await stack.acknowledged(handle);
      assert.equal(state.responseType, 4);
      assert.equal(state.ephemeral, true);
      assert.match(await stack.ephemeral(handle), expected);
    });
  }

  // The registered bounds are the bot's own limits, so Discord's client refuses these before the bot sees them.
  const refusedByDiscord: [string, string, Record<string, string | number>, RegExp][] = [
    ['over-long prompt (code points, as Discord counts)', 'loop', { prompt: '😀'.repeat(501) }, /prompt.*at most 500 characters/],
    ['steps over the limit', 'walk', { prompt: 'a', steps: 51 }, /steps.*at most 50/],
    ['size over the limit', 'loop', { prompt: 'a', size: 1040 }, /size.*at most 1024/],
    ['grid too large', 'grid', { p1: 'a', grid_size: 7 }, /grid_size.*at most 6/],
    ['frames over the bot limit', 'morph', { from: 'a', to: 'b', frames: 61 }, /frames.*at most 60/],
  ];
  for (const [what, command, options, expected] of refusedByDiscord) {
    it(`${what}: refused by Discord's client, never sent to the bot`, async () => {
      await assert.rejects(stack.slash('dave', command, options), expected);
    });
  }

  it('a size the live worker\'s model cannot render: ephemeral answer naming the size it can, nothing queued', async () => {
    // The bundled shapes model renders 64x64 only; its worker says so in Redis under the same worker id.
    await stack.stopWorker();
    await stack.startWorker(SHAPES_PACK);
    try {
      const handle = await stack.slash('dave', 'loop', { prompt: 'a red circle', size: 512 });
      const state = await stack.acknowledged(handle);
      assert.equal(state.responseType, 4);
      assert.equal(state.ephemeral, true);
      assert.match(await stack.ephemeral(handle), /^⚠️ size 512 is not available: this bot's model 'shapes' renders 64x64 only; leave size out or use size:64\.$/);
      const queued = await stack.slash('dave', 'grid', { p1: 'a red circle', p2: 'a blue square', p3: 'a green star', p4: 'a yellow ring', size: 512 });
      assert.match(await stack.ephemeral(queued), /size 512 is not available/);
    } finally {
      await stack.stopWorker();
      await stack.startWorker();
    }
  });

  it('a channel where the bot cannot attach files', async () => {
    const handle = await stack.slash('dave', 'loop', { prompt: 'a kite' }, NO_FILES);
    assert.match(await stack.ephemeral(handle), /missing Attach Files/);
  });

  it('the queue cap per member, set with /settings', async () => {
    await stack.stopWorker();
    try {
      const set = await stack.slashSub('alice', 'settings', 'limits', { max_queued_per_member: 1 });
      assert.match(await stack.ephemeral(set), /Max queued per member: 1/);
      const first = await stack.slash('erin', 'loop', { prompt: 'first', frames: 2, steps: 1 });
      await stack.reply(first);
      const second = await stack.slash('erin', 'loop', { prompt: 'second', frames: 2, steps: 1 });
      assert.match(await stack.ephemeral(second), /You already have 1 job queued or rendering here \(this server allows 1\)/);
      const cancel = await stack.slash('erin', 'cancel');
      assert.match(await stack.ephemeral(cancel), /Cancelled/);
    } finally {
      await stack.slashSub('alice', 'settings', 'reset');
      await stack.startWorker();
    }
  });

  it('/settings lowers max frames and blocks words; members without Manage Server cannot use it', async () => {
    await stack.acknowledged(await stack.slashSub('alice', 'settings', 'limits', { max_frames: 6 }));
    await stack.acknowledged(await stack.slashSub('alice', 'settings', 'blocklist', { action: 'add', words: 'zombie, ugly thing' }));
    try {
      assert.match(await stack.ephemeral(await stack.slash('bob', 'loop', { prompt: 'a', frames: 8 })), /limit of 6/);
      assert.match(await stack.ephemeral(await stack.slash('bob', 'loop', { prompt: 'a Zombie parade' })), /contains “zombie”/);
      await assert.rejects(stack.slashSub('bob', 'settings', 'show'), /may not use \/settings/);
      const show = await stack.slashSub('alice', 'settings', 'show');
      assert.match(await stack.ephemeral(show), /Blocked words: “zombie”, “ugly thing”/);
    } finally {
      await stack.acknowledged(await stack.slashSub('alice', 'settings', 'reset'));
    }
  });

  it('/settings channels: commands only where allowed', async () => {
    await stack.acknowledged(await stack.slashSub('alice', 'settings', 'channels', { action: 'allow', channel: RENDERS }));
    try {
      const elsewhere = await stack.slash('bob', 'loop', { prompt: 'a kite' }, GENERAL);
      assert.match(await stack.ephemeral(elsewhere), new RegExp(`only in <#${RENDERS}>`));
    } finally {
      await stack.acknowledged(await stack.slashSub('alice', 'settings', 'reset'));
    }
  });

  it('a tampered button id gets an ephemeral error', async () => {
    // A button the bot never made (as a modified client could send): a real custom id with another job's id.
    const client = stack.bot!.context.client;
    const real = stack.bot!.context.ids.make('cancel', 'render-1');
    const tampered = real.replace('render-1', 'render-2');
    const channel = (await client.channels.fetch(GENERAL)) as TextChannel;
    const message = await channel.send({
      content: 'test',
      components: [new ActionRowBuilder<ButtonBuilder>().addComponents(new ButtonBuilder().setCustomId(tampered).setLabel('x').setStyle(ButtonStyle.Primary))],
    });
    const handle = await stack.click('bob', message.id, tampered);
    assert.match(await stack.ephemeral(handle), /not one I recognise/);
  });

  it('"@everyone hi" pings no one', async () => {
    const handle = await stack.slash('carol', 'loop', { prompt: '@everyone hi', frames: 2, steps: 1 });
    const messageId = await waitFor('reply', () => stack.discord.interactionResponse(handle.interactionId)?.originalMessageId);
    const final = await finalWithFile(messageId);
    assert.equal(final.mention_everyone, false);
    assert.deepEqual(final.mentions, []);
    assert.ok(!final.content.includes('@everyone'));
    assert.ok(field(final, 'Prompt').includes('@\u200beveryone'));
    for (const message of stack.discord.messages(GENERAL)) {
      assert.equal(message.mention_everyone, false, message.content);
      assert.deepEqual(message.mentions, [], message.content);
    }
    assertNoMentionsParsed();
  });
});
