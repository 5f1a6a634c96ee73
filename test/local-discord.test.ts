/**
 * The local Discord-compatible server, exercised by the real discord.js Client (Guilds intent only) over
 * HTTP and WebSocket on 127.0.0.1: handshake, command registration, interaction responses with files,
 * modals, Discord's error codes, mentions, and a bot restart against the same server.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  ActionRowBuilder,
  ApplicationCommandOptionType,
  ButtonBuilder,
  ButtonStyle,
  Client,
  DiscordAPIError,
  EmbedBuilder,
  Events,
  GatewayIntentBits,
  MessageFlags,
  ModalBuilder,
  Routes,
  TextInputBuilder,
  TextInputStyle,
  type ApplicationCommandData,
  type Interaction,
  type TextChannel,
} from 'discord.js';
import WebSocket from 'ws';
import { LocalDiscord, Permission, type LogLevel } from '../src/local-discord/index.ts';

const TOKEN = 'test-bot-token';
const GUILD = '1400000000000000100';
const GENERAL = '1400000000000000101';
const LOCKED = '1400000000000000102';
const ALICE = '1400000000000000201';
const BOB = '1400000000000000202';

// A GIF header (1x1) is enough for @discordjs/rest to sniff image/gif and for the server to read a size.
const GIF = Buffer.concat([
  Buffer.from('GIF89a', 'latin1'),
  Buffer.from([1, 0, 1, 0, 0x80, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 0x01, 0, 0x3b]),
]);

let skewMs = 0; // the injected clock runs this far ahead of real time
const logLines: { level: LogLevel; message: string }[] = [];
let server: LocalDiscord;
let client: Client;

async function startClient(): Promise<{ client: Client; readyMs: number }> {
  const started = Date.now();
  const c = new Client({
    intents: [GatewayIntentBits.Guilds],
    rest: { api: server.restUrl },
    allowedMentions: { parse: [] },
  });
  const ready = new Promise<void>((resolve) => c.once(Events.ClientReady, () => resolve()));
  await c.login(TOKEN);
  await ready;
  return { client: c, readyMs: Date.now() - started };
}

/** Runs `handler` on the bot's next interaction; resolves with what it returns (or rejects with its error). */
function onNextInteraction<T>(handler: (i: Interaction) => Promise<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    client.once(Events.InteractionCreate, (i) => void handler(i).then(resolve, reject));
  });
}

function slash(name: string, options: { name: string; value: string | number | boolean }[] = [], userId = ALICE) {
  return server.slashCommand({ guildId: GUILD, channelId: GENERAL, userId, name, options });
}

before(async () => {
  server = await LocalDiscord.start({
    token: TOKEN,
    now: () => Date.now() + skewMs,
    log: (level, message) => logLines.push({ level, message }),
    guilds: [
      {
        id: GUILD,
        name: 'Test Guild',
        channels: [
          { id: GENERAL, name: 'general', type: 0 },
          // The bot may read but not attach files here.
          { id: LOCKED, name: 'locked', type: 0, permissionOverwrites: [{ id: GUILD, type: 0, allow: '0', deny: Permission.AttachFiles.toString() }] },
        ],
        members: [
          { id: ALICE, username: 'alice', globalName: 'Alice', permissions: Permission.ManageMessages.toString() },
          { id: BOB, username: 'bob', globalName: 'Bob' },
        ],
      },
    ],
  });
});

after(async () => {
  await client?.destroy();
  await server?.close();
});

describe('LocalDiscord with the real discord.js client', () => {
  it('logs in quickly and caches the guild, its channels, roles and the bot member', async () => {
    const { client: c, readyMs } = await startClient();
    client = c;
    assert.ok(readyMs < 2000, `ready after ${readyMs} ms`);
    const guild = client.guilds.cache.get(GUILD);
    assert.ok(guild?.available);
    assert.equal(guild.name, 'Test Guild');
    assert.equal(guild.channels.cache.get(GENERAL)?.name, 'general');
    assert.equal(guild.roles.everyone.id, GUILD);
    assert.equal(guild.members.me?.id, server.botUserId);
    assert.equal(guild.memberCount, 3);
    assert.equal(client.application?.id, server.applicationId);
    // The bot's permissions follow the channel overwrites, as Discord computes them.
    const locked = guild.channels.cache.get(LOCKED) as TextChannel;
    assert.equal(locked.permissionsFor(guild.members.me!)?.has('AttachFiles'), false);
    assert.equal((guild.channels.cache.get(GENERAL) as TextChannel).permissionsFor(guild.members.me!)?.has('AttachFiles'), true);
    assert.equal(server.connectedSessions, 1);
  });

  it('stores the commands the bot registers and keeps their ids on re-registration', async () => {
    const commands: ApplicationCommandData[] = [
      {
        name: 'walk',
        description: 'Walk around a prompt',
        options: [
          { type: ApplicationCommandOptionType.String, name: 'prompt', description: 'what to render', required: true },
          { type: ApplicationCommandOptionType.Integer, name: 'frames', description: 'how many frames', minValue: 2, maxValue: 64 },
        ],
      },
      { name: 'board', description: 'Start a board' },
    ];
    const first = await client.application!.commands.set(commands, GUILD);
    assert.equal(first.size, 2);
    const stored = server.registeredCommands(GUILD);
    assert.deepEqual(stored.map((c) => c.name), ['walk', 'board']);
    assert.equal((stored[0]!.options as { name: string }[])[1]!.name, 'frames');
    const again = await client.application!.commands.set(commands, GUILD);
    assert.deepEqual([...again.keys()], [...first.keys()]);
    assert.deepEqual(server.registeredCommands(), []); // nothing global
    await assert.rejects(slash('nope'), /not registered/);
    await assert.rejects(slash('walk', [{ name: 'prompt', value: 'x' }, { name: 'frames', value: 1000 }]), /at most 64/);
  });

  it('defers, then edits the reply with a GIF, an embed and a button; follows up', async () => {
    const seen = { loading: false };
    server.once('messageCreate', (_m, meta) => (seen.loading = meta.loading));
    const handled = onNextInteraction(async (i) => {
      assert.ok(i.isChatInputCommand());
      assert.equal(i.options.getString('prompt'), 'a red circle');
      assert.equal(i.options.getInteger('frames'), 8);
      assert.equal(i.attachmentSizeLimit, 10 * 1024 * 1024);
      assert.equal(i.memberPermissions?.has('ManageMessages'), true);
      assert.equal(i.appPermissions.has('AttachFiles'), true);
      assert.equal(i.guild?.id, GUILD);
      await i.deferReply();
      const reply = await i.editReply({
        content: 'done',
        files: [{ attachment: GIF, name: 'x.gif' }],
        embeds: [new EmbedBuilder().setTitle('a red circle').setImage('attachment://x.gif').addFields({ name: 'Seed', value: '42' })],
        components: [new ActionRowBuilder<ButtonBuilder>().addComponents(new ButtonBuilder().setCustomId('reroll:1').setLabel('Reroll').setStyle(ButtonStyle.Primary))],
      });
      const followUp = await i.followUp({ content: 'and one more thing' });
      return { reply, followUp };
    });
    const { interactionId } = await slash('walk', [{ name: 'prompt', value: 'a red circle' }, { name: 'frames', value: '8' }]);
    const { reply, followUp } = await handled;

    const state = server.interactionResponse(interactionId)!;
    assert.equal(state.deferred, true);
    assert.equal(state.responseType, 5);
    assert.ok(state.acknowledgedAfterMs! < 3000);
    assert.equal(seen.loading, true, 'the deferral first shows a thinking placeholder');
    assert.equal(state.originalMessageId, reply.id, 'the placeholder became the reply');

    const message = server.message(reply.id)!;
    assert.equal(message.content, 'done');
    assert.equal(message.flags & 128, 0, 'no longer loading');
    assert.equal(message.edited_timestamp, null);
    assert.equal(message.webhook_id, server.applicationId);
    assert.equal(message.interaction_metadata?.name, 'walk');
    assert.equal(message.embeds[0]?.title, 'a red circle');
    assert.equal(message.embeds[0]?.image?.url, message.attachments[0]?.url, 'attachment:// resolves to the upload');
    assert.deepEqual((message.components[0] as { components: { custom_id: string }[] }).components[0]!.custom_id, 'reroll:1');
    const attachment = message.attachments[0]!;
    assert.equal(attachment.filename, 'x.gif');
    assert.equal(attachment.content_type, 'image/gif');
    assert.equal(attachment.size, GIF.length);
    assert.equal(attachment.width, 1);
    const fetched = await fetch(attachment.url);
    assert.equal(fetched.headers.get('content-type'), 'image/gif');
    assert.deepEqual(Buffer.from(await fetched.arrayBuffer()), GIF);
    assert.equal(reply.attachments.first()?.name, 'x.gif', 'discord.js parsed the attachment');

    assert.equal(server.message(followUp.id)?.content, 'and one more thing');
    assert.equal(server.message(followUp.id)?.interaction_metadata?.original_response_message_id, reply.id);
    const patch = server.requests.find((r) => r.method === 'PATCH' && r.route.endsWith('/messages/:messageId'))!;
    assert.equal(patch.path.endsWith('/messages/@original'), true);
    assert.deepEqual(patch.files.map((f) => [f.field, f.filename, f.size]), [['files[0]', 'x.gif', GIF.length]]);
    assert.deepEqual((patch.body as { allowed_mentions: unknown }).allowed_mentions, { parse: [] });
  });

  it('keeps only the attachments an edit lists', async () => {
    const handled = onNextInteraction(async (i) => {
      assert.ok(i.isChatInputCommand());
      await i.deferReply();
      const first = await i.editReply({ files: [{ attachment: GIF, name: 'a.gif' }, { attachment: GIF, name: 'b.gif' }] });
      const kept = first.attachments.filter((a) => a.name === 'b.gif');
      return i.editReply({ content: 'only b', attachments: [...kept.values()] });
    });
    await slash('board');
    const edited = await handled;
    assert.deepEqual(server.message(edited.id)!.attachments.map((a) => a.filename), ['b.gif']);
    assert.notEqual(server.message(edited.id)!.edited_timestamp, null);
  });

  it('shows ephemeral replies only to the invoking member', async () => {
    const handled = onNextInteraction(async (i) => {
      assert.ok(i.isChatInputCommand());
      await i.reply({ content: 'only for you', flags: MessageFlags.Ephemeral });
      return i.fetchReply();
    });
    const { interactionId } = await slash('board', [], BOB);
    const reply = await handled;
    assert.equal(server.interactionResponse(interactionId)?.ephemeral, true);
    assert.equal(server.message(reply.id)!.flags & 64, 64);
    assert.equal(server.messageMeta(reply.id)?.visibleTo, BOB);
    assert.ok(server.messages(GENERAL, { viewer: BOB }).some((m) => m.id === reply.id));
    assert.ok(!server.messages(GENERAL, { viewer: ALICE }).some((m) => m.id === reply.id));
    const channel = client.channels.cache.get(GENERAL) as TextChannel;
    await assert.rejects(channel.messages.fetch(reply.id), (e: unknown) => e instanceof DiscordAPIError && e.code === 10008);
  });

  it('opens a modal from a button and hands the submitted field to the bot', async () => {
    const board = await (client.channels.cache.get(GENERAL) as TextChannel).send({
      content: 'Who sets where it goes?',
      components: [new ActionRowBuilder<ButtonBuilder>().addComponents(new ButtonBuilder().setCustomId('board:to').setLabel('Set the target').setStyle(ButtonStyle.Secondary))],
    });
    await assert.rejects(server.clickButton({ messageId: board.id, customId: 'missing', userId: BOB }), /no button/);

    const opened = onNextInteraction(async (i) => {
      assert.ok(i.isButton());
      assert.equal(i.customId, 'board:to');
      assert.equal(i.message.id, board.id);
      assert.equal(i.user.id, BOB);
      await i.showModal(
        new ModalBuilder()
          .setCustomId('board:to:modal')
          .setTitle('Where should it go?')
          .addLabelComponents((label) =>
            label.setLabel('Prompt').setTextInputComponent((input) => input.setCustomId('to').setStyle(TextInputStyle.Short).setMaxLength(200)),
          ),
      );
    });
    const modalEvent = server.waitFor('modal');
    const click = await server.clickButton({ messageId: board.id, customId: 'board:to', userId: BOB });
    await opened;
    const [modal] = await modalEvent;
    assert.equal(modal.modal.title, 'Where should it go?');
    assert.equal(server.interactionResponse(click.interactionId)?.modalShown, true);
    assert.equal(server.openModals(BOB).length, 1);
    await assert.rejects(server.submitModal({ customId: 'board:to:modal', userId: ALICE, fields: { to: 'x' } }), /no modal/);

    const submitted = onNextInteraction(async (i) => {
      assert.ok(i.isModalSubmit() && i.isFromMessage(), 'a modal opened from a button carries its message');
      assert.equal(i.message.id, board.id);
      const value = i.fields.getTextInputValue('to');
      await i.update({ content: `Going to: ${value}`, components: [] });
      return value;
    });
    await server.submitModal({ customId: 'board:to:modal', userId: BOB, fields: { to: 'a blue square' } });
    assert.equal(await submitted, 'a blue square');
    assert.equal(server.message(board.id)?.content, 'Going to: a blue square');
    assert.deepEqual(server.message(board.id)?.components, []);
    assert.equal(server.openModals().length, 0);
  });

  it('accepts legacy action-row modals too', async () => {
    const opened = onNextInteraction(async (i) => {
      assert.ok(i.isChatInputCommand());
      await i.showModal(
        new ModalBuilder()
          .setCustomId('legacy')
          .setTitle('Legacy')
          .addComponents(new ActionRowBuilder<TextInputBuilder>().addComponents(new TextInputBuilder().setCustomId('p').setLabel('P').setStyle(TextInputStyle.Paragraph))),
      );
    });
    await slash('board');
    await opened;
    const submitted = onNextInteraction(async (i) => {
      assert.ok(i.isModalSubmit());
      await i.deferReply({ flags: MessageFlags.Ephemeral });
      return i.fields.getTextInputValue('p');
    });
    await server.submitModal({ customId: 'legacy', userId: ALICE, fields: { p: 'line one\nline two' } });
    assert.equal(await submitted, 'line one\nline two');
  });

  it('sends channel messages with files and checks the bot\'s permissions', async () => {
    const channel = client.channels.cache.get(GENERAL) as TextChannel;
    const sent = await channel.send({ content: 'late result', files: [{ attachment: GIF, name: 'late.gif' }] });
    const stored = server.message(sent.id)!;
    assert.equal(stored.author.id, server.botUserId);
    assert.equal(stored.webhook_id, undefined);
    const bytes = Buffer.from(await (await fetch(stored.attachments[0]!.url)).arrayBuffer());
    assert.deepEqual(bytes, GIF);
    const reply = await channel.send({ content: 'replying', reply: { messageReference: sent.id, failIfNotExists: false } });
    assert.equal(server.message(reply.id)?.message_reference?.message_id, sent.id);
    assert.equal(server.message(reply.id)?.type, 19);

    const locked = client.channels.cache.get(LOCKED) as TextChannel;
    await assert.rejects(
      locked.send({ files: [{ attachment: GIF, name: 'no.gif' }] }),
      (e: unknown) => e instanceof DiscordAPIError && e.code === 50013 && e.status === 403,
    );
    await locked.send('text is fine');
    await assert.rejects(channel.send({ content: 'x'.repeat(2001) }), (e: unknown) => e instanceof DiscordAPIError && e.code === 50035);
  });

  it('rejects an edit after the token expired (50027) and a callback after 3 s (10062)', async () => {
    let release!: () => void;
    const waiting = new Promise<void>((r) => (release = r));
    let deferred!: () => void;
    const isDeferred = new Promise<void>((r) => (deferred = r));
    const handled = onNextInteraction(async (i) => {
      assert.ok(i.isChatInputCommand());
      await i.deferReply();
      deferred();
      await waiting;
      return i.editReply('too late');
    });
    await slash('board');
    // The clock jumps only once the defer is in (a fixed sleep lost that race on a loaded machine).
    await isDeferred;
    skewMs = 15 * 60_000 + 1000;
    release();
    await assert.rejects(handled, (e: unknown) => e instanceof DiscordAPIError && e.code === 50027 && e.status === 401);
    skewMs = 0;

    const slow = onNextInteraction(async (i) => {
      assert.ok(i.isChatInputCommand());
      skewMs = 3500; // as if the bot took 3.5 s
      try {
        await i.deferReply();
      } finally {
        skewMs = 0;
      }
    });
    await slash('board');
    await assert.rejects(slow, (e: unknown) => e instanceof DiscordAPIError && e.code === 10062 && e.status === 404);
  });

  it('answers a second callback with 40060, also when a modal follows a defer', async () => {
    const handled = onNextInteraction(async (i) => {
      assert.ok(i.isChatInputCommand());
      await i.deferReply();
      const body = { type: 9, data: { custom_id: 'm', title: 'T', components: [{ type: 18, label: 'L', component: { type: 4, custom_id: 'f', style: 1 } }] } };
      // discord.js refuses this itself; go around it to see what the server says.
      return client.rest.post(Routes.interactionCallback(i.id, i.token), { body, auth: false });
    });
    await slash('board');
    await assert.rejects(handled, (e: unknown) => e instanceof DiscordAPIError && e.code === 40060 && e.status === 400);
  });

  it('never pings @everyone when allowed_mentions parses nothing', async () => {
    const handled = onNextInteraction(async (i) => {
      assert.ok(i.isChatInputCommand());
      await i.reply({ content: '@everyone hi' });
      const pinging = await i.followUp({ content: '@everyone hi', allowedMentions: { parse: ['everyone'] } });
      return { reply: await i.fetchReply(), pinging };
    });
    await slash('board');
    const { reply, pinging } = await handled;
    assert.equal(server.message(reply.id)?.mention_everyone, false);
    assert.deepEqual(server.messageMeta(reply.id)?.allowedMentions, [{ at: 'create', value: { parse: [] } }]);
    assert.equal(server.message(pinging.id)?.mention_everyone, true, 'the server does compute mentions');

    const sent = await (client.channels.cache.get(GENERAL) as TextChannel).send(`@everyone hi <@${BOB}>`);
    assert.equal(server.message(sent.id)?.mention_everyone, false);
    assert.deepEqual(server.message(sent.id)?.mentions, []);
  });

  it('survives a bot restart: a new client sees the same guild and messages', async () => {
    const before = server.messages(GENERAL).length;
    const sent = await (client.channels.cache.get(GENERAL) as TextChannel).send('before restart');
    await client.destroy();
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(server.connectedSessions, 0);
    const offline = await slash('board');
    assert.equal(offline.delivered, 0, 'nobody is listening while the bot is down');

    const restarted = await startClient();
    client = restarted.client;
    assert.ok(restarted.readyMs < 2000);
    const channel = client.channels.cache.get(GENERAL) as TextChannel;
    assert.equal((await channel.messages.fetch(sent.id)).content, 'before restart');
    assert.equal(server.messages(GENERAL).length, before + 1);
    const handled = onNextInteraction(async (i) => {
      assert.ok(i.isChatInputCommand());
      await i.reply('back');
    });
    await slash('board');
    await handled;
  });

  it('speaks the gateway protocol: wrong token 4004, heartbeat ack, resume -> invalid session', async () => {
    const frames = async (ws: WebSocket, send: unknown[]) => {
      const received: { op: number; d: unknown; t?: string }[] = [];
      ws.on('message', (data) => received.push(JSON.parse(String(data))));
      await new Promise((r) => ws.once('open', r));
      for (const payload of send) ws.send(JSON.stringify(payload));
      return received;
    };
    const bad = new WebSocket(`${server.gatewayUrl}?v=10&encoding=json`);
    const closed = new Promise<number>((r) => bad.once('close', (code) => r(code)));
    await frames(bad, [{ op: 2, d: { token: 'wrong', intents: 1, properties: {} } }]);
    assert.equal(await closed, 4004);

    const good = new WebSocket(`${server.gatewayUrl}/?v=10&encoding=json`);
    const got = await frames(good, [{ op: 1, d: null }, { op: 6, d: { token: TOKEN, session_id: 'x', seq: 3 } }]);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(got.map((f) => f.op), [10, 11, 9]);
    assert.equal(got[2]!.d, false);
    good.close();
    await new Promise((r) => good.once('close', r));
  });

  it('answers unknown routes and missing auth like Discord, and logs the route', async () => {
    const res = await fetch(`${server.restUrl}/v10/nowhere/at/all`);
    assert.equal(res.status, 404);
    assert.deepEqual(await res.json(), { message: '404: Not Found', code: 0 });
    assert.ok(logLines.some((l) => l.level === 'warn' && l.message.includes('GET /nowhere/at/all')));
    const unauthorized = await fetch(`${server.restUrl}/v10/users/@me`, { headers: { Authorization: 'Bot wrong' } });
    assert.equal(unauthorized.status, 401);
    assert.equal(unauthorized.headers.get('x-ratelimit-remaining'), '49');
  });

  it('closes without leaving handles behind', async () => {
    await client.destroy();
    await server.close();
    // Sockets are released a moment after close() resolves; poll briefly rather than sleep a fixed time.
    const sockets = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'TCPServerWrap');
    for (let i = 0; i < 50 && sockets().length > 0; i += 1) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(sockets(), []);
  });
});
