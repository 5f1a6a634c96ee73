/**
 * LocalDiscord's media side, with the real discord.js client: a member's message with a file, a slash command
 * whose attachment option resolves to the uploaded file, a message context menu command (type 3) with the
 * target message resolved, menu command names, sizes of WebP / MP4 / JPEG attachments, and the CDN serving
 * byte ranges as Discord's does.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  ApplicationCommandOptionType,
  ApplicationCommandType,
  Client,
  Events,
  GatewayIntentBits,
  Routes,
  type Interaction,
} from 'discord.js';
import sharp from 'sharp';
import { LocalDiscord } from '../src/local-discord/index.ts';
import { encodeMp4 } from '../src/engine/output/mp4.ts';

const TOKEN = 'media-test-token';
const GUILD = '1600000000000000100';
const GENERAL = '1600000000000000101';
const ALICE = '1600000000000000201';

let server: LocalDiscord;
let client: Client;
const seen: Interaction[] = [];

before(async () => {
  server = await LocalDiscord.start({
    token: TOKEN,
    guilds: [{ id: GUILD, name: 'Media', channels: [{ id: GENERAL, name: 'general', type: 0 }], members: [{ id: ALICE, username: 'alice', globalName: 'Alice' }] }],
  });
  client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: server.restUrl } });
  const ready = new Promise<void>((resolve) => client.once(Events.ClientReady, () => resolve()));
  client.on(Events.InteractionCreate, (i) => seen.push(i));
  await client.login(TOKEN);
  await ready;
  await client.application!.commands.set(
    [
      { name: 'look', description: 'look at a picture', options: [{ name: 'image', description: 'a picture', type: ApplicationCommandOptionType.Attachment, required: true }] },
      { name: 'Morph from this image', type: ApplicationCommandType.Message },
    ],
    GUILD,
  );
});
after(async () => {
  await client?.destroy();
  await server?.close();
});

async function next(): Promise<Interaction> {
  const count = seen.length;
  for (let i = 0; i < 200 && seen.length === count; i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(seen.length > count, 'the bot received the interaction');
  return seen.at(-1)!;
}

describe('LocalDiscord media', () => {
  it('refuses a menu command with a description and accepts spaces and capitals in its name', async () => {
    await assert.rejects(
      client.rest.put(Routes.applicationGuildCommands(client.application!.id, GUILD), { body: [{ name: 'Bad Menu', type: 3, description: 'not allowed' }] }),
      /Must be 0 or fewer in length/,
    );
    assert.ok(server.registeredCommands(GUILD).some((c) => c.name === 'Morph from this image' && c.type === 3));
  });

  it('an attachment option resolves to the uploaded file, served with its size', async () => {
    const png = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#336699' } }).png().toBuffer();
    const id = server.uploadAttachment({ channelId: GENERAL, filename: 'pic.png', data: png });
    await server.slashCommand({ guildId: GUILD, channelId: GENERAL, userId: ALICE, name: 'look', options: [{ name: 'image', value: id }] });
    const interaction = await next();
    assert.ok(interaction.isChatInputCommand());
    const attachment = interaction.options.getAttachment('image', true);
    assert.equal(attachment.name, 'pic.png');
    assert.equal(attachment.size, png.length);
    assert.equal(attachment.contentType, 'image/png');
    assert.deepEqual([attachment.width, attachment.height], [40, 30]);
    const response = await fetch(attachment.url);
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), png);
    await assert.rejects(server.slashCommand({ guildId: GUILD, channelId: GENERAL, userId: ALICE, name: 'look', options: [{ name: 'image', value: '123' }] }), /no uploaded attachment 123/);
  });

  it('a message menu command carries the target message with its attachments', async () => {
    const webp = await sharp({ create: { width: 24, height: 20, channels: 3, background: '#aa3300' } }).webp().toBuffer();
    const posted = server.postMessage({ channelId: GENERAL, userId: ALICE, content: 'look', files: [{ filename: 'a.webp', data: webp }] });
    assert.equal(posted.author.id, ALICE);
    assert.deepEqual([posted.attachments[0]!.width, posted.attachments[0]!.height], [24, 20]);
    await server.messageCommand({ userId: ALICE, name: 'Morph from this image', messageId: posted.id });
    const interaction = await next();
    assert.ok(interaction.isMessageContextMenuCommand());
    assert.equal(interaction.commandName, 'Morph from this image');
    assert.equal(interaction.targetMessage.id, posted.id);
    assert.equal(interaction.targetMessage.attachments.first()?.name, 'a.webp');
    await assert.rejects(server.messageCommand({ userId: ALICE, name: 'Nope', messageId: posted.id }), /no message command "Nope"/);
  });

  it('reports MP4 and JPEG sizes and serves byte ranges', async () => {
    const frames = [0, 1].map(() => ({ width: 48, height: 32, data: new Uint8Array(48 * 32 * 3).fill(128) }));
    const mp4 = (await encodeMp4(frames, { fps: 10 })).bytes;
    const jpeg = await sharp({ create: { width: 33, height: 17, channels: 3, background: '#000' } }).jpeg().toBuffer();
    const posted = server.postMessage({ channelId: GENERAL, userId: ALICE, files: [{ filename: 'v.mp4', data: mp4 }, { filename: 'j.jpg', data: jpeg }] });
    const [video, photo] = posted.attachments;
    assert.equal(video!.content_type, 'video/mp4');
    assert.deepEqual([video!.width, video!.height], [48, 32]);
    assert.deepEqual([photo!.width, photo!.height], [33, 17]);
    const part = await fetch(video!.url, { headers: { range: 'bytes=4-11' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 4-11/${mp4.length}`);
    assert.equal(Buffer.from(await part.arrayBuffer()).toString('latin1'), Buffer.from(mp4.subarray(4, 12)).toString('latin1'));
    const tail = await fetch(video!.url, { headers: { range: 'bytes=-4' } });
    assert.equal((await tail.arrayBuffer()).byteLength, 4);
    assert.equal((await fetch(video!.url, { headers: { range: `bytes=${mp4.length}-` } })).status, 416);
    assert.equal((await fetch(video!.url)).headers.get('accept-ranges'), 'bytes');
  });
});
