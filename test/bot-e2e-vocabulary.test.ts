/**
 * End to end, against LocalDiscord with a real redis-server, bot and worker: what the running model knows.
 * A worker on the bundled shapes model (named by `--model shapes`) publishes its vocabulary and suggestions;
 * the bot offers them as Discord autocomplete choices on prompt options, suggests one in a board's modal,
 * and the result says which words of the prompts that model does not know. A model that declares none (the
 * tiny pack, like a real SD3 pack) gets no choices and no note.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { LocalMessage } from '../src/local-discord/index.ts';
import { SHAPES_PACK } from './harness/packs.ts';
import { GENERAL, GUILD, Stack, USERS, waitFor, type UserName } from './harness/stack.ts';

const SHAPES_SUGGESTIONS = (JSON.parse(readFileSync(join(SHAPES_PACK, 'latentwalk.json'), 'utf8')) as { suggestions: string[] }).suggestions;
const NOTE = '⚠️ Words this model does not know';

let stack: Stack;

before(async () => {
  stack = await Stack.start();
});
after(async () => {
  await stack?.stop();
});

type Choice = { name: string; value: string };

/** A member types `typed` into `option` of `/command`; the choices the bot answered with. */
async function typeInto(user: UserName, command: string, option: string, typed: string): Promise<Choice[]> {
  const handle = await stack.discord.autocomplete({ guildId: GUILD, channelId: GENERAL, userId: USERS[user], name: command, options: [{ name: option, value: typed, focused: true }] });
  const state = await stack.acknowledged(handle, 3000);
  assert.equal(state.responseType, 8, 'an autocomplete result');
  assert.ok((state.acknowledgedAfterMs ?? 99_999) < 3000, 'within 3 s');
  return state.autocompleteChoices as Choice[];
}

async function result(handle: { interactionId: string }): Promise<LocalMessage> {
  const id = await waitFor('the reply', () => stack.discord.interactionResponse(handle.interactionId)?.originalMessageId);
  return stack.waitForMessage(id, 'a result with an attachment', (m) => m.attachments.length > 0, 60_000);
}

const fieldNames = (message: LocalMessage) => message.embeds[0]?.fields?.map((f) => f.name) ?? [];

describe('a model that declares no vocabulary (tiny, like real SD3 packs)', () => {
  it('autocomplete answers with no choices, and the result has no note', async () => {
    assert.deepEqual(await typeInto('alice', 'morph', 'from', 'a d'), []);
    assert.deepEqual(await typeInto('alice', 'loop', 'prompt', ''), []);
    const final = await result(await stack.slash('alice', 'morph', { from: 'a dog', to: 'a cat', frames: 2, steps: 1 }));
    assert.ok(!fieldNames(final).includes(NOTE), JSON.stringify(fieldNames(final)));
  });
});

describe('the shapes model, named by --model shapes', () => {
  before(async () => {
    await stack.stopWorker();
    await stack.startWorker('shapes');
  });

  it('autocomplete on /morph, /loop and /walk offers its suggestions as the member types', async () => {
    // The bot reads the live workers' lexicons at most every few seconds: wait for the new worker's.
    const first = await waitFor('suggestions from the shapes worker', async () => {
      const choices = await typeInto('bob', 'morph', 'from', '');
      return choices.length > 0 ? choices : undefined;
    }, 15_000, 250);
    assert.deepEqual(first.map((c) => c.value), SHAPES_SUGGESTIONS.slice(0, 25));
    for (const [command, option] of [['morph', 'to'], ['loop', 'prompt'], ['walk', 'prompt'], ['grid', 'p3'], ['chain', 'prompt']] as const) {
      const choices = await typeInto('carol', command, option, 'a BL');
      assert.equal(choices[0]?.value, 'a BL', `${command}: the member's own text stays first`);
      assert.ok(choices.some((c) => c.value === 'a blue square') && choices.some((c) => c.value === 'a black'), `${command}: ${JSON.stringify(choices)}`);
      assert.ok(choices.length <= 25);
    }
  });

  it('what the member types is noted with the words the model does not know (the mission\'s "dog cat")', async () => {
    const [own, ...rest] = await typeInto('dave', 'morph', 'from', 'dog cat');
    assert.deepEqual(own, { name: "dog cat · 'shapes' does not know: dog, cat", value: 'dog cat' });
    assert.deepEqual(rest, []);
    // Emoji, zero-width and RTL text at the prompt limit still answer within Discord's limits.
    for (const typed of ['🐶'.repeat(99), `a red ${'\u200B'.repeat(90)}`, `\u200Fكلب\u200F ${'חתול '.repeat(100)}`.slice(0, 500)]) {
      const choices = await typeInto('dave', 'walk', 'prompt', typed);
      for (const c of choices) assert.ok([...c.name].length <= 100 && [...c.value].length <= 100 && c.value.length >= 1);
    }
  });

  it('the result says which words this server\'s model does not know; known prompts get no note', async () => {
    const final = await result(await stack.slash('erin', 'morph', { from: 'a Dog!', to: 'a red circle', frames: 2, steps: 2, seed: 3 }));
    const note = final.embeds[0]?.fields?.find((f) => f.name === NOTE);
    assert.ok(note, JSON.stringify(fieldNames(final)));
    assert.match(note.value, /^This server's model \*\*shapes\*\* does not know “dog”, so it drew it as noise\./);
    assert.equal(final.embeds[0]?.fields?.find((f) => f.name === 'Model')?.value, 'shapes');
    const known = await result(await stack.slash('erin', 'loop', { prompt: 'a big Blue star, top left', frames: 2, steps: 2 }));
    assert.ok(!fieldNames(known).includes(NOTE));
  });

  it('a board\'s modal (no autocomplete in modals) suggests a prompt the model knows as its placeholder', async () => {
    const start = await stack.slash('alice', 'morph', { from: 'a red circle' });
    const boardId = await waitFor('the board', () => stack.discord.interactionResponse(start.interactionId)?.originalMessageId);
    const board = await stack.waitForMessage(boardId, 'the board', (m) => m.components.length > 0);
    const click = await stack.clickLabel('bob', board.id, 'Set where it goes');
    assert.equal((await stack.acknowledged(click)).responseType, 9);
    const modal = stack.discord.openModals(USERS.bob).at(-1)!;
    const placeholder = /"placeholder":"([^"]*)"/.exec(JSON.stringify(modal.modal))?.[1];
    assert.ok(placeholder?.startsWith('e.g. '), placeholder);
    const example = placeholder!.slice('e.g. '.length);
    assert.ok(SHAPES_SUGGESTIONS.slice(0, 25).includes(example) && example !== 'a red circle', example);
    const submitted = await stack.submit('bob', modal.modal.custom_id, { prompt: example });
    await stack.acknowledged(submitted);
    const final = await stack.waitForMessage(board.id, 'the morph with its GIF', (m) => m.attachments.length > 0, 60_000);
    assert.ok(!fieldNames(final).includes(NOTE), 'a suggestion is a prompt the model knows');
  });
});
