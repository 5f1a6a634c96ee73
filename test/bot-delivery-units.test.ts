/**
 * Unit tests of how results reach Discord: every error code the bot can meet while posting has one meaning
 * (unknown ones are retried, then given up), the fallback views stay small and say how to get a refused file,
 * /queue describes a render the way its message does, and button ids survive a change of signing secret.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DiscordAPIError, EmbedBuilder } from 'discord.js';
import { CustomIds } from '../src/bot/customIds.ts';
import type { PendingReply } from '../src/bot/PendingReplies.ts';
import { compactView, fileRefusedView, undeliveredView } from '../src/bot/replies/fallbackViews.ts';
import { classifyPostError, POST_ERROR_CODES, undeliverableReason } from '../src/bot/replies/postErrors.ts';
import { queueListView, resultView } from '../src/bot/replies/views.ts';
import type { JobOutcome, JobResult } from '../src/jobs/index.ts';

function apiError(status: number, code: number): DiscordAPIError {
  return new DiscordAPIError({ code, message: 'x' }, code, status, 'POST', '/channels/1/messages', { body: undefined, files: undefined });
}

describe('Discord errors while posting', () => {
  it('each code the bot can meet has one action; the failures of the issue are among them', () => {
    const expected: [number, number, string][] = [
      [404, 10003, 'give-up'], // deleted channel
      [403, 50001, 'give-up'], // lost access
      [400, 50083, 'give-up'], // archived (and locked) thread
      [403, 160002, 'no-reply'], // reply without Read Message History
      [403, 50013, 'forbidden'], // missing permissions: depends on what was sent
      [400, 50035, 'compact'], // form body
      [413, 40005, 'no-file'], // file refused
      [401, 50027, 'token-gone'],
      [404, 10015, 'token-gone'],
      [404, 10008, 'message-gone'],
      [400, 30046, 'message-gone'],
      [429, 20028, 'retry'],
      [503, 130000, 'retry'],
    ];
    for (const [status, code, action] of expected) {
      assert.deepEqual(classifyPostError(apiError(status, code)), { action, code }, `${code}`);
    }
    for (const [code, action] of POST_ERROR_CODES) assert.notEqual(action, 'unknown', `${code}`);
  });

  it('an unknown code is "unknown" (tried again, then given up), a 5xx or 429 is retried, never the same thing forever', () => {
    assert.deepEqual(classifyPostError(apiError(400, 99_999)), { action: 'unknown', code: 99_999 });
    assert.deepEqual(classifyPostError(apiError(502, 0)), { action: 'retry', code: 502 });
    assert.deepEqual(classifyPostError(apiError(401, 0)), { action: 'token-gone', code: 401 });
    assert.deepEqual(classifyPostError(new Error('connect ECONNRESET')), { action: 'retry', code: undefined });
    // A view discord.js's builders refuse never left: like a refused body.
    let builderError: unknown;
    try {
      new EmbedBuilder().setTitle('x'.repeat(300));
    } catch (error) {
      builderError = error;
    }
    assert.equal(classifyPostError(builderError).action, 'compact');
  });

  it('says why a result could not be posted, in one clause', () => {
    assert.equal(undeliverableReason(10003), 'this channel was deleted');
    assert.equal(undeliverableReason(50083), 'this thread is archived and locked');
    assert.match(undeliverableReason(12345), /error 12345/);
  });
});

describe('fallback views', () => {
  const reply: PendingReply = {
    jobId: 'render-77',
    kind: 'grid',
    guildId: '1',
    channelId: '2',
    requesterId: '3',
    contributors: ['3', '4', '5', '6'],
    prompts: ['a', 'b', 'c', 'd'].map((c, i) => ({ text: `${c} ${'red circle '.repeat(45)}`, contributorId: String(3 + i) })),
    settings: { seed: 9 },
    maxBytes: 10 * 1024 * 1024,
    applicationId: '9',
    tokenExpiresAt: 0,
    createdAt: 0,
  };
  const outcome: Extract<JobOutcome, { status: 'done' }> = {
    status: 'done',
    attempts: 1,
    renderMs: 800,
    artifact: { key: 'render-77', bytes: 12_000_000, mimeType: 'image/png', extension: 'png', format: 'png', width: 256, height: 256, frameCount: 1, reductions: ['scaled to 256 px'], expiresAt: 1_800_000_000_000 },
    report: {
      kind: 'grid', prompts: [], negative: '', seed: 9, steps: 2, guidance: 5, width: 64, height: 64, frames: 4, gridSize: 2, batchSize: 4,
      provider: 'cpu', model: 'tiny', modelPath: '/m', sigmas: [], timesteps: [], timings: { textEncodingMs: 1, denoisingMs: 1, decodingMs: 1 },
      truncations: [{ prompt: reply.prompts[0]!.text, droppedWords: ['red', 'circle'] }], resumedFrames: 0,
    },
  };
  const result: JobResult = { jobId: 'render-77', kind: 'grid', guildId: '1', channelId: '2', requesterId: '3', reply: {}, outcome, finishedAt: 0 };
  const ids = new CustomIds('a deployment secret 0123456789');

  it('compact: the numbers only, no prompts, no credits, no notes; the file and buttons stay', () => {
    const full = resultView(ids, reply, result, outcome, Buffer.from('png'), false);
    assert.ok(full.embeds[0]!.fields!.some((f) => f.name === 'Top left'));
    const compact = compactView(full, reply, false);
    assert.equal(compact.content, '✅ Your grid is ready (job `render-77`).');
    const fields = compact.embeds[0]!.fields!;
    assert.ok(fields.length > 0 && fields.every((f) => f.inline), JSON.stringify(fields.map((f) => f.name)));
    assert.ok(JSON.stringify(compact.embeds).length < 1500);
    assert.equal(compact.files?.length, 1);
    assert.equal(compact.components.length, 1);
  });

  it('a refused file: what it is and the command that saves it, with Reroll', () => {
    const view = fileRefusedView(ids, reply, result, true, 40005);
    assert.match(view.content, /^⚠️ <@3>, your grid is ready, but Discord refused the file here \(error 40005\): latentwalk-grid-9\.png, 11\.4 MiB, seed 9\./);
    assert.match(view.content, /`latentwalk jobs show render-77 --out latentwalk-grid-9\.png`/);
    assert.match(view.content, /<t:1800000000:f>/);
    assert.equal(view.files, undefined);
    assert.ok(view.content.length <= 2000);
    assert.match(fileRefusedView(ids, reply, result, false, 50013).content, /I am not allowed to attach files in this channel/);
  });

  it('the note on a request that could not be answered says why and what to do', () => {
    const view = undeliveredView(reply, undeliverableReason(50001));
    assert.match(view.content, /could not post it here: I can no longer see this channel\. Ask a server admin/);
    assert.deepEqual(view.allowedMentions, { parse: [] });
  });
});

describe('/queue', () => {
  it('describes a rendering job as its message does: frames, the step while denoising, the stage', () => {
    const view = queueListView('Guild', [
      {
        jobId: 'render-1', state: 'active', guildId: 'g', userId: '3', channelId: 'c', kind: 'walk', round: 1, createdAt: 0, starts: 1,
        progress: { stage: 'denoise', framesDone: 0, framesTotal: 24, step: 7, steps: 12, attempt: 1, resumedFrames: 0 },
      },
    ]);
    assert.match(view.content, /rendering `▱+` 0\/24 frames · step 7\/12 · denoising · `render-1`/);
  });
});

describe('button ids', () => {
  it('are signed with the deployment secret, and ids the bot token signed before still answer', () => {
    const legacy = new CustomIds('the-old-way-bot-token.0123456789').make('reroll', 'render-5');
    const current = new CustomIds('deployment secret 0123456789', ['the-old-way-bot-token.0123456789']);
    assert.deepEqual(current.parse(legacy), { action: 'reroll', id: 'render-5' });
    const made = current.make('delete', 'render-5');
    assert.deepEqual(new CustomIds('deployment secret 0123456789').parse(made), { action: 'delete', id: 'render-5' });
    assert.equal(new CustomIds('the-old-way-bot-token.0123456789').parse(made), undefined);
  });
});
