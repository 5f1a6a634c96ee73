/**
 * End to end, video output: a member picks MP4 or WebP on a render command, or an admin makes one the server's
 * default in /settings; the worker encodes it and the bot posts it (an MP4 as a plain attachment Discord plays
 * inline, not as an embed image). Real discord.js client, LocalDiscord, redis-server, a worker on the tiny pack.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import type { LocalMessage } from '../src/local-discord/index.ts';
import { readMp4 } from './harness/mp4.ts';
import { Stack } from './harness/stack.ts';

let stack: Stack;

before(async () => {
  stack = await Stack.start();
});
after(async () => {
  await stack?.stop();
});

async function finalWithFile(messageId: string, timeoutMs = 60_000): Promise<LocalMessage> {
  return stack.waitForMessage(messageId, 'a result with an attachment', (m) => m.attachments.length > 0, timeoutMs);
}

describe('video output', () => {
  it('/loop format:mp4 posts an H.264 MP4 that the embed does not swallow', async () => {
    const request = await stack.reply(await stack.slash('carol', 'loop', { prompt: 'a paper crane', frames: 3, steps: 1, format: 'mp4' }));
    const done = await finalWithFile(request.id);
    const file = done.attachments[0]!;
    assert.match(file.filename, /\.mp4$/);
    assert.equal(file.content_type, 'video/mp4');
    const info = readMp4(stack.discord.attachment(file.id)!.data);
    assert.equal(info.codec, 'avc1');
    assert.equal(info.sampleCount, 3);
    assert.equal(done.embeds[0]?.image, undefined, 'a video is not an embed image');
  });

  it('/settings default_format:webp makes WebP the server default; a command still picks its own', async () => {
    const set = await stack.slashSub('alice', 'settings', 'limits', { default_format: 'webp' });
    assert.match(await stack.ephemeral(set), /Default format: WebP/);
    try {
      const request = await stack.reply(await stack.slash('bob', 'walk', { prompt: 'a lantern', frames: 2, steps: 1 }));
      const done = await finalWithFile(request.id);
      const file = done.attachments[0]!;
      assert.match(file.filename, /\.webp$/);
      assert.equal(file.content_type, 'image/webp');
      const meta = await sharp(stack.discord.attachment(file.id)!.data, { animated: true }).metadata();
      assert.equal(meta.format, 'webp');
      assert.equal(meta.pages, 2);
      assert.match(String(done.embeds[0]?.image?.url), /\.webp$/, 'an animated WebP shows in the embed');

      const gif = await stack.reply(await stack.slash('bob', 'loop', { prompt: 'a lantern', frames: 2, steps: 1, format: 'gif' }));
      assert.match((await finalWithFile(gif.id)).attachments[0]!.filename, /\.gif$/);
    } finally {
      await stack.acknowledged(await stack.slashSub('alice', 'settings', 'reset'));
    }
    assert.match(await stack.ephemeral(await stack.slashSub('alice', 'settings', 'show')), /Default format: GIF/);
  });
});
