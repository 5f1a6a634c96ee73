/**
 * Autocomplete on the local Discord-compatible server, as Discord does it, with the real discord.js client:
 * a member typing into an option registered with `autocomplete: true` makes an APPLICATION_COMMAND_AUTOCOMPLETE
 * interaction (type 4, the option marked focused with the partial text); the bot answers with callback type 8
 * and at most 25 choices, each named 1-100 characters with a value of the option's type (strings 1-100).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApplicationCommandOptionType, Client, DiscordAPIError, Events, GatewayIntentBits, Routes, type AutocompleteInteraction, type Interaction } from 'discord.js';
import { LocalDiscord } from '../src/local-discord/index.ts';

const TOKEN = 'autocomplete-bot-token';
const GUILD = '1400000000000000700';
const GENERAL = '1400000000000000701';
const ALICE = '1400000000000000702';

let server: LocalDiscord;
let client: Client;

function nextInteraction(): Promise<Interaction> {
  return new Promise((resolve) => client.once(Events.InteractionCreate, resolve));
}

function type(name: string, options: { name: string; value: string | number; focused?: boolean }[]) {
  return server.autocomplete({ guildId: GUILD, channelId: GENERAL, userId: ALICE, name, options });
}

/** Answers the next autocomplete with this raw callback body; resolves with Discord's error, if any. */
async function answerRaw(body: unknown, options: { name: string; value: string | number; focused?: boolean }[], command = 'draw'): Promise<DiscordAPIError | undefined> {
  const next = nextInteraction();
  await type(command, options);
  const i = (await next) as AutocompleteInteraction;
  try {
    await client.rest.post(Routes.interactionCallback(i.id, i.token), { body, auth: false });
    return undefined;
  } catch (error) {
    if (error instanceof DiscordAPIError) return error;
    throw error;
  }
}

before(async () => {
  server = await LocalDiscord.start({
    token: TOKEN,
    guilds: [{ id: GUILD, name: 'Autocomplete', channels: [{ id: GENERAL, name: 'general' }], members: [{ id: ALICE, username: 'alice' }] }],
  });
  client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: server.restUrl } });
  const ready = new Promise<void>((resolve) => client.once(Events.ClientReady, () => resolve()));
  await client.login(TOKEN);
  await ready;
  await client.application!.commands.set(
    [
      {
        name: 'draw',
        description: 'Draw something',
        options: [
          { type: ApplicationCommandOptionType.String, name: 'prompt', description: 'What to draw', required: true, autocomplete: true, maxLength: 500 },
          { type: ApplicationCommandOptionType.Integer, name: 'count', description: 'How many', autocomplete: true },
          { type: ApplicationCommandOptionType.String, name: 'style', description: 'Plain option' },
        ],
      },
    ],
    GUILD,
  );
});

after(async () => {
  await client?.destroy();
  await server?.close();
});

describe('LocalDiscord autocomplete', () => {
  it('dispatches type 4 with the focused partial value; a type-8 answer with choices is recorded', async () => {
    const next = nextInteraction();
    const handle = await type('draw', [
      { name: 'style', value: 'flat' },
      { name: 'prompt', value: 'a re', focused: true },
    ]);
    const i = await next;
    assert.ok(i.isAutocomplete());
    assert.equal(i.commandName, 'draw');
    assert.deepEqual(i.options.getFocused(true), { name: 'prompt', type: ApplicationCommandOptionType.String, value: 'a re', focused: true });
    assert.equal(i.options.getString('style'), 'flat');
    await i.respond([
      { name: 'a red circle', value: 'a red circle' },
      { name: 'a red star · 🌟', value: 'a red star' },
    ]);
    const state = server.interactionResponse(handle.interactionId)!;
    assert.equal(state.type, 4);
    assert.equal(state.responseType, 8);
    assert.deepEqual(state.autocompleteChoices, [
      { name: 'a red circle', value: 'a red circle' },
      { name: 'a red star · 🌟', value: 'a red star' },
    ]);
    assert.equal(state.originalMessageId, null, 'no message');
  });

  it('an empty list is an answer too; a second answer or a message reply is refused', async () => {
    const next = nextInteraction();
    const handle = await type('draw', [{ name: 'prompt', value: '', focused: true }]);
    const i = (await next) as AutocompleteInteraction;
    await i.respond([]);
    assert.deepEqual(server.interactionResponse(handle.interactionId)?.autocompleteChoices, []);
    await assert.rejects(client.rest.post(Routes.interactionCallback(i.id, i.token), { body: { type: 8, data: { choices: [] } }, auth: false }), (e: unknown) => e instanceof DiscordAPIError && e.code === 40060);
    const reply = await answerRaw({ type: 4, data: { content: 'hi' } }, [{ name: 'prompt', value: 'x', focused: true }]);
    assert.equal(reply?.code, 50035);
    assert.match(JSON.stringify(reply?.rawError), /INTERACTION_CALLBACK_TYPE_INVALID/);
  });

  it('refuses more than 25 choices, names or string values outside 1-100 characters, and values of another type', async () => {
    const choice = (name: string, value: unknown) => ({ name, value });
    const focused = [{ name: 'prompt', value: 'a', focused: true }];
    const cases: [unknown, RegExp][] = [
      [Array.from({ length: 26 }, (_, k) => choice(`c${k}`, `c${k}`)), /"choices":\{"_errors":\[\{"code":"BASE_TYPE_MAX_LENGTH"/],
      [[choice('x'.repeat(101), 'x')], /"0":\{"name":\{"_errors":\[\{"code":"BASE_TYPE_MAX_LENGTH"/],
      [[choice('', 'x')], /"name":\{"_errors":\[\{"code":"BASE_TYPE_BAD_LENGTH"/],
      [[choice('x', '')], /"value":\{"_errors":\[\{"code":"BASE_TYPE_BAD_LENGTH"/],
      [[choice('x', 'y'.repeat(101))], /"value":\{"_errors":\[\{"code":"BASE_TYPE_MAX_LENGTH"/],
      [[choice('x', 5)], /"value":\{"_errors":\[\{"code":"STRING_TYPE_CONVERT"/],
      [[{ value: 'x' }], /"name":\{"_errors":\[\{"code":"BASE_TYPE_REQUIRED"/],
    ];
    for (const [choices, pattern] of cases) {
      const error = await answerRaw({ type: 8, data: { choices } }, focused);
      assert.equal(error?.code, 50035, JSON.stringify(choices).slice(0, 80));
      assert.match(JSON.stringify(error?.rawError), pattern);
    }
    // Discord counts code points: 100 emoji are a valid name and value.
    assert.equal(await answerRaw({ type: 8, data: { choices: [choice('🐶'.repeat(100), '🐶'.repeat(100))] } }, focused), undefined);
    assert.equal((await answerRaw({ type: 8, data: {} }, focused))?.code, 50035, 'choices are required');
    // An integer option's choices are integers.
    const count = [{ name: 'count', value: '1', focused: true }];
    assert.equal(await answerRaw({ type: 8, data: { choices: [choice('one', 1)] } }, count), undefined);
    assert.match(JSON.stringify((await answerRaw({ type: 8, data: { choices: [choice('one', '1')] } }, count))?.rawError), /NUMBER_TYPE_COERCE/);
    assert.match(JSON.stringify((await answerRaw({ type: 8, data: { choices: [choice('half', 1.5)] } }, count))?.rawError), /NUMBER_TYPE_COERCE/);
  });

  it('the client asks only for options registered with autocomplete, with exactly one focused', async () => {
    await assert.rejects(type('draw', [{ name: 'style', value: 'fl', focused: true }]), /option "style" of \/draw has no autocomplete/);
    await assert.rejects(type('draw', [{ name: 'prompt', value: 'a' }]), /needs one option with focused: true/);
    await assert.rejects(
      type('draw', [
        { name: 'prompt', value: 'a', focused: true },
        { name: 'count', value: '1', focused: true },
      ]),
      /needs one option with focused: true/,
    );
    await assert.rejects(
      server.slashCommand({ guildId: GUILD, channelId: GENERAL, userId: ALICE, name: 'draw', options: [{ name: 'prompt', value: 'a', focused: true }] }),
      /marked focused outside an autocomplete/,
    );
  });

  it('registration refuses autocomplete together with choices', async () => {
    await assert.rejects(
      client.application!.commands.create(
        {
          name: 'pick',
          description: 'Pick one',
          options: [{ type: ApplicationCommandOptionType.String, name: 'what', description: 'What', autocomplete: true, choices: [{ name: 'a', value: 'a' }] } as never],
        },
        GUILD,
      ),
      (e: unknown) => e instanceof DiscordAPIError && e.code === 50035 && /AUTOCOMPLETE_AND_CHOICES/.test(JSON.stringify(e.rawError)),
    );
  });
});
