/**
 * The registered slash commands carry the bounds the bot enforces (job limits; the server-settings bounds
 * narrowed to them), and the registration compares Discord's copy with the wanted one: an unchanged start
 * sends no PUT, changed limits re-register, and LocalDiscord (as Discord's client) then refuses what is out
 * of range before the bot sees it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { APIApplicationCommandOption } from 'discord.js';
import { renderOptionBounds } from '../src/bot/validation.ts';
import { registerCommands } from '../src/cli/register-commands.ts';
import { commandPayloads } from '../src/commands/index.ts';
import { commandDifferences } from '../src/commands/registration.ts';
import { settingsOptionBounds } from '../src/commands/settings.ts';
import { DEFAULT_JOBS_CONFIG, type JobLimits } from '../src/jobs/index.ts';
import { LocalDiscord } from '../src/local-discord/index.ts';

const TOKEN = 'bounds-bot-token';
const GUILD = '1700000000000000100';
const GENERAL = '1700000000000000101';
const ALICE = '1700000000000000201';
const APP = '1700000000000000001';
const limits = DEFAULT_JOBS_CONFIG.limits;

type Option = APIApplicationCommandOption & { min_value?: number; max_value?: number; min_length?: number; max_length?: number; options?: Option[] };

function option(limitsUsed: JobLimits, command: string, name: string, sub?: string): Option {
  const payload = commandPayloads(limitsUsed).find((c) => c.name === command)!;
  let options = payload.options as Option[];
  if (sub) options = options.find((o) => o.name === sub)!.options!;
  const found = options.find((o) => o.name === name);
  assert.ok(found, `/${command} ${sub ?? ''} has no option ${name}`);
  return found;
}

describe('generated bounds', () => {
  it('are the limits the bot enforces, not fixed numbers', () => {
    const b = renderOptionBounds(limits);
    for (const command of ['morph', 'loop', 'walk']) {
      assert.equal(option(limits, command, 'frames').max_value, limits.maxFrames);
      assert.equal(option(limits, command, 'steps').max_value, limits.maxSteps);
      assert.equal(option(limits, command, 'size').max_value, limits.maxSide);
      assert.equal(option(limits, command, 'fps').max_value, b.fps.max);
    }
    assert.deepEqual([limits.maxFrames, limits.maxSteps, limits.maxSide, limits.maxPromptChars], [60, 50, 1024, 500], 'the defaults this test assumes');
    assert.equal(option(limits, 'morph', 'from').max_length, limits.maxPromptChars);
    assert.equal(option(limits, 'loop', 'prompt').max_length, limits.maxPromptChars);
    for (const corner of ['p1', 'p2', 'p3', 'p4']) assert.equal(option(limits, 'grid', corner).max_length, limits.maxPromptChars);
    assert.equal(option(limits, 'grid', 'grid_size').max_value, limits.maxGridSize);
    assert.equal(option(limits, 'walk', 'step_size').min_value, -1);
    const s = settingsOptionBounds(limits);
    assert.equal(option(limits, 'settings', 'max_frames', 'limits').max_value, s.maxFrames.max);
    assert.equal(s.maxFrames.max, limits.maxFrames, 'a server cannot be given more frames than the bot renders');
    assert.equal(option(limits, 'settings', 'output_mib', 'limits').max_value, 100);
    assert.equal(option(limits, 'settings', 'prompt', 'negative').max_length, limits.maxPromptChars);
  });

  it('follow changed limits', () => {
    const tight: JobLimits = { ...limits, maxFrames: 30, maxSteps: 20, maxSide: 512, maxPromptChars: 200, maxGridSize: 4, maxArtifactBytes: 8 << 20 };
    assert.equal(option(tight, 'loop', 'frames').max_value, 30);
    assert.equal(option(tight, 'loop', 'steps').max_value, 20);
    assert.equal(option(tight, 'loop', 'size').max_value, 512);
    assert.equal(option(tight, 'loop', 'prompt').max_length, 200);
    assert.equal(option(tight, 'grid', 'grid_size').max_value, 4);
    assert.equal(option(tight, 'settings', 'max_frames', 'limits').max_value, 30);
    assert.equal(option(tight, 'settings', 'output_mib', 'limits').max_value, 8);
    assert.equal(option(tight, 'settings', 'prompt', 'negative').max_length, 200);
    assert.deepEqual(commandDifferences(commandPayloads(tight), commandPayloads(limits)).sort(), ['chain', 'grid', 'loop', 'morph', 'settings', 'walk']);
  });
});

describe('registration against LocalDiscord', () => {
  let server: LocalDiscord;
  const settings = () => ({ token: TOKEN, apiUrl: server.restUrl, applicationId: APP });
  const puts = () => server.requests.filter((r) => r.method === 'PUT' && r.route.includes('/commands')).length;

  before(async () => {
    server = await LocalDiscord.start({
      token: TOKEN,
      botUser: { id: APP, username: 'bounds' },
      guilds: [{ id: GUILD, name: 'Bounds', channels: [{ id: GENERAL, name: 'general' }], members: [{ id: ALICE, username: 'alice' }] }],
    });
  });
  after(async () => {
    await server?.close();
  });

  it('registers once, leaves an identical set alone, and re-registers when the limits change', async () => {
    const first = await registerCommands(settings(), limits, GUILD);
    assert.equal(first.changed.length, 9); // 8 slash commands and the message menu
    assert.equal(puts(), 1);

    const again = await registerCommands(settings(), limits, GUILD);
    assert.deepEqual(again.changed, [], 'Discord\'s copy (with its ids, versions and defaults) matches the wanted one');
    assert.equal(puts(), 1, 'no PUT when nothing changed');

    const loop = (frames: number) =>
      server.slashCommand({ guildId: GUILD, channelId: GENERAL, userId: ALICE, name: 'loop', options: [{ name: 'prompt', value: 'a windmill' }, { name: 'frames', value: frames }] });
    await loop(60);
    await assert.rejects(loop(61), /frames.*at most 60/);

    const tight = await registerCommands(settings(), { ...limits, maxFrames: 30 }, GUILD);
    assert.deepEqual(tight.changed.sort(), ['chain', 'loop', 'morph', 'settings', 'walk']);
    assert.equal(puts(), 2);
    await loop(30);
    await assert.rejects(loop(31), /frames.*at most 30/);
    const registered = server.registeredCommands(GUILD).map((c) => c.name);
    assert.deepEqual(registered, ['morph', 'grid', 'loop', 'walk', 'chain', 'queue', 'cancel', 'settings', 'Morph from this image'], 'ids kept, nothing duplicated');
  });
});
