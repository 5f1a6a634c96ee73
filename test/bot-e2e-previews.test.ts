/**
 * Live previews end to end: the real bot against LocalDiscord, a real redis-server and a real worker rendering
 * the bundled shapes model (slow enough for several progress edits per job). For every walk kind (morph, loop,
 * walk, grid, and a chain filled on its board), watching every state the progress message goes through:
 * - while it renders, the message shows a WebP still of the newest finished frame;
 * - the still is replaced, never added: the message never holds more than one attachment;
 * - the final result replaces it (the GIF or PNG alone; a cancel leaves no attachment), and nothing edits the
 *   message after that;
 * - `/settings previews enabled:false` turns them off in the server; a worker whose stills would be over
 *   LATENTWALK_PREVIEW_MAX_BYTES shows none.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { JobKeys } from '../src/jobs/keys.ts';
import type { LocalMessage } from '../src/local-discord/index.ts';
import { SHAPES_PACK } from './harness/packs.ts';
import { Stack, USERS, waitFor } from './harness/stack.ts';

let stack: Stack;

/** Every state a message went through: its content and attachments, in order. */
interface Snapshot {
  at: number;
  content: string;
  attachments: { id: string; filename: string; contentType: string | undefined; width: number | undefined }[];
}
const history = new Map<string, Snapshot[]>();

before(async () => {
  stack = await Stack.start({ worker: false, jobs: { preview: { intervalMs: 300, maxBytes: 65_536 } }, bot: { progressIntervalMs: 250 } });
  const record = (message: LocalMessage) => {
    const list = history.get(message.id) ?? [];
    list.push({
      at: Date.now(),
      content: message.content,
      attachments: message.attachments.map((a) => ({ id: a.id, filename: a.filename, contentType: a.content_type, width: a.width })),
    });
    history.set(message.id, list);
  };
  stack.discord.on('messageCreate', record);
  stack.discord.on('messageUpdate', record);
  await stack.startWorker(SHAPES_PACK);
});

after(async () => {
  await stack?.stop();
});

async function messageOf(handle: { interactionId: string }): Promise<string> {
  return waitFor('the reply', () => stack.discord.interactionResponse(handle.interactionId)?.originalMessageId);
}

function finished(message: LocalMessage): boolean {
  return /^(✅|❌|🛑)/.test(message.content);
}

const isPreview = (a: Snapshot['attachments'][number]) => a.filename === 'preview.webp';

/** The message's states up to and including the final one, checked for what every job must show. */
async function settled(messageId: string): Promise<{ states: Snapshot[]; final: LocalMessage }> {
  const final = await stack.waitForMessage(messageId, 'the final result', finished, 120_000);
  // Nothing may edit it afterwards (a late preview, a late progress edit).
  await sleep(1200);
  const states = history.get(messageId) ?? [];
  const last = states.findIndex((s) => /^(✅|❌|🛑)/.test(s.content));
  assert.ok(last >= 0);
  assert.equal(states.length, last + 1, `no edit after the final one: ${JSON.stringify(states.slice(last).map((s) => s.content.slice(0, 30)))}`);
  for (const state of states) assert.ok(state.attachments.length <= 1, `at most one attachment at any time: ${JSON.stringify(state)}`);
  assert.equal(stack.discord.message(messageId)?.edited_timestamp, final.edited_timestamp);
  return { states, final };
}

function previewsWhileRendering(states: Snapshot[]): Snapshot['attachments'] {
  return states.filter((s) => s.content.startsWith('🎨 Rendering')).flatMap((s) => s.attachments.filter(isPreview));
}

async function assertPreviewGone(jobId: string): Promise<void> {
  const redis = stack.redis.client();
  try {
    assert.equal(await redis.exists(new JobKeys(stack.jobsConfig.prefix).preview(jobId)), 0, 'the still left Redis with the job');
  } finally {
    redis.disconnect();
  }
}

describe('live previews in the progress message', () => {
  const kinds = [
    ['morph', { from: 'a red circle', to: 'a blue square', frames: 10, steps: 40, seed: 3 }, /\.gif$/],
    ['loop', { prompt: 'a green triangle', frames: 10, steps: 40, seed: 4 }, /\.gif$/],
    ['walk', { prompt: 'a yellow star', frames: 24, steps: 50, seed: 5 }, /\.gif$/],
    ['grid', { p1: 'a red circle', p2: 'a blue square', p3: 'a green triangle', p4: 'a yellow star', grid_size: 3, steps: 40, seed: 6 }, /\.png$/],
  ] as const;

  for (const [kind, options, result] of kinds) {
    it(`/${kind}: a still while it renders, replaced, then the result in its place`, async () => {
      const handle = await stack.slash('bob', kind, options);
      const messageId = await messageOf(handle);
      const { states, final } = await settled(messageId);
      const previews = previewsWhileRendering(states);
      assert.ok(previews.length > 0, `a preview while rendering: ${JSON.stringify(states.map((s) => [s.content.slice(0, 40), s.attachments.map((a) => a.filename)]))}`);
      for (const preview of previews) {
        assert.equal(preview.contentType, 'image/webp');
        assert.equal(preview.width, 256);
      }
      // Each new still replaced the one before (never more than one attachment, checked above), and the result
      // took the last one's place.
      const ids = [...new Set(previews.map((p) => p.id))];
      assert.equal(final.attachments.length, 1);
      assert.match(final.attachments[0]!.filename, result);
      assert.ok(!ids.includes(final.attachments[0]!.id));
      await assertPreviewGone(`render-${handle.interactionId}`);
      if (kind === 'walk') assert.ok(ids.length >= 2, `a walk of 24 frames shows more than one still (${ids.length})`);
    });
  }

  it('/chain: the board becomes the progress message, with its still, then the GIF of the chain', async () => {
    const board = await stack.reply(await stack.slash('alice', 'chain', { prompt: 'a red circle', stops: 2, frames: 10, steps: 40, seed: 7 }));
    const click = await stack.clickLabel('bob', board.id, 'Add or change your stop');
    await stack.acknowledged(click);
    const modal = stack.discord.openModals(USERS.bob).at(-1)!;
    await stack.acknowledged(await stack.submit('bob', modal.modal.custom_id, { prompt: 'a blue square' }));
    const { states, final } = await settled(board.id);
    const previews = previewsWhileRendering(states);
    assert.ok(previews.length > 0, `a preview while rendering: ${JSON.stringify(states.map((s) => [s.content.slice(0, 40), s.attachments.map((a) => a.filename)]))}`);
    assert.equal(final.attachments.length, 1);
    assert.match(final.attachments[0]!.filename, /^latentwalk-chain-7\.gif$/);
  });

  it('a cancel clears the still', async () => {
    const handle = await stack.slash('carol', 'walk', { prompt: 'a purple ring', frames: 24, steps: 50, seed: 8 });
    const messageId = await messageOf(handle);
    await stack.waitForMessage(messageId, 'a preview', (m) => m.attachments.some((a) => a.filename === 'preview.webp'), 60_000);
    await stack.clickLabel('carol', messageId, 'Cancel');
    const { final } = await settled(messageId);
    assert.match(final.content, /^🛑 Cancelled/);
    assert.deepEqual(final.attachments, []);
  });
});

describe('turning previews off', () => {
  it('/settings previews enabled:false: progress edits without stills in this server', async () => {
    const off = await stack.slashSub('alice', 'settings', 'previews', { enabled: false });
    assert.match(await stack.ephemeral(off), /live previews are off/);
    try {
      const handle = await stack.slash('dave', 'walk', { prompt: 'a grey cloud', frames: 10, steps: 40, seed: 9 });
      const messageId = await messageOf(handle);
      const { states, final } = await settled(messageId);
      assert.ok(states.filter((s) => s.content.startsWith('🎨 Rendering')).length >= 2, 'progress edits still come');
      assert.deepEqual(previewsWhileRendering(states), []);
      assert.match(final.attachments[0]!.filename, /\.gif$/);
    } finally {
      const on = await stack.slashSub('alice', 'settings', 'previews', { enabled: true });
      assert.match(await stack.ephemeral(on), /live previews are on/);
    }
  });

  // Last: the stack's worker stays the one with the small limit.
  it('no stills from a worker whose stills would be over LATENTWALK_PREVIEW_MAX_BYTES', async () => {
    await stack.stopWorker();
    await stack.startWorker(SHAPES_PACK, { LATENTWALK_PREVIEW_MAX_BYTES: '200' });
    const handle = await stack.slash('erin', 'loop', { prompt: 'a white moon', frames: 10, steps: 40, seed: 10 });
    const messageId = await messageOf(handle);
    const { states, final } = await settled(messageId);
    assert.ok(states.some((s) => s.content.startsWith('🎨 Rendering')));
    assert.deepEqual(previewsWhileRendering(states), []);
    assert.match(final.attachments[0]!.filename, /\.gif$/);
  });
});
