/**
 * fit.ts, the one module that cuts the bot's text: both counts (code points for Discord, UTF-16 units for
 * discord.js's builders), whole grapheme clusters, an ellipsis; and the two failures of issue 12 it fixes (a
 * /grid result embed with emoji-heavy prompts, the /morph board's modal with an emoji near the start).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { boardModal } from '../src/bot/boards/boardModal.ts';
import type { Board } from '../src/bot/boards/BoardStore.ts';
import { CustomIds } from '../src/bot/customIds.ts';
import type { PendingReply } from '../src/bot/PendingReplies.ts';
import { codePoints, ELLIPSIS, fitComponents, fitEmbed, fitText, fits, graphemes } from '../src/bot/replies/fit.ts';
import { safePrompt } from '../src/bot/replies/text.ts';
import { resultView } from '../src/bot/replies/views.ts';
import { checkPrompt, InputError } from '../src/bot/validation.ts';
import { DEFAULT_GUILD_SETTINGS } from '../src/bot/GuildSettings.ts';
import { DEFAULT_JOBS_CONFIG, type JobOutcome, type JobResult } from '../src/jobs/index.ts';
import { validateMessageBody, validateModal } from '../src/local-discord/validate.ts';

const ids = new CustomIds('fit-test-token-0123456789abcdef');

/** Every grapheme of `cut` without its ellipsis is the same grapheme at the same place in `text`. */
function assertGraphemePrefix(text: string, cut: string): void {
  const kept = cut.endsWith(ELLIPSIS) && cut !== text ? cut.slice(0, -ELLIPSIS.length) : cut;
  const original = [...graphemes(text)];
  const got = [...graphemes(kept)];
  got.forEach((g, i) => assert.equal(g, original[i], `grapheme ${i} of ${JSON.stringify(cut)}`));
}

describe('fitText', () => {
  const cases: [string, string][] = [
    ['emoji', '😀'.repeat(60)],
    ['ZWJ families', '👨‍👩‍👧‍👦'.repeat(20)],
    ['flags', '🇫🇷🇯🇵🇺🇦'.repeat(20)],
    ['skin tones', '👍🏽👋🏿'.repeat(25)],
    ['keycaps', '1️⃣#️⃣*️⃣'.repeat(20)],
    ['combining marks', 'e\u0301\u0302\u0303'.repeat(30)],
    ['right-to-left', 'שלום עולם مرحبا بالعالم '.repeat(5)],
  ];
  for (const [what, text] of cases) {
    it(`cuts ${what} within both counts, between grapheme clusters, with an ellipsis`, () => {
      for (let max = 1; max <= 80; max++) {
        const cut = fitText(text, max);
        assert.ok(cut.length <= max && codePoints(cut) <= max, `${max}: ${cut.length} units`);
        assert.ok(cut.endsWith(ELLIPSIS), `${max}: ends with an ellipsis`);
        assertGraphemePrefix(text, cut);
      }
    });
  }

  it('leaves text that fits alone, and never cuts a surrogate pair', () => {
    assert.equal(fitText('a cat', 5), 'a cat');
    assert.equal(fitText('😀😀', 4), '😀😀');
    assert.equal(fitText('😀😀😀', 4), '😀…', 'three units of four: one emoji and the ellipsis');
    assert.ok(fits('😀'.repeat(50), 100) && !fits('😀'.repeat(50), 99));
  });

  it('turns lone surrogates into U+FFFD (they cannot be sent as UTF-8)', () => {
    const cut = fitText('a\ud800b\udc00c', 10);
    assert.equal(cut, 'a\ufffdb\ufffdc');
  });

  it('never leaves half an escape before the ellipsis', () => {
    const escaped = safePrompt('*'.repeat(100), 11);
    assert.equal(escaped, '\\*'.repeat(5) + ELLIPSIS);
    assert.equal(fitText('ab\\*cd', 4), 'ab…');
  });
});

describe('fitEmbed and fitComponents', () => {
  it('keeps every part within its limit and the whole within 6000, cutting the longest first', () => {
    const long = '🔴 '.repeat(2000);
    const embed = fitEmbed({
      title: long,
      description: long,
      footer: { text: long },
      fields: [{ name: long, value: long }, { name: 'Seed', value: '42' }, { name: 'Empty', value: '' }],
    });
    validateMessageBody({ embeds: [embed] }, [], 1);
    const texts = [embed.title!, embed.description!, embed.footer!.text, ...embed.fields!.flatMap((f) => [f.name, f.value])];
    assert.ok(texts.reduce((n, t) => n + t.length, 0) <= 6000, 'UTF-16 total within 6000 as well');
    assert.deepEqual(embed.fields![1], { name: 'Seed', value: '42' }, 'short facts survive');
    assert.equal(embed.fields![2]!.value, '—', 'Discord refuses an empty field value');
  });

  it('cuts button labels and select texts, never custom ids', () => {
    const [row] = fitComponents([
      {
        type: 1,
        components: [
          { type: 2, style: 1, custom_id: 'a', label: '👍🏽'.repeat(50) },
          { type: 3, custom_id: 'b', placeholder: '🇫🇷'.repeat(100), options: [{ label: '😀'.repeat(80), value: 'v', description: '😀'.repeat(80) }] },
        ],
      },
    ]);
    validateMessageBody({ components: [row] }, [], 1);
    const [button, select] = row!.components as unknown as Record<string, unknown>[];
    assert.ok(String(button!.label).length <= 80 && String(button!.custom_id) === 'a');
    assert.ok(String(select!.placeholder).length <= 150);
  });
});

describe('the failures seen in issue 12', () => {
  const grid = 'a red circle ' + '🔴 '.repeat(160);

  it('a /grid result whose four prompts are cut at 77 tokens builds and passes Discord\'s limits', () => {
    const limits = DEFAULT_JOBS_CONFIG.limits;
    const prompt = checkPrompt(grid, 'prompt', limits, DEFAULT_GUILD_SETTINGS);
    const reply: PendingReply = {
      jobId: 'render-1', kind: 'grid', guildId: '1', channelId: '2', requesterId: '3', contributors: ['3', '4', '5', '6'],
      prompts: ['3', '4', '5', '6'].map((contributorId) => ({ text: prompt, contributorId })),
      settings: { seed: 1 }, maxBytes: 10 << 20, applicationId: '9', tokenExpiresAt: 0, createdAt: 0,
    };
    const outcome: Extract<JobOutcome, { status: 'done' }> = {
      status: 'done', attempts: 2, renderMs: 1000,
      artifact: { key: 'k', bytes: 1, mimeType: 'image/png', extension: 'png', format: 'png', width: 64, height: 64, frameCount: 1, fps: 0, reductions: ['🔴'.repeat(300)], expiresAt: 0 },
      report: {
        kind: 'grid', prompts: [], negative: '', seed: 1, steps: 2, guidance: 7, width: 64, height: 64, frames: 0, gridSize: 3, batchSize: 1,
        provider: 'cpu', model: 'tiny', modelPath: '/m', sigmas: [], timesteps: [], timings: { textEncodingMs: 1, denoisingMs: 1, decodingMs: 1 },
        truncations: reply.prompts.map((p) => ({ prompt: p.text, droppedWords: Array.from({ length: 120 }, () => '🔴') })),
        resumedFrames: 1,
      },
    };
    const result = { jobId: 'render-1' } as JobResult;
    const view = resultView(ids, reply, result, outcome, Buffer.alloc(1), true);
    validateMessageBody({ content: view.content, embeds: view.embeds, components: view.components }, [], 1 << 20);
    const cut = view.embeds[0]!.fields!.find((f) => f.name.includes('77 tokens'))!;
    assert.equal(cut.value.split('\n').length, 4, 'one line per prompt, none lost to the others');
    assert.ok(cut.value.length <= 1024, `${cut.value.length} UTF-16 units`);
  });

  it('the /morph board\'s modal opens for a ~95-character from prompt with an emoji near the start', () => {
    const from = `a 🐕 dog ${'running through a field of tall grass at golden hour, '.repeat(2)}`.slice(0, 95);
    const board = { id: '123', kind: 'morph', slots: [{ text: from, userId: '1' }, undefined] } as unknown as Board;
    const modal = boardModal(ids, board, DEFAULT_JOBS_CONFIG.limits.maxPromptChars);
    validateModal(modal);
    const label = modal.components[0] as unknown as { description: string };
    assert.ok(label.description.startsWith('From “a 🐕 dog') && label.description.endsWith('…”'), label.description);
  });
});

describe('prompts with no visible character', () => {
  const limits = DEFAULT_JOBS_CONFIG.limits;
  const invisible = ['\u200b', '\u200c\u200d', '\u2060\ufeff', '\ufe0f\ufe0e', '\u200e\u200f\u202e', ' \u200b \t\u3164', '\u0301\u0302', '\ud800'];
  for (const text of invisible) {
    it(`refuses ${JSON.stringify(text)} like an empty prompt`, () => {
      assert.throws(() => checkPrompt(text, 'prompt', limits, DEFAULT_GUILD_SETTINGS), (e: Error) => e instanceof InputError && /is empty/.test(e.message));
    });
  }

  it('accepts a visible prompt around zero-width characters, and counts its length in code points', () => {
    assert.equal(checkPrompt('\u200ba cat\u200d', 'prompt', limits, DEFAULT_GUILD_SETTINGS), '\u200ba cat\u200d');
    assert.equal(checkPrompt('😀'.repeat(limits.maxPromptChars), 'prompt', limits, DEFAULT_GUILD_SETTINGS).length, limits.maxPromptChars * 2);
    assert.throws(() => checkPrompt('😀'.repeat(limits.maxPromptChars + 1), 'prompt', limits, DEFAULT_GUILD_SETTINGS), /501 characters long/);
  });
});
