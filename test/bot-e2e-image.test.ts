/**
 * End to end, image input: /morph with an image attachment, and the "Morph from this image" message menu,
 * through LocalDiscord (attachment options with resolved attachments, a member's message with a file, a
 * message context menu command, the CDN serving the file), the real bot, redis-server and a worker on the tiny
 * pack (whose vae_encoder inverts its decoder). Bad images get an ephemeral answer and nothing is queued. A
 * /chain stop with a picture (the board's modal with a file upload): the stop's frame starts from it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import type { InteractionHandle, LocalMessage } from '../src/local-discord/index.ts';
import { GENERAL, GUILD, Stack, USERS, type UserName } from './harness/stack.ts';

let stack: Stack;
const W = 64;
const raw = new Uint8Array(W * W * 3);
for (let i = 0; i < W * W; i++) raw.set([40 + (i % W) * 3, 200 - Math.floor(i / W) * 2, 120], i * 3);
let photo: Buffer;

before(async () => {
  stack = await Stack.start();
  photo = await sharp(raw, { raw: { width: W, height: W, channels: 3 } }).png().toBuffer();
});
after(async () => {
  await stack?.stop();
});

const upload = (filename: string, data: Uint8Array, contentType?: string) =>
  stack.discord.uploadAttachment({ channelId: GENERAL, filename, data, ...(contentType ? { contentType } : {}) });

async function finalWithFile(messageId: string, timeoutMs = 60_000): Promise<LocalMessage> {
  return stack.waitForMessage(messageId, 'a result with an attachment', (m) => m.attachments.length > 0, timeoutMs);
}

/** Frame 0 of a result GIF against the picture: mean absolute difference per channel, 0..255. */
async function firstFrameDiff(message: LocalMessage): Promise<number> {
  const file = stack.discord.attachment(message.attachments[0]!.id)!;
  const first = await sharp(file.data, { page: 0 }).removeAlpha().resize(W, W).raw().toBuffer();
  return first.reduce((s, v, i) => s + Math.abs(v - raw[i]!), 0) / first.length;
}

/** Nothing public was posted for the interaction (the "thinking" placeholder, if any, was removed). */
function nothingPublic(handle: InteractionHandle): void {
  const state = stack.discord.interactionResponse(handle.interactionId);
  const ids = [state?.originalMessageId, ...(state?.followUpIds ?? [])].filter((id): id is string => !!id);
  for (const id of ids) {
    const meta = stack.discord.messageMeta(id);
    assert.ok(!meta || meta.visibleTo !== null, `message ${id} is public`);
  }
}

describe('/morph image:', () => {
  it('starts the morph from the attached picture: frame 0 is close to it', async () => {
    const id = upload('photo.png', photo);
    const handle = await stack.slash('alice', 'morph', { from: 'a cat', to: 'a dog', frames: 3, image: id, strength: 0.25 });
    const done = await finalWithFile((await stack.reply(handle)).id);
    const diff = await firstFrameDiff(done);
    assert.ok(diff < 25, `frame 0 mean abs diff ${diff.toFixed(1)} of 255`);
    const started = done.embeds[0]?.fields?.find((f) => f.name === 'Started from')?.value;
    assert.equal(started, '“photo.png”, strength 0.25 (3 of 4 steps skipped)');
  });

  it('refuses bad images privately, before anything is queued', async () => {
    const refuse = async (options: Record<string, string | number>, pattern: RegExp) => {
      const handle = await stack.slash('bob', 'morph', { from: 'a cat', to: 'a dog', frames: 2, ...options });
      assert.match(await stack.ephemeral(handle, 10_000), pattern);
      nothingPublic(handle);
    };
    await refuse({ image: upload('notes.txt', Buffer.from('hello'), 'text/plain') }, /notes\.txt is not an image; attach a PNG, JPEG, WebP or GIF/);
    const wide = await sharp(Buffer.alloc(128 * 64 * 3, 90), { raw: { width: 128, height: 64, channels: 3 } }).png().toBuffer();
    await refuse({ image: upload('wide.png', wide) }, /wide\.png is 128×64; renders here are square, so crop it to about 1:1/);
    const frames = Buffer.concat([Buffer.from(raw), Buffer.from(raw).reverse()]);
    const gif = await sharp(frames, { raw: { width: W, height: 2 * W, channels: 3, pageHeight: W } }).gif({ delay: [100, 100] }).toBuffer();
    // Discord reports a GIF's size, not that it moves: this one is refused after the download, by its header.
    await refuse({ image: upload('moving.gif', gif) }, /moving\.gif is animated; attach a still image/);
    await refuse({ image: upload('huge.png', Buffer.concat([photo, Buffer.alloc(11 * 1024 * 1024)])) }, /huge\.png is 11\.0 MiB; images up to 10 MiB can be used/);
    await refuse({ image: upload('fake.png', Buffer.from('not really a png'), 'image/png') }, /fake\.png is not an image I can read/);
    await refuse({ strength: 0.5 }, /strength only applies with an image/);
  });
});

describe('"Morph from this image" (message menu)', () => {
  it('on a member\'s message with a picture: asks for the prompts, then morphs from it', async () => {
    const posted = stack.discord.postMessage({ channelId: GENERAL, userId: USERS.carol, content: 'my cat', files: [{ filename: 'cat.png', data: photo }] });
    assert.equal(posted.attachments[0]?.width, W);
    const menu = await stack.discord.messageCommand({ userId: USERS.dave, name: 'Morph from this image', messageId: posted.id });
    await stack.acknowledged(menu);
    const modal = stack.discord.openModals(USERS.dave).at(-1)!;
    assert.equal(modal.modal.title, 'Morph from this image');
    const bad = await stack.submit('dave', String(modal.modal.custom_id), { from: 'a cat', to: 'a lion', strength: 'lots' });
    assert.match(await stack.ephemeral(bad), /How much to redraw must be a number from 0\.05 to 1/);
    await stack.acknowledged(await stack.discord.messageCommand({ userId: USERS.dave, name: 'Morph from this image', messageId: posted.id }));
    const again = stack.discord.openModals(USERS.dave).at(-1)!;
    const submit = await stack.submit('dave', String(again.modal.custom_id), { from: 'a cat', to: 'a lion', strength: '0.25' });
    const request = await stack.reply(submit, 15_000);
    assert.match(request.content, /morph from “a cat” to “a lion”/);
    const done = await finalWithFile(request.id);
    const diff = await firstFrameDiff(done);
    assert.ok(diff < 25, `frame 0 mean abs diff ${diff.toFixed(1)} of 255`);
  });

  it('on a message without a picture, or with a file that is not one: a private answer', async () => {
    const text = stack.discord.postMessage({ channelId: GENERAL, userId: USERS.carol, content: 'no pictures here' });
    const none = await stack.discord.messageCommand({ userId: USERS.dave, name: 'Morph from this image', messageId: text.id });
    assert.match(await stack.ephemeral(none), /That message has no attachment/);
    const doc = stack.discord.postMessage({ channelId: GENERAL, userId: USERS.carol, files: [{ filename: 'notes.txt', data: Buffer.from('hi') }] });
    const notImage = await stack.discord.messageCommand({ userId: USERS.dave, name: 'Morph from this image', messageId: doc.id });
    assert.match(await stack.ephemeral(notImage), /notes\.txt is not an image/);
    assert.equal(stack.discord.openModals(USERS.dave).filter((m) => !m.submitted).length, 0);
    void GUILD;
  });
});

describe('/chain: a stop with a picture', () => {
  /** The member's chain form, opened from the board's button. */
  async function openForm(user: UserName, boardId: string): Promise<string> {
    await stack.acknowledged(await stack.clickLabel(user, boardId, 'Add or change your stop'));
    const modal = stack.discord.openModals(USERS[user]).at(-1)!;
    assert.equal(modal.modal.title, 'Your stop on the chain');
    return String(modal.modal.custom_id);
  }

  it('a member adds a stop with a picture: the board shows it and the loop passes through it', async () => {
    const board = await stack.reply(await stack.slash('alice', 'chain', { stops: 2, frames: 4 }), 15_000);
    const form = await openForm('bob', board.id);
    const added = await stack.submit('bob', form, { prompt: 'a cat 🐱', picture: [upload('cat photo.png', photo)], strength: '0.25' });
    await stack.acknowledged(added);
    // Discord (and LocalDiscord) turn the space in a file name into an underscore, which the board escapes.
    const shown = await stack.waitForMessage(board.id, 'the stop with its picture', (m) => /1\. “a cat 🐱” 🖼️ cat\\_photo\.png/.test(m.content));
    assert.match(shown.content, /1 of 2 stops/);
    await stack.acknowledged(await stack.submit('carol', await openForm('carol', board.id), { prompt: 'a dog' }));
    const done = await stack.waitForMessage(board.id, 'the chain\'s result', (m) => m.attachments.length > 0, 60_000);
    // Bob's stop is the first: frame 0 of the loop starts from his picture.
    const diff = await firstFrameDiff(done);
    assert.ok(diff < 25, `frame 0 mean abs diff ${diff.toFixed(1)} of 255`);
  });

  it('refuses a bad picture privately and leaves the chain as it was', async () => {
    const board = await stack.reply(await stack.slash('alice', 'chain', { prompt: 'a dog', stops: 3 }), 15_000);
    const refuse = async (fields: Record<string, string | string[]>, pattern: RegExp) => {
      const submit = await stack.submit('dave', await openForm('dave', board.id), fields);
      assert.match(await stack.ephemeral(submit, 10_000), pattern);
      assert.doesNotMatch(stack.message(board.id).content, /2\. /, 'no stop was added');
    };
    await refuse({ prompt: 'notes', picture: [upload('notes.txt', Buffer.from('hello'), 'text/plain')] }, /notes\.txt is not an image; attach a PNG, JPEG, WebP or GIF/);
    await refuse({ prompt: '', picture: [upload('cat.png', photo)] }, /A stop with a picture needs words saying what it shows/);
    await refuse({ prompt: 'a cat', strength: '0.5' }, /How much to redraw only applies with a picture/);
    await refuse({ prompt: 'a cat', picture: [upload('cat.png', photo)], strength: 'lots' }, /How much to redraw must be a number from 0\.05 to 1/);
    const frames = Buffer.concat([Buffer.from(raw), Buffer.from(raw).reverse()]);
    const gif = await sharp(frames, { raw: { width: W, height: 2 * W, channels: 3, pageHeight: W } }).gif({ delay: [100, 100] }).toBuffer();
    // Found after the download (the submit is deferred then): still private, and the stop is not added.
    await refuse({ prompt: 'a cat', picture: [upload('moving.gif', gif)] }, /moving\.gif is animated; attach a still image\. Your stop was not changed/);
    await refuse({ prompt: 'a cat', picture: [upload('huge.png', Buffer.concat([photo, Buffer.alloc(11 * 1024 * 1024)]))] }, /huge\.png is 11\.0 MiB; images up to 10 MiB/);
    // Long emoji, zero-width and right-to-left text in the file name and the stop: the board still fits.
    const name = `${'🧑🏽‍🚀\u200b\u202e'.repeat(40)}.png`;
    const stop = 'ש🦄\u200d'.repeat(200).slice(0, 500);
    const submit = await stack.submit('erin', await openForm('erin', board.id), { prompt: stop, picture: [upload(name, photo)] });
    await stack.acknowledged(submit);
    const shown = await stack.waitForMessage(board.id, 'erin\'s stop', (m) => /2\. “/.test(m.content));
    assert.ok([...shown.content].length <= 2000, `${[...shown.content].length} code points`);
    assert.match(shown.content, /🖼️/);
  });
});
