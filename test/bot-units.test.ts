/**
 * Unit tests of the bot's pure parts: custom ids, text safety, input validation, views, config, and the
 * rule that the bot's module graph never loads the render engine (onnxruntime).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadBotConfig, redactSecrets } from '../src/bot/config.ts';
import { CustomIds } from '../src/bot/customIds.ts';
import { DEFAULT_GUILD_SETTINGS, findBlocked, parseGuildSettings } from '../src/bot/GuildSettings.ts';
import { describeError } from '../src/bot/log.ts';
import type { PendingReply } from '../src/bot/PendingReplies.ts';
import { fitText } from '../src/bot/replies/fit.ts';
import { progressBar, safePrompt } from '../src/bot/replies/text.ts';
import { artifactFileName, progressView, queuedView, resultEmbed } from '../src/bot/replies/views.ts';
import { checkOptions, checkPrompt, InputError } from '../src/bot/validation.ts';
import { commandPayloads } from '../src/commands/index.ts';
import { DEFAULT_JOBS_CONFIG, type JobOutcome } from '../src/jobs/index.ts';

const TOKEN = 'MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789';
const limits = DEFAULT_JOBS_CONFIG.limits;

describe('custom ids', () => {
  const ids = new CustomIds(TOKEN);

  it('round-trips and stays within 100 characters', () => {
    const id = ids.make('cancel', 'render-1300000000000000001');
    assert.ok(id.length <= 100);
    assert.deepEqual(ids.parse(id), { action: 'cancel', id: 'render-1300000000000000001' });
  });

  it('rejects tampered ids: another job, another action, another bot, garbage', () => {
    const id = ids.make('delete', 'render-1');
    assert.equal(ids.parse(id.replace('render-1', 'render-2')), undefined);
    assert.equal(ids.parse(id.replace('lw:delete', 'lw:cancel')), undefined);
    assert.equal(new CustomIds('another token entirely, 1234567890').parse(id), undefined);
    assert.equal(ids.parse('lw:delete:render-1'), undefined);
    assert.equal(ids.parse('x'.repeat(100)), undefined);
    assert.equal(ids.parse(`${id}x`), undefined);
  });
});

describe('text safety', () => {
  it('escapes markdown and defuses mentions', () => {
    const out = safePrompt('@everyone **bold** <@123> `code`', 200);
    assert.ok(!out.includes('@everyone'), out);
    assert.ok(out.includes('\\*\\*bold\\*\\*'), out);
    assert.ok(!/<@\d/.test(out), out);
  });

  it('cuts to the limit without splitting an escape or a surrogate pair', () => {
    const long = '*'.repeat(3000);
    const out = safePrompt(long, 1024);
    assert.ok(Array.from(out).length <= 1024);
    assert.ok(out.endsWith('…'));
    assert.ok(!out.slice(0, -1).endsWith('\\') || out.slice(0, -1).endsWith('\\*'), 'no dangling backslash');
    const emoji = '😀'.repeat(50);
    assert.equal(fitText(emoji, 10), '😀'.repeat(4) + '…', 'ten UTF-16 units: four emoji and the ellipsis');
    assert.ok(!fitText(emoji, 10).includes('\ufffd'));
  });

  it('draws a progress bar', () => {
    assert.equal(progressBar(0, 4, 4), '▱▱▱▱');
    assert.equal(progressBar(2, 4, 4), '▰▰▱▱');
    assert.equal(progressBar(9, 4, 4), '▰▰▰▰');
  });

  it('redacts the bot token and interaction tokens from log text', () => {
    const line = `PATCH /api/v10/webhooks/123456/aW50ZXJhY3Rpb246MTIz/messages/@original failed; Bot ${TOKEN}; ${TOKEN}`;
    const out = redactSecrets(line, TOKEN);
    assert.ok(!out.includes(TOKEN));
    assert.ok(!out.includes('aW50ZXJhY3Rpb246MTIz'));
    const error = Object.assign(new Error('Invalid Webhook Token'), { status: 401, code: 50027, url: 'https://x/webhooks/1/secret', requestBody: { files: [] } });
    assert.equal(describeError(error), 'Error 401 code 50027: Invalid Webhook Token');
  });
});

describe('input validation', () => {
  const guild = { ...DEFAULT_GUILD_SETTINGS, maxFrames: 10, blocklist: ['gore', 'bad word'] };

  it('refuses empty, over-long and blocked prompts with what to do', () => {
    assert.throws(() => checkPrompt('   ', 'prompt', limits, guild), (e: Error) => e instanceof InputError && /empty/.test(e.message));
    assert.throws(() => checkPrompt('a'.repeat(limits.maxPromptChars + 1), 'prompt', limits, guild), /keep it to 500/);
    assert.throws(() => checkPrompt('so much GORE here', 'prompt', limits, guild), /“gore”/);
    assert.throws(() => checkPrompt('a Bad  Word!', 'prompt', limits, guild), /bad word/);
    assert.equal(checkPrompt('  gorey   cat ', 'prompt', limits, guild), 'gorey cat');
    assert.equal(findBlocked('goregeous', ['gore']), undefined);
  });

  it('refuses frames, steps and sizes over the limits', () => {
    assert.throws(() => checkOptions('morph', { frames: 11 }, limits, guild), /limit of 10/);
    assert.throws(() => checkOptions('morph', { steps: limits.maxSteps + 1 }, limits, guild), /steps/);
    assert.throws(() => checkOptions('morph', { size: 100 }, limits, guild), /multiple of 16.*try 96/);
    assert.throws(() => checkOptions('morph', { size: limits.maxSide + 16 }, limits, guild), /larger/);
    assert.throws(() => checkOptions('grid', { gridSize: limits.maxGridSize + 1 }, limits, guild), /too large/);
    checkOptions('morph', { frames: 10, steps: 4, size: 64 }, limits, guild);
  });

  it('parses damaged guild settings field by field', () => {
    const parsed = parseGuildSettings({ maxFrames: 'lots', maxQueuedPerMember: 3, blocklist: 'nope' });
    assert.equal(parsed.maxFrames, DEFAULT_GUILD_SETTINGS.maxFrames);
    assert.equal(parsed.maxQueuedPerMember, 3);
    assert.deepEqual(parsed.blocklist, []);
  });
});

describe('views', () => {
  const ids = new CustomIds(TOKEN);
  const reply: PendingReply = {
    jobId: 'render-1',
    kind: 'morph',
    guildId: '1',
    channelId: '2',
    requesterId: '3',
    contributors: ['3', '4'],
    prompts: [
      { text: '@everyone hi **there**', contributorId: '3' },
      { text: 'x'.repeat(2000), contributorId: '4' },
    ],
    settings: { seed: 42, frames: 4 },
    maxBytes: 10 * 1024 * 1024,
    applicationId: '9',
    tokenExpiresAt: 0,
    createdAt: 0,
  };

  it('queued and progress views parse no mentions and fit the content limit', () => {
    for (const view of [
      queuedView(ids, reply, { position: 3, positionInGuild: 1 }),
      progressView(ids, reply, { stage: 'denoise', framesDone: 2, framesTotal: 4, step: 1, steps: 2, etaSeconds: 5, attempt: 1, resumedFrames: 0 }),
    ]) {
      assert.deepEqual(view.allowedMentions, { parse: [] });
      assert.ok(view.content.length <= 2000);
      assert.ok(!view.content.includes('@everyone'));
      assert.equal(view.components.length, 1);
    }
  });

  it('the result embed has every field, escaped and within limits', () => {
    const outcome: Extract<JobOutcome, { status: 'done' }> = {
      status: 'done',
      attempts: 1,
      renderMs: 1234,
      artifact: { key: 'k', bytes: 5000, mimeType: 'image/gif', extension: 'gif', format: 'gif', width: 64, height: 64, frameCount: 6, fps: 10, reductions: ['palette cut to 64 colours'], expiresAt: 0 },
      report: {
        kind: 'morph', prompts: [], negative: '', seed: 42, steps: 2, guidance: 7, width: 64, height: 64, frames: 4, batchSize: 4,
        provider: 'cpu', model: 'tiny', modelPath: '/m', sigmas: [], timesteps: [],
        timings: { textEncodingMs: 1, denoisingMs: 1, decodingMs: 1 },
        truncations: [{ prompt: reply.prompts[1]!.text, droppedWords: ['x'] }], resumedFrames: 0,
      },
    };
    const embed = resultEmbed(reply, outcome, 'render-1');
    const names = embed.fields!.map((f) => f.name);
    for (const name of ['From', 'To', 'Contributors', 'Seed', 'Steps', 'Guidance', 'Size', 'Frames', 'Render time', 'Model']) {
      assert.ok(names.includes(name), `missing ${name}`);
    }
    assert.ok(names.some((n) => n.startsWith('Reduced')));
    assert.ok(names.some((n) => n.includes('77 tokens')));
    const total = JSON.stringify(embed).length;
    assert.ok(total < 6000 + 2000, `embed too large: ${total}`);
    for (const field of embed.fields!) assert.ok(field.value.length <= 1024 && field.name.length <= 256);
    assert.ok(!embed.fields![0]!.value.includes('@everyone'));
    assert.equal(artifactFileName(reply, 'gif'), 'latentwalk-morph-42.gif');
  });
});

describe('commands and config', () => {
  it('defines the eight commands within Discord limits', () => {
    const payloads = commandPayloads(limits);
    assert.deepEqual(payloads.map((c) => c.name), ['morph', 'grid', 'loop', 'walk', 'chain', 'queue', 'cancel', 'settings']);
    for (const command of payloads) {
      assert.ok((command.options?.length ?? 0) <= 25);
      assert.ok(command.description.length <= 100, command.name);
    }
    const settings = payloads.find((c) => c.name === 'settings')!;
    assert.equal(settings.default_member_permissions, String(1n << 5n)); // Manage Server
  });

  it('validates the environment once, naming the key and never echoing the token', () => {
    assert.throws(() => loadBotConfig({}), /DISCORD_TOKEN is not set/);
    assert.throws(
      () => loadBotConfig({ DISCORD_TOKEN: 'Bot abc def' }),
      (e: Error) => /DISCORD_TOKEN/.test(e.message) && !e.message.includes('abc def'),
    );
    assert.throws(() => loadBotConfig({ DISCORD_TOKEN: TOKEN, DISCORD_API_URL: 'ftp://x' }), /DISCORD_API_URL must be an http/);
    assert.throws(() => loadBotConfig({ DISCORD_TOKEN: TOKEN, LATENTWALK_BOARD_TTL_S: 'soon' }), /LATENTWALK_BOARD_TTL_S/);
    const config = loadBotConfig({ DISCORD_TOKEN: TOKEN, DISCORD_API_URL: 'http://127.0.0.1:5000/api/v10/' });
    assert.equal(config.apiUrl, 'http://127.0.0.1:5000/api');
    assert.equal(config.progressIntervalMs, 3000);
  });

  it('the bot process never loads the render engine (no onnxruntime native module)', () => {
    const root = fileURLToPath(new URL('..', import.meta.url));
    const script = `
      const loaded = [];
      const original = process.dlopen;
      process.dlopen = function (module, filename, ...rest) { loaded.push(filename); return original.call(this, module, filename, ...rest); };
      await import('./src/cli/bot.ts');
      await import('./src/cli/register-commands.ts');
      await import('./src/bot/BotApp.ts');
      console.log(JSON.stringify(loaded));`;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
    const loaded = JSON.parse(out.trim().split('\n').pop()!) as string[];
    assert.ok(!loaded.some((f) => /onnxruntime|sharp/.test(f)), `loaded: ${loaded.join(', ')}`);
  });
});
