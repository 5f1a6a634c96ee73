/**
 * Fuzz, unit level: hostile prompts (harness/fuzz.ts) up to the maximum length through every view builder,
 * including the paths an end-to-end run cannot reach on demand (a failed render's reason, a cancelled job,
 * an expired artifact, a file too large, a board that could not be queued, every board state, a /queue of
 * many jobs, long model names and reductions). Each payload must build without throwing and pass LocalDiscord's
 * validator, which counts as Discord does; each text must also fit discord.js's UTF-16 count and be well
 * formed (no lone surrogate reaches Discord). Seeded: a failure names its seed and round.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { APIEmbed } from 'discord.js';
import { boardModal } from '../src/bot/boards/boardModal.ts';
import type { Board, BoardStatus } from '../src/bot/boards/BoardStore.ts';
import { CustomIds } from '../src/bot/customIds.ts';
import type { PendingReply } from '../src/bot/PendingReplies.ts';
import {
  boardRetryView,
  boardView,
  cancelledView,
  ephemeralText,
  expiredArtifactView,
  failedView,
  movedView,
  progressView,
  queuedView,
  queueListView,
  resultView,
  type MessageView,
} from '../src/bot/replies/views.ts';
import { compactView, fileRefusedView, undeliveredView } from '../src/bot/replies/fallbackViews.ts';
import { DEFAULT_JOBS_CONFIG, type JobKind, type JobListing, type JobOutcome, type JobResult } from '../src/jobs/index.ts';
import { validateMessageBody, validateModal } from '../src/local-discord/validate.ts';
import { FuzzText, FUZZ_SEED } from './harness/fuzz.ts';

const ROUNDS = 100;
const MAX = DEFAULT_JOBS_CONFIG.limits.maxPromptChars;
const ids = new CustomIds('fuzz-test-token-0123456789abcdef');
const KINDS: JobKind[] = ['morph', 'grid', 'loop', 'walk'];
const PROMPTS: Record<JobKind, number> = { morph: 2, grid: 4, loop: 1, walk: 1, chain: 8 };
const isWellFormed = (s: string) => !/\p{Cs}/u.test(s);

/** Every string in a payload: within discord.js's UTF-16 count where one applies, and well formed. */
function assertTexts(value: unknown, where: string): void {
  if (typeof value === 'string') {
    assert.ok(isWellFormed(value), `${where}: a lone surrogate in ${JSON.stringify(value.slice(0, 80))}`);
    return;
  }
  if (Array.isArray(value)) value.forEach((v, i) => assertTexts(v, `${where}.${i}`));
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) assertTexts(v, `${where}.${k}`);
}

function assertEmbedUtf16(embed: APIEmbed, where: string): void {
  const parts = [embed.title ?? '', embed.description ?? '', embed.footer?.text ?? '', ...(embed.fields ?? []).flatMap((f) => [f.name, f.value])];
  assert.ok(parts.reduce((n, p) => n + p.length, 0) <= 6000, `${where}: embed over 6000 UTF-16 units`);
  assert.ok((embed.title ?? '').length <= 256 && (embed.fields ?? []).every((f) => f.name.length <= 256 && f.value.length <= 1024), `${where}: embed part over its UTF-16 limit`);
}

function assertView(view: MessageView, where: string): void {
  assert.ok(view.content.length <= 2000, `${where}: content ${view.content.length} UTF-16 units`);
  assert.deepEqual(view.allowedMentions.parse, [], `${where}: mentions parsed`);
  view.embeds.forEach((e, i) => assertEmbedUtf16(e, `${where}.embeds.${i}`));
  assertTexts({ content: view.content, embeds: view.embeds, components: view.components }, where);
  try {
    validateMessageBody({ content: view.content, embeds: view.embeds, components: view.components, allowed_mentions: view.allowedMentions }, [], 1 << 30);
  } catch (error) {
    assert.fail(`${where}: Discord would refuse it: ${JSON.stringify((error as { errors?: unknown }).errors ?? String(error))}`);
  }
}

function reply(fuzz: FuzzText, kind: JobKind): PendingReply {
  const people = ['1300000000000000001', '1300000000000000002', '1300000000000000003', '1300000000000000004'];
  return {
    jobId: `render-${fuzz.int(1, 1e9)}`,
    kind,
    guildId: '1',
    channelId: '2',
    requesterId: people[0]!,
    contributors: people.slice(0, PROMPTS[kind]),
    prompts: Array.from({ length: PROMPTS[kind] }, (_, i) => ({ text: fuzz.prompt(MAX), contributorId: people[i]! })),
    settings: { seed: fuzz.int(0, 0xffffffff), frames: 4 },
    maxBytes: 10 << 20,
    applicationId: '9',
    tokenExpiresAt: 0,
    createdAt: 0,
    ...(fuzz.random() < 0.3 ? { cancelledBy: people[1]! } : {}),
  };
}

function doneOutcome(fuzz: FuzzText, r: PendingReply): Extract<JobOutcome, { status: 'done' }> {
  return {
    status: 'done',
    attempts: fuzz.int(1, 3),
    renderMs: fuzz.int(0, 1e7),
    artifact: {
      key: 'k', bytes: fuzz.int(1, 10 << 20), mimeType: 'image/gif', extension: 'gif', format: 'gif', width: 64, height: 64, frameCount: 6, fps: 10,
      reductions: Array.from({ length: fuzz.int(0, 6) }, () => fuzz.text(fuzz.int(1, 400))),
      expiresAt: 0,
    },
    report: {
      kind: r.kind, prompts: [], negative: '', seed: r.settings.seed, steps: 2, guidance: 7, width: 64, height: 64, frames: 4,
      ...(r.kind === 'grid' ? { gridSize: 3 } : {}),
      batchSize: 1, provider: 'cpu', model: fuzz.text(fuzz.int(1, 300)), modelPath: '/m', sigmas: [], timesteps: [],
      timings: { textEncodingMs: 1, denoisingMs: 1, decodingMs: 1 },
      truncations: r.prompts
        .filter(() => fuzz.random() < 0.8)
        .map((p) => ({ prompt: fuzz.random() < 0.9 ? p.text : fuzz.prompt(MAX), droppedWords: fuzz.text(fuzz.int(1, MAX)).split(' ') })),
      resumedFrames: fuzz.int(0, 3),
    },
  };
}

function board(fuzz: FuzzText, kind: 'morph' | 'grid', status: BoardStatus): Board {
  const size = kind === 'morph' ? 2 : 4;
  const slots = Array.from({ length: size }, (_, i) =>
    i === 0 || status === 'complete' || fuzz.random() < 0.5 ? { text: fuzz.prompt(MAX), userId: `13000000000000000${10 + i}`, viaModal: i > 0 } : undefined,
  );
  return {
    id: String(fuzz.int(1, 1e15)), kind, guildId: '1', channelId: '2', starterId: '1300000000000000010', slots,
    allowMultiple: fuzz.random() < 0.5, status, createdAt: 0, expiresAt: 1_900_000_000_000, settings: { seed: 1 }, maxBytes: 10 << 20,
    applicationId: '9', tokenExpiresAt: 0, ...(status === 'cancelled' ? { closedBy: '1300000000000000011' } : {}),
  };
}

function listing(fuzz: FuzzText, index: number): JobListing {
  const active = index === 0;
  return {
    jobId: `render-${fuzz.int(1, 1e15)}`, state: active ? 'active' : 'waiting', guildId: '1', userId: '1300000000000000001', channelId: '2',
    kind: fuzz.pick(KINDS), round: 0, createdAt: 0, starts: active ? 1 : 0, position: index + 1, positionInGuild: index + 1,
    ...(active ? { progress: { stage: 'denoise', framesDone: 2, framesTotal: 8, step: 1, steps: 4, etaSeconds: 30, attempt: 1, resumedFrames: 0 } } : {}),
  } as JobListing;
}

describe(`every view with hostile prompts (seed ${FUZZ_SEED}, ${ROUNDS} rounds)`, () => {
  it('builds without throwing and stays inside Discord\'s limits by both counts', () => {
    const fuzz = new FuzzText(FUZZ_SEED);
    let payloads = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const at = (what: string) => `seed ${FUZZ_SEED} round ${round} ${what}`;
      const check = (what: string, build: () => MessageView) => {
        let view: MessageView;
        try {
          view = build();
        } catch (error) {
          assert.fail(`${at(what)} threw: ${(error as Error).message}`);
        }
        assertView(view, at(what));
        payloads++;
      };
      for (const kind of KINDS) {
        const r = reply(fuzz, kind);
        const late = fuzz.random() < 0.5;
        check(`${kind} queued`, () => queuedView(ids, r, { position: fuzz.int(1, 500), positionInGuild: fuzz.int(1, 25) }));
        check(`${kind} progress`, () =>
          progressView(ids, r, { stage: 'denoise', framesDone: 3, framesTotal: 8, step: 2, steps: 4, etaSeconds: fuzz.int(0, 1e5), attempt: fuzz.int(1, 3), resumedFrames: 1 }),
        );
        check(`${kind} result`, () => resultView(ids, r, { jobId: r.jobId } as JobResult, doneOutcome(fuzz, r), Buffer.alloc(1), late));
        check(`${kind} failed`, () => failedView(ids, r, fuzz.text(fuzz.int(1, 3000)), late));
        check(`${kind} cancelled`, () => cancelledView(r, fuzz.text(fuzz.int(1, 3000))));
        check(`${kind} expired`, () => expiredArtifactView(ids, r));
        const done = doneOutcome(fuzz, r);
        const result = { jobId: r.jobId, kind, guildId: '1', channelId: '2', requesterId: r.requesterId, reply: {}, outcome: done, finishedAt: 0 } as JobResult;
        check(`${kind} compact`, () => compactView(resultView(ids, r, result, done, Buffer.alloc(1), late), r, late));
        check(`${kind} file refused`, () => fileRefusedView(ids, r, result, late, fuzz.pick([40005, 50013, undefined])));
        check(`${kind} undeliverable`, () => undeliveredView(r, fuzz.text(fuzz.int(1, 300))));
        check(`${kind} moved`, () => movedView(r));
      }
      for (const kind of ['morph', 'grid'] as const) {
        for (const status of ['open', 'complete', 'cancelled', 'expired'] as const) {
          const b = board(fuzz, kind, status);
          check(`${kind} board ${status}`, () => boardView(ids, b));
          if (status === 'open') {
            const modal = boardModal(ids, b, MAX);
            assertTexts(modal, at(`${kind} modal`));
            try {
              validateModal(modal);
            } catch (error) {
              assert.fail(`${at(`${kind} modal`)}: Discord would refuse it: ${JSON.stringify((error as { errors?: unknown }).errors)}`);
            }
            payloads++;
          }
        }
        check(`${kind} board retry`, () => boardRetryView(ids, board(fuzz, kind, 'complete'), fuzz.text(fuzz.int(1, 1000))));
      }
      check('queue list', () => queueListView(fuzz.text(fuzz.int(1, 200)), Array.from({ length: fuzz.int(0, 30) }, (_, i) => listing(fuzz, i))));
      check('ephemeral text', () => ephemeralText(fuzz.text(fuzz.int(1, 5000))));
    }
    assert.ok(payloads > ROUNDS * 40, `${payloads} payloads checked`);
  });
});
