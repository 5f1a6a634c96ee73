/**
 * Live previews, the bot's side, with stand-ins for Discord and Redis: which progress edit uploads a still
 * (a newer one than shown, due by LATENTWALK_PREVIEW_INTERVAL_MS, allowed by the server, small enough), what
 * an edit sends to keep, replace or clear the message's attachments, a refused still not ending the progress,
 * and the server setting.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { DiscordAPIError, type Client } from 'discord.js';
import { CustomIds } from '../src/bot/customIds.ts';
import { DEFAULT_GUILD_SETTINGS, parseGuildSettings } from '../src/bot/GuildSettings.ts';
import { silentLogger } from '../src/bot/log.ts';
import type { PendingReply } from '../src/bot/PendingReplies.ts';
import { JobMessages, toEditOptions } from '../src/bot/replies/JobMessages.ts';
import { cancelledView, failedView, PREVIEW_FILE_NAME, progressView, type MessageView } from '../src/bot/replies/views.ts';
import { ResultDelivery } from '../src/bot/ResultDelivery.ts';
import type { BotServices } from '../src/bot/types.ts';
import type { JobProgress, PreviewStill } from '../src/jobs/index.ts';

const ids = new CustomIds('a deployment secret 0123456789');

const reply: PendingReply = {
  jobId: 'render-1',
  kind: 'walk',
  guildId: 'g1',
  channelId: 'c1',
  requesterId: 'u1',
  contributors: ['u1'],
  prompts: [{ text: 'a red circle', contributorId: 'u1' }],
  settings: { seed: 1 },
  maxBytes: 10_000_000,
  applicationId: 'app',
  interactionToken: 'token',
  tokenExpiresAt: Date.now() + 600_000,
  createdAt: Date.now(),
};

function progress(seq?: number, bytes = 100): JobProgress {
  return { stage: 'denoise', framesDone: 2, framesTotal: 8, attempt: 1, resumedFrames: 0, ...(seq !== undefined ? { preview: { seq, frame: 1, bytes } } : {}) };
}

function still(seq: number, bytes = 100): PreviewStill {
  return { seq, frame: 1, width: 256, height: 256, mimeType: 'image/webp', data: Buffer.alloc(bytes, seq) };
}

/** A ResultDelivery over stand-ins: progress events go in, the views of its progress edits come out. */
async function delivery(options: { intervalMs?: number; maxBytes?: number; guildPreviews?: boolean; refuseFiles?: boolean } = {}) {
  let emit!: (jobId: string, p: JobProgress) => void;
  const views: MessageView[] = [];
  let stored: PreviewStill | undefined;
  let fetches = 0;
  const services = {
    config: { progressIntervalMs: 0, jobs: { preview: { intervalMs: options.intervalMs ?? 0, maxBytes: options.maxBytes ?? 1000 } } },
    jobs: {
      onProgress: async (listener: typeof emit) => {
        emit = listener;
        return () => undefined;
      },
      resultConsumer: () => ({ start: async () => undefined, stop: async () => undefined }),
      previews: { fetch: async () => (fetches++, stored) },
    },
    pending: { get: async () => ({ ...reply }), setMessageId: async () => undefined },
    guildSettings: { get: async () => ({ ...DEFAULT_GUILD_SETTINGS, previews: options.guildPreviews ?? true }) },
    messages: {
      editStatus: async (_reply: PendingReply, build: () => MessageView | undefined, _rank: number, edit: { onFileRefused?: () => void } = {}) => {
        const view = build();
        if (!view) return undefined;
        if (options.refuseFiles && view.files?.length) {
          edit.onFileRefused?.();
          views.push({ ...view, files: undefined, keepFiles: true });
        } else views.push(view);
        return 'message-1';
      },
    },
    ids,
    log: silentLogger,
    now: Date.now,
  } as unknown as BotServices;
  const d = new ResultDelivery(services);
  await d.start();
  /** One progress event (with `stored` as the newest still) and the edit it makes. */
  const step = async (p: JobProgress, newest?: PreviewStill): Promise<MessageView> => {
    stored = newest;
    const before = views.length;
    emit('render-1', p);
    for (let i = 0; i < 100 && views.length === before; i++) await sleep(5);
    assert.equal(views.length, before + 1, 'one progress edit');
    return views.at(-1)!;
  };
  return { step, stop: () => d.stop(), fetches: () => fetches };
}

const shows = (view: MessageView) => view.files?.map((f) => [f.name, f.data[0], f.contentType]);

describe('which progress edit carries a still', () => {
  it('a newer still replaces the shown one; the same one is kept, not uploaded again', async () => {
    const d = await delivery();
    try {
      assert.equal((await d.step(progress())).keepFiles, true, 'no still yet: the edit keeps what the message has');
      assert.deepEqual(shows(await d.step(progress(1), still(1))), [[PREVIEW_FILE_NAME, 1, 'image/webp']]);
      const again = await d.step(progress(1), still(1));
      assert.equal(again.files, undefined);
      assert.equal(again.keepFiles, true);
      assert.deepEqual(shows(await d.step(progress(2), still(2))), [[PREVIEW_FILE_NAME, 2, 'image/webp']]);
      // The event named seq 3 but Redis still has seq 2 (already shown): nothing to upload.
      assert.equal((await d.step(progress(3), still(2))).files, undefined);
    } finally {
      await d.stop();
    }
  });

  it('at most one still per LATENTWALK_PREVIEW_INTERVAL_MS, whatever the progress edits do', async () => {
    const d = await delivery({ intervalMs: 300 });
    try {
      assert.ok((await d.step(progress(1), still(1))).files);
      const early = await d.step(progress(2), still(2));
      assert.equal(early.files, undefined, 'too soon: the edit goes out without it');
      assert.equal(early.keepFiles, true);
      await sleep(320);
      assert.deepEqual(shows(await d.step(progress(2), still(2))), [[PREVIEW_FILE_NAME, 2, 'image/webp']]);
    } finally {
      await d.stop();
    }
  });

  it('none when the server turned them off, none over the byte limit (named or fetched)', async () => {
    for (const [options, named, fetched] of [
      [{ guildPreviews: false }, 100, 100],
      [{ maxBytes: 500 }, 600, 100],
      [{ maxBytes: 500 }, 100, 600],
      [{ maxBytes: 0 }, 100, 100],
    ] as const) {
      const d = await delivery(options);
      try {
        const view = await d.step(progress(1, named), still(1, fetched));
        assert.equal(view.files, undefined, JSON.stringify(options));
        assert.equal(view.keepFiles, true);
        if ('guildPreviews' in options || named > 500 || options.maxBytes === 0) assert.equal(d.fetches(), 0, 'not even fetched');
      } finally {
        await d.stop();
      }
    }
  });

  it('a still Discord refuses stops the previews of that job, not its progress', async () => {
    const d = await delivery({ refuseFiles: true });
    try {
      assert.equal((await d.step(progress(1), still(1))).keepFiles, true);
      const next = await d.step(progress(2), still(2));
      assert.equal(next.files, undefined);
      assert.equal(d.fetches(), 1, 'no more stills fetched');
    } finally {
      await d.stop();
    }
  });
});

describe('what an edit sends about attachments', () => {
  const file = { name: PREVIEW_FILE_NAME, data: Buffer.from('x'), contentType: 'image/webp' };

  it('a still replaces (discord.js lists only the upload), a progress edit keeps, anything else clears', () => {
    const withStill = toEditOptions(progressView(ids, reply, progress(1), file));
    assert.equal(withStill.files?.length, 1);
    assert.equal('attachments' in withStill, false, 'discord.js makes attachments: [{ id: "0" }] from the files');
    const keep = toEditOptions(progressView(ids, reply, progress()));
    assert.equal('attachments' in keep, false);
    assert.equal(keep.files, undefined);
    for (const view of [failedView(ids, reply, 'it broke', false), cancelledView(reply, 'cancelled')]) {
      assert.deepEqual(toEditOptions(view).attachments, [], view.content);
    }
  });

  it('editStatus: a refused still is dropped and the same edit goes out without it', async () => {
    const sent: { files?: unknown[]; attachments?: unknown }[] = [];
    // Just what discord.js's InteractionWebhook uses of a client.
    const client = {
      options: { rest: {}, jsonTransformer: (value: unknown) => value },
      rest: {
        patch: async (_route: string, request: { body: Record<string, unknown>; files?: unknown[] }) => {
          sent.push({ files: request.files ?? [], attachments: request.body['attachments'] });
          if (request.files?.length) throw new DiscordAPIError({ code: 40005, message: 'Request entity too large' }, 40005, 413, 'PATCH', '/webhooks', { body: undefined, files: undefined });
          return { id: 'message-1', channel_id: 'c1', content: '', embeds: [], attachments: [], components: [], type: 0, author: { id: 'app', username: 'x', discriminator: '0', avatar: null } };
        },
      },
    } as unknown as Client<true>;
    const messages = new JobMessages({ client, pending: { dropToken: async () => undefined } as never, log: silentLogger, now: Date.now });
    let refused = 0;
    const id = await messages.editStatus(reply, () => progressView(ids, reply, progress(1), file), 1, { onFileRefused: () => refused++ });
    assert.equal(refused, 1);
    assert.equal(sent.length, 2);
    assert.equal(sent[0]!.files?.length, 1);
    assert.deepEqual(sent[1], { files: [], attachments: undefined }, 'the retry keeps the attachments: no files, no attachments field');
    assert.ok(id, 'the progress edit went through');
  });
});

describe('the server setting', () => {
  it('is on by default and survives a damaged value', () => {
    assert.equal(DEFAULT_GUILD_SETTINGS.previews, true);
    assert.equal(parseGuildSettings({}).previews, true);
    assert.equal(parseGuildSettings({ previews: false }).previews, false);
    assert.equal(parseGuildSettings({ previews: 'no' }).previews, true);
  });
});
