/**
 * LocalDiscord's message edits with attachments, as Discord does them, driven by the real discord.js client:
 * - an edit that uploads a file lists only that file (discord.js sends `attachments: [{ id: "0" }]`), so it
 *   replaces what was there: a progress message whose preview is swapped never holds more than one;
 * - `attachments` keeps the listed ids and adds the new parts in one multipart PATCH; `[]` removes them all;
 *   an edit without `attachments` and without files leaves them alone;
 * - a file an edit drops (or a deleted message's file) is gone from the CDN once `droppedFileTtlMs` has passed
 *   (a page still loading it gets it); a refused edit drops nothing;
 * - WebP attachments get their width and height like GIF and PNG (lossy, lossless and extended WebP).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client, Events, GatewayIntentBits, type Interaction, type TextChannel } from 'discord.js';
import sharp from 'sharp';
import { LocalDiscord } from '../src/local-discord/index.ts';
import { imageSize } from '../src/local-discord/rest/multipart.ts';

const TOKEN = 'test-bot-token-attachments';
const GUILD = '1400000000000000300';
const GENERAL = '1400000000000000301';
const ALICE = '1400000000000000401';
/** Dropped files' URLs work this long here (30 s by default). */
const GRACE_MS = 1_500;

let server: LocalDiscord;
let client: Client;

function still(colour: number, options: { lossless?: boolean; side?: number } = {}): Promise<Buffer> {
  const side = options.side ?? 32;
  return sharp({ create: { width: side, height: side * 2, channels: 3, background: { r: colour, g: 255 - colour, b: 90 } } })
    .webp(options.lossless ? { lossless: true } : { quality: 70 })
    .toBuffer();
}

function onNextInteraction<T>(handler: (i: Interaction) => Promise<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    client.once(Events.InteractionCreate, (i) => void handler(i).then(resolve, reject));
  });
}

async function status(url: string): Promise<number> {
  return (await fetch(url)).status;
}

/** The status once the dropped files' grace has passed. */
async function statusLater(url: string): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, GRACE_MS + 100));
  return status(url);
}

before(async () => {
  server = await LocalDiscord.start({
    token: TOKEN,
    droppedFileTtlMs: GRACE_MS,
    guilds: [{ id: GUILD, name: 'Attachments', channels: [{ id: GENERAL, name: 'general', type: 0 }], members: [{ id: ALICE, username: 'alice' }] }],
  });
  client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: server.restUrl }, allowedMentions: { parse: [] } });
  const ready = new Promise<void>((resolve) => client.once(Events.ClientReady, () => resolve()));
  await client.login(TOKEN);
  await ready;
  await client.application!.commands.set([{ name: 'render', description: 'Render something' }], GUILD);
});

after(async () => {
  await client?.destroy();
  await server?.close();
});

describe('message edits with attachments', () => {
  it('an edit with a new file replaces the old one; the old URL stops working', async () => {
    const urls: string[] = [];
    const handled = onNextInteraction(async (i) => {
      assert.ok(i.isChatInputCommand());
      await i.deferReply();
      const counts: number[] = [];
      for (let n = 0; n < 4; n++) {
        const message = await i.editReply({ content: `rendering ${n}/4`, files: [{ attachment: await still(n * 60), name: 'preview.webp' }] });
        counts.push(server.message(message.id)!.attachments.length);
        urls.push(server.message(message.id)!.attachments[0]!.url);
      }
      // A progress edit without a new still leaves the last one in place.
      const kept = await i.editReply({ content: 'rendering 4/4' });
      return { id: kept.id, counts };
    });
    await server.slashCommand({ guildId: GUILD, channelId: GENERAL, userId: ALICE, name: 'render', options: [] });
    const { id, counts } = await handled;
    assert.deepEqual(counts, [1, 1, 1, 1], 'never more than one attachment');
    const message = server.message(id)!;
    assert.equal(message.content, 'rendering 4/4');
    assert.equal(message.attachments.length, 1);
    assert.equal(message.attachments[0]!.url, urls.at(-1));
    assert.equal(message.attachments[0]!.content_type, 'image/webp');
    assert.deepEqual([message.attachments[0]!.width, message.attachments[0]!.height], [32, 64], 'WebP size reported');
    assert.equal(new Set(urls).size, 4);
    assert.equal(await status(urls[2]!), 200, 'a page still loading the one before gets it');
    for (const old of urls.slice(0, -1)) assert.equal(await statusLater(old), 404, `${old} was removed`);
    assert.equal(await status(urls.at(-1)!), 200);
    const patches = server.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith('/messages/@original') && r.files.length > 0);
    assert.ok(patches.length >= 4);
    for (const patch of patches.slice(-4)) {
      assert.deepEqual((patch.body as { attachments: unknown }).attachments, [{ id: '0' }], 'discord.js lists only the upload');
    }
  });

  it('keeps listed attachments and adds new parts in one PATCH; [] removes them all', async () => {
    const handled = onNextInteraction(async (i) => {
      assert.ok(i.isChatInputCommand());
      await i.deferReply();
      const first = await i.editReply({ content: 'two', files: [{ attachment: await still(10), name: 'a.webp' }, { attachment: await still(20), name: 'b.webp' }] });
      const keep = first.attachments.filter((a) => a.name === 'a.webp');
      const both = await i.editReply({ content: 'a and c', attachments: [...keep.values()], files: [{ attachment: await still(30, { lossless: true }), name: 'c.webp' }] });
      const gone = first.attachments.find((a) => a.name === 'b.webp')!.url;
      const afterBoth = server.message(both.id)!.attachments.map((a) => [a.filename, a.width, a.height]);
      const cleared = await i.editReply({ content: 'none', attachments: [] });
      return { id: cleared.id, afterBoth, gone, kept: keep.first()!.url };
    });
    await server.slashCommand({ guildId: GUILD, channelId: GENERAL, userId: ALICE, name: 'render', options: [] });
    const { id, afterBoth, gone, kept } = await handled;
    assert.deepEqual(afterBoth, [['a.webp', 32, 64], ['c.webp', 32, 64]], 'a kept, b dropped, c (lossless WebP) added');
    assert.equal(await statusLater(gone), 404);
    assert.deepEqual(server.message(id)!.attachments, []);
    assert.equal(await statusLater(kept), 404, 'attachments: [] removed a as well');
  });

  it('a refused edit drops nothing; deleting the message removes its files', async () => {
    const channel = client.channels.cache.get(GENERAL) as TextChannel;
    const sent = await channel.send({ content: 'with a still', files: [{ attachment: await still(99), name: 'p.webp' }] });
    const url = server.message(sent.id)!.attachments[0]!.url;
    // Too long a content: Discord refuses the whole edit, files included.
    await assert.rejects(channel.messages.edit(sent.id, { content: 'x'.repeat(2001), attachments: [] }), /2000/);
    assert.equal(server.message(sent.id)!.attachments.length, 1);
    assert.equal(await statusLater(url), 200);
    // The bot token's PATCH follows the same rule: the new file replaces the old.
    await channel.messages.edit(sent.id, { content: 'replaced', files: [{ attachment: await still(150), name: 'q.webp' }] });
    assert.deepEqual(server.message(sent.id)!.attachments.map((a) => a.filename), ['q.webp']);
    assert.equal(await statusLater(url), 404);
    const newer = server.message(sent.id)!.attachments[0]!.url;
    await channel.messages.delete(sent.id);
    assert.equal(await statusLater(newer), 404);
  });

  it('reads the size of every WebP layout', async () => {
    const lossy = await sharp({ create: { width: 300, height: 17, channels: 3, background: '#123456' } }).webp().toBuffer();
    const lossless = await sharp({ create: { width: 5, height: 700, channels: 3, background: '#654321' } }).webp({ lossless: true }).toBuffer();
    const alpha = await sharp({ create: { width: 40, height: 41, channels: 4, background: { r: 1, g: 2, b: 3, alpha: 0.5 } } }).webp().toBuffer();
    assert.deepEqual(imageSize(lossy), { width: 300, height: 17 });
    assert.deepEqual(imageSize(lossless), { width: 5, height: 700 });
    assert.equal(alpha.toString('latin1', 12, 16), 'VP8X', 'alpha makes an extended WebP');
    assert.deepEqual(imageSize(alpha), { width: 40, height: 41 });
    assert.equal(imageSize(Buffer.from('RIFF\0\0\0\0WEBPVP8 garbage-garbage-garbage')), undefined);
  });
});
