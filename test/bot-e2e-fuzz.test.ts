/**
 * Fuzz, end to end: hostile prompts (harness/fuzz.ts: emoji, ZWJ sequences, flags, keycaps, combining marks,
 * right-to-left text and overrides, zero-width characters, lone surrogates, markdown and mentions) at up to the
 * maximum length, sent as members would through every command, board, modal, result, error and /queue path of
 * the real bot against LocalDiscord (which counts text and refuses over-limit payloads as Discord does) and a
 * real worker. Nothing may throw ("Something went wrong"), no request may be refused, every result is posted.
 * The view builders' other paths (failed, expired, too large...) are fuzzed in bot-text-fuzz.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { codePoints } from '../src/bot/replies/fit.ts';
import type { LocalMessage } from '../src/local-discord/index.ts';
import { validateMessageBody } from '../src/local-discord/validate.ts';
import { FuzzText, FUZZ_SEED } from './harness/fuzz.ts';
import type { InteractionHandle } from '../src/local-discord/index.ts';
import { GENERAL, Stack, USERS, waitFor, type UserName } from './harness/stack.ts';

let stack: Stack;
const fuzz = new FuzzText(FUZZ_SEED);
const RENDER = { steps: 1 } as const;

before(async () => {
  stack = await Stack.start();
  // Several jobs per member at once; the caps themselves are tested elsewhere.
  await stack.acknowledged(await stack.slashSub('alice', 'settings', 'limits', { max_queued_per_member: 20 }));
});
after(async () => {
  await stack?.stop();
});

/** The bot's visible answer to an interaction: the original response once it has content. */
async function replyOf(handle: InteractionHandle): Promise<LocalMessage> {
  return stack.reply(handle, 15_000);
}

it(`every path takes hostile prompts at the maximum length (seed ${FUZZ_SEED})`, async () => {
  const max = stack.jobsConfig.limits.maxPromptChars;
  const prompt = () => fuzz.prompt(max);
  const jobs: { what: string; messageId: string }[] = [];
  const ephemerals: { what: string; text: Promise<string> }[] = [];
  const track = async (what: string, handle: InteractionHandle) => jobs.push({ what, messageId: (await replyOf(handle)).id });

  // /settings: a hostile blocklist entry and negative prompt, then show (the answer cuts a long list).
  const entry = `gore ${fuzz.text(12, ['emoji', 'zwj', 'flags', 'markup', 'zeroWidth', 'loneSurrogates'])}`;
  // Each entry starts with a word no fuzz prompt contains, so the list blocks only the prompt meant to be blocked.
  const words = [entry, ...Array.from({ length: 12 }, (_, i) => `zq${i} ${fuzz.text(fuzz.int(5, 40), ['emoji', 'zwj', 'rightToLeft', 'combining', 'flags'])}`)];
  await stack.acknowledged(await stack.slashSub('alice', 'settings', 'blocklist', { action: 'add', words: words.join(', ').slice(0, 1000) }));
  await stack.acknowledged(await stack.slashSub('alice', 'settings', 'negative', { prompt: fuzz.prompt(max) }));
  ephemerals.push({ what: '/settings show', text: stack.ephemeral(await stack.slashSub('alice', 'settings', 'show')) });

  // Errors: a blocked word, prompts with no visible character (a command and a board corner).
  const blocked = await stack.slash('bob', 'loop', { prompt: `a ${entry} parade` });
  assert.match(await stack.ephemeral(blocked), /this server does not allow/);
  for (const [command, options] of [
    ['walk', { prompt: fuzz.invisible(max) }],
    ['grid', { p1: prompt(), p2: fuzz.invisible(max) }],
    ['morph', { from: fuzz.invisible(max), to: prompt() }],
  ] as const) {
    assert.match(await stack.ephemeral(await stack.slash('carol', command, options)), /is empty/, `/${command} with an invisible prompt`);
  }

  // Direct renders of every kind.
  await track('/loop', await stack.slash('bob', 'loop', { prompt: prompt(), frames: 2, ...RENDER }));
  await track('/walk', await stack.slash('carol', 'walk', { prompt: prompt(), frames: 2, ...RENDER }));
  await track('/morph', await stack.slash('dave', 'morph', { from: prompt(), to: prompt(), frames: 2, ...RENDER }));
  await track('/grid', await stack.slash('erin', 'grid', { p1: prompt(), p2: prompt(), p3: prompt(), p4: prompt(), grid_size: 2, ...RENDER }));
  ephemerals.push({ what: '/queue', text: stack.ephemeral(await stack.slash('bob', 'queue')) });

  // A /morph board: the modal opens whatever the `from` prompt holds; an invisible `to` is refused; a real one completes it.
  const morphBoard = await replyOf(await stack.slash('alice', 'morph', { from: `🐕 ${prompt()}`.slice(0, max), frames: 2, ...RENDER }));
  const openAndSubmit = async (user: UserName, boardId: string, label: string, text: string) => {
    await stack.acknowledged(await stack.clickLabel(user, boardId, label));
    const modal = stack.discord.openModals(USERS[user]).at(-1);
    assert.ok(modal, `${user}'s modal opened on ${label}`);
    return stack.submit(user, modal.modal.custom_id, { prompt: text });
  };
  assert.match(await stack.ephemeral(await openAndSubmit('bob', morphBoard.id, 'Set where it goes', fuzz.invisible(max))), /is empty/);
  await stack.acknowledged(await openAndSubmit('bob', morphBoard.id, 'Set where it goes', prompt()));
  jobs.push({ what: 'morph board', messageId: morphBoard.id });

  // A /grid board filled by three members through the modal.
  const gridBoard = await replyOf(await stack.slash('alice', 'grid', { p1: prompt(), grid_size: 2, ...RENDER }));
  for (const user of ['bob', 'carol', 'dave'] as const) await stack.acknowledged(await openAndSubmit(user, gridBoard.id, 'Add a corner', prompt()));
  jobs.push({ what: 'grid board', messageId: gridBoard.id });

  // A job cancelled before it is done: its message shows the hostile prompts in the cancelled view. The jobs
  // above take the tiny model a few milliseconds each, so the queue may be empty by now: this one is big enough
  // (24 frames, the server's limit, x 50 steps: about a second) to be still waiting or rendering when Cancel
  // arrives; either way it ends cancelled.
  const doomed = await stack.slash('erin', 'morph', { from: prompt(), to: prompt(), frames: 24, steps: 50 });
  const doomedMessage = await replyOf(doomed);
  ephemerals.push({ what: '/queue with everything waiting', text: stack.ephemeral(await stack.slash('erin', 'queue')) });
  const cancel = await stack.clickLabel('erin', doomedMessage.id, 'Cancel');
  ephemerals.push({ what: 'cancel', text: stack.ephemeral(cancel) });

  // Every render is posted (the cancelled one says so); Reroll by another member queues the same prompts again.
  const posted = async (what: string, id: string) =>
    stack.waitForMessage(id, `${what} posted`, (m) => m.attachments.length > 0 || /^(❌|🛑|⚠️|⌛)/.test(m.content), 90_000);
  for (const job of jobs) {
    const message = await posted(job.what, job.messageId);
    assert.equal(message.attachments.length, 1, `${job.what}: ${message.content}`);
    const fields = message.embeds[0]?.fields ?? [];
    assert.ok(fields.some((f) => f.name === 'Seed'), `${job.what}: the facts survived the long prompts`);
  }
  assert.match((await posted('cancelled', doomedMessage.id)).content, /^🛑 Cancelled/);
  const reroll = await stack.clickLabel('carol', jobs[3]!.messageId, 'Reroll');
  const rerolled = await waitFor('the reroll reply', () => stack.discord.interactionResponse(reroll.interactionId)?.originalMessageId);
  assert.equal((await posted('reroll', rerolled)).attachments.length, 1);

  for (const { what, text } of ephemerals) {
    const answer = await text;
    assert.ok(!/Something went wrong/.test(answer), `${what}: ${answer}`);
    assert.ok(codePoints(answer) <= 2000, what);
  }

  // Nothing the bot sent was refused, no member was told "Something went wrong", and every message (ephemeral
  // ones included) is within Discord's limits as Discord counts them.
  const refused = stack.discord.requests.filter((r) => r.status >= 400 && r.status !== 404);
  assert.deepEqual(refused.map((r) => `${r.method} ${r.route} ${r.status}`), [], 'requests LocalDiscord refused');
  for (const message of stack.discord.messages(GENERAL)) {
    assert.ok(!/Something went wrong/.test(message.content), message.content);
    validateMessageBody({ content: message.content, embeds: message.embeds, components: message.components }, [], 1 << 30);
  }
  // JSON.stringify writes a lone surrogate as an escape (backslash, ud800-udfff); a whole pair stays as it is.
  assert.ok(!/\\ud[89a-f][0-9a-f]{2}/i.test(JSON.stringify(stack.discord.messages(GENERAL))), 'no lone surrogate reached a message');
});
