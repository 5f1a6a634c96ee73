/**
 * The playground's message box and the bot's autocomplete: the text parser knows which option the bot
 * completes and builds the autocomplete interaction (the typed option focused), and the bridge's route sends
 * it through LocalDiscord and hands back the bot's choices (none when no bot answers within Discord's 3 s).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client, Events, GatewayIntentBits } from 'discord.js';
import { registerCommands } from '../src/cli/register-commands.ts';
import { commandPayloads } from '../src/commands/index.ts';
import { DEFAULT_JOBS_CONFIG } from '../src/jobs/index.ts';
import { LocalDiscord } from '../src/local-discord/index.ts';
import { PlaygroundBridge } from '../src/playground/bridge.ts';
import { PLAYGROUND_BOT, PLAYGROUND_CHANNELS, PLAYGROUND_GUILD_ID, PLAYGROUND_MEMBERS, playgroundGuild } from '../src/playground/seed.ts';
import { analyze, autocompleteQuery, type CommandDefinition } from '../src/playground/static/slash.js';

const TOKEN = 'playground-autocomplete-token.0123456789';
const commands = commandPayloads(DEFAULT_JOBS_CONFIG.limits) as unknown as CommandDefinition[];
let discord: LocalDiscord;
let bridge: PlaygroundBridge;

before(async () => {
  bridge = new PlaygroundBridge({ guildId: PLAYGROUND_GUILD_ID });
  discord = await LocalDiscord.start({
    token: TOKEN,
    botUser: PLAYGROUND_BOT,
    guilds: [playgroundGuild()],
    onHttpRequest: (req, res) => bridge.handleHttp(req, res),
    onUpgrade: (req, socket, head) => bridge.handleUpgrade(req, socket, head),
  });
  bridge.attach(discord);
  await registerCommands({ token: TOKEN, apiUrl: discord.restUrl, applicationId: PLAYGROUND_BOT.id }, DEFAULT_JOBS_CONFIG.limits, PLAYGROUND_GUILD_ID);
});

after(async () => {
  await bridge?.close();
  await discord?.close();
});

async function ask(body: unknown): Promise<{ status: number; body: { choices?: { name: string; value: string }[]; answered?: boolean; error?: string } }> {
  const response = await fetch(`${discord.baseUrl}/playground/api/autocomplete`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as never };
}

describe('the message box and the bot\'s autocomplete', () => {
  it('prompt options are registered with autocomplete (and so without fixed choices)', () => {
    for (const [command, option] of [['morph', 'from'], ['morph', 'to'], ['loop', 'prompt'], ['walk', 'prompt'], ['grid', 'p1'], ['chain', 'prompt']]) {
      const def = commands.find((c) => c.name === command)!.options!.find((o) => o.name === option)!;
      assert.equal(def.autocomplete, true, `${command} ${option}`);
      assert.equal(def.choices, undefined);
    }
    assert.equal(commands.find((c) => c.name === 'morph')!.options!.find((o) => o.name === 'frames')!.autocomplete, undefined);
  });

  it('knows when the caret is in an option the bot completes, and builds the interaction with it focused', () => {
    const text = '/morph to:a blue square frames:8 from:a re';
    assert.deepEqual(analyze(text, text.length, commands).autocomplete, { option: 'from', typed: 'a re', range: [text.length - 4, text.length] });
    assert.deepEqual(autocompleteQuery(text, text.length, commands), {
      name: 'morph',
      options: [
        { name: 'from', value: 'a re', focused: true },
        { name: 'to', value: 'a blue square' },
        { name: 'frames', value: 8 },
      ],
      range: [text.length - 4, text.length],
      option: 'from',
    });
    // Implicit: text right after the command goes to the first required option.
    assert.deepEqual(autocompleteQuery('/loop a gr', 10, commands)?.options, [{ name: 'prompt', value: 'a gr', focused: true }]);
    assert.deepEqual(autocompleteQuery('/loop ', 6, commands)?.options, [{ name: 'prompt', value: '', focused: true }]);
    // Options without autocomplete, option names being typed, the caret mid-text, other commands: no query.
    assert.equal(autocompleteQuery('/morph from:a red frames:1', 26, commands), null);
    assert.equal(autocompleteQuery('/morph from:a red f', 19, commands), null, 'f could be frames: or fps:');
    assert.equal(autocompleteQuery('/morph from:a red circle', 14, commands), null);
    assert.equal(autocompleteQuery('/queue', 6, commands), null);
    // An invalid other option is left out, as the client would not have it yet.
    assert.deepEqual(autocompleteQuery('/walk steps:lots prompt:x', 25, commands)?.options, [{ name: 'prompt', value: 'x', focused: true }]);
  });

  it('without a bot connected the route answers at once with no choices', async () => {
    const r = await ask({ userId: PLAYGROUND_MEMBERS.bob, channelId: PLAYGROUND_CHANNELS.general, name: 'loop', options: [{ name: 'prompt', value: 'a', focused: true }] });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { choices: [], answered: false });
  });

  it('sends the autocomplete through LocalDiscord and hands back the bot\'s choices', async () => {
    const bot = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: discord.restUrl } });
    const ready = new Promise<void>((resolve) => bot.once(Events.ClientReady, () => resolve()));
    await bot.login(TOKEN);
    await ready;
    const seen: string[] = [];
    bot.on(Events.InteractionCreate, (i) => {
      if (!i.isAutocomplete()) return;
      const typed = String(i.options.getFocused());
      seen.push(`${i.commandName} ${typed}`);
      if (typed === 'slow') return; // never answers
      void i.respond(['a red circle', 'a red star'].filter((s) => s.startsWith(typed)).map((s) => ({ name: s, value: s })));
    });
    try {
      const base = { userId: PLAYGROUND_MEMBERS.bob, channelId: PLAYGROUND_CHANNELS.general, name: 'morph' };
      const r = await ask({ ...base, options: [{ name: 'from', value: 'a red c', focused: true }] });
      assert.deepEqual(r.body, { choices: [{ name: 'a red circle', value: 'a red circle' }], answered: true });
      const started = Date.now();
      const late = await ask({ ...base, options: [{ name: 'from', value: 'slow', focused: true }] });
      assert.deepEqual(late.body, { choices: [], answered: false });
      assert.ok(Date.now() - started < 4500);
      assert.deepEqual(seen, ['morph a red c', 'morph slow']);
      // What Discord's client would not send is refused.
      const plain = await ask({ ...base, options: [{ name: 'frames', value: '1', focused: true }] });
      assert.equal(plain.status, 400);
      assert.match(plain.body.error!, /has no autocomplete/);
      const none = await ask({ ...base, options: [{ name: 'from', value: 'a' }] });
      assert.equal(none.status, 400);
    } finally {
      await bot.destroy();
    }
  });
});
