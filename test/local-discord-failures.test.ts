/**
 * The failures a real Discord hands a bot that posts results, reproduced by LocalDiscord with Discord's status
 * codes and bodies, met by the real discord.js client: a deleted channel (404/10003), a channel the bot lost
 * (403/50001), a reply without Read Message History (403/160002), an archived or locked thread (400/50083),
 * a file over the guild's boost-tier limit (413/40005), a form-body error and a 500 on request, a reset bot
 * token, and command permission overwrites deciding who may run a command.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client, DiscordAPIError, Events, GatewayIntentBits, InteractionWebhook, type Interaction, type TextChannel, type ThreadChannel } from 'discord.js';
import { DiscordErrors, invalidFormBody, LocalDiscord, Permission, UserActionError } from '../src/local-discord/index.ts';

const TOKEN = 'failures-bot-token.0123456789';
const GUILD = '1410000000000000100';
const GENERAL = '1410000000000000101';
const DOOMED = '1410000000000000102';
const HIDDEN = '1410000000000000103';
const NO_HISTORY = '1410000000000000104';
const ALICE = '1410000000000000201';
const BOB = '1410000000000000202';
const MODS = '1410000000000000300';

const GIF = Buffer.concat([
  Buffer.from('GIF89a', 'latin1'),
  Buffer.from([1, 0, 1, 0, 0x80, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 0x01, 0, 0x3b]),
]);
const MiB = 1024 * 1024;

let server: LocalDiscord;
let client: Client;

async function login(token = TOKEN): Promise<Client> {
  const c = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: server.restUrl }, allowedMentions: { parse: [] } });
  const ready = new Promise<void>((resolve) => c.once(Events.ClientReady, () => resolve()));
  await c.login(token);
  await ready;
  return c;
}

function onNextInteraction<T>(handler: (i: Interaction) => Promise<T>): Promise<T> {
  return new Promise((resolve, reject) => client.once(Events.InteractionCreate, (i) => void handler(i).then(resolve, reject)));
}

function isApiError(status: number, code: number) {
  return (e: unknown) => e instanceof DiscordAPIError && e.status === status && e.code === code;
}

async function until(what: string, check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

before(async () => {
  server = await LocalDiscord.start({
    token: TOKEN,
    log: () => undefined,
    guilds: [
      {
        id: GUILD,
        name: 'Failures',
        channels: [
          { id: GENERAL, name: 'general' },
          { id: DOOMED, name: 'doomed' },
          { id: HIDDEN, name: 'hidden' },
          { id: NO_HISTORY, name: 'no-history', permissionOverwrites: [{ id: GUILD, type: 0, allow: '0', deny: Permission.ReadMessageHistory.toString() }] },
        ],
        roles: [{ id: MODS, name: 'mods', permissions: '0' }],
        members: [
          { id: ALICE, username: 'alice', permissions: Permission.ManageGuild.toString() },
          { id: BOB, username: 'bob', roles: [MODS] },
        ],
      },
    ],
  });
  client = await login();
  await client.application!.commands.set(
    [
      { name: 'ping', description: 'ping' },
      { name: 'admin', description: 'admins only', defaultMemberPermissions: Permission.ManageGuild },
    ],
    GUILD,
  );
});

after(async () => {
  await client?.destroy();
  await server?.close();
});

describe('channels', () => {
  it('a deleted channel answers 404/10003 and leaves the client\'s cache', async () => {
    const channel = (await client.channels.fetch(DOOMED)) as TextChannel;
    await channel.send('before');
    server.deleteChannel(DOOMED);
    await until('CHANNEL_DELETE', () => !client.channels.cache.has(DOOMED));
    await assert.rejects(client.channels.fetch(DOOMED), isApiError(404, 10003));
    await assert.rejects(client.rest.post(`/channels/${DOOMED}/messages`, { body: { content: 'after' } }), isApiError(404, 10003));
    assert.equal(server.messages(DOOMED).length, 0);
  });

  it('a channel the bot can no longer see answers 403/50001', async () => {
    const channel = (await client.channels.fetch(HIDDEN)) as TextChannel;
    await channel.send('visible');
    server.setPermissionOverwrite(HIDDEN, { id: server.botUserId, type: 1, deny: Permission.ViewChannel });
    await until('CHANNEL_UPDATE', () => !channel.permissionsFor(client.user!)!.has('ViewChannel'));
    await assert.rejects(channel.send('hidden'), isApiError(403, 50001));
    server.removePermissionOverwrite(HIDDEN, server.botUserId);
    await channel.send('visible again');
  });

  it('a reply without Read Message History is refused with 403/160002; a plain message goes through', async () => {
    const channel = (await client.channels.fetch(NO_HISTORY)) as TextChannel;
    const first = await channel.send('the request');
    await assert.rejects(channel.send({ content: 'a reply', reply: { messageReference: first.id, failIfNotExists: false } }), isApiError(403, 160002));
    const plain = await channel.send({ content: `<@${ALICE}> your result`, allowedMentions: { users: [ALICE] } });
    assert.deepEqual(server.message(plain.id)!.mentions.map((u) => u.id), [ALICE]);
  });
});

describe('threads', () => {
  it('an archived thread refuses edits with 400/50083; a send unarchives it unless it is locked', async () => {
    const threadId = server.createThread(GENERAL, { name: 'renders thread' });
    await until('THREAD_CREATE', () => client.channels.cache.has(threadId));
    const thread = client.channels.cache.get(threadId) as ThreadChannel;
    const handled = onNextInteraction(async (i) => {
      assert.ok(i.isChatInputCommand());
      assert.equal(i.channelId, threadId);
      await i.deferReply();
      await i.editReply('queued');
      return { applicationId: i.applicationId, token: i.token };
    });
    await server.slashCommand({ guildId: GUILD, channelId: threadId, userId: BOB, name: 'ping' });
    const { applicationId, token } = await handled;
    const sent = await thread.send('in the thread');

    server.setThreadState(threadId, { archived: true });
    await until('THREAD_UPDATE', () => thread.archived === true);
    const webhook = new InteractionWebhook(client as Client<true>, applicationId, token);
    await assert.rejects(webhook.editMessage('@original', { content: 'result' }), isApiError(400, 50083));
    await assert.rejects(thread.messages.edit(sent.id, 'edited'), isApiError(400, 50083));
    await assert.rejects(server.slashCommand({ guildId: GUILD, channelId: threadId, userId: BOB, name: 'ping' }), UserActionError);
    // Posting unarchives it (and the clients hear of it).
    await thread.send('unarchives');
    await until('unarchived', () => thread.archived === false);

    server.setThreadState(threadId, { archived: true, locked: true });
    await until('locked', () => thread.locked === true);
    await assert.rejects(thread.send('locked out'), isApiError(400, 50083));
    await assert.rejects(webhook.send({ content: 'follow-up' }), isApiError(400, 50083));
  });
});

describe('uploads', () => {
  it('a file over the guild\'s boost-tier limit is refused with 413/40005; tier 2 takes 50 MiB and interactions say so', async () => {
    const channel = client.channels.cache.get(GENERAL) as TextChannel;
    const big = Buffer.concat([GIF, Buffer.alloc(11 * MiB)]);
    await assert.rejects(channel.send({ files: [{ attachment: big, name: 'big.gif' }] }), isApiError(413, 40005));
    const limit = onNextInteraction(async (i) => {
      await (i as import('discord.js').ChatInputCommandInteraction).reply('ok');
      return i.attachmentSizeLimit;
    });
    server.setPremiumTier(GUILD, 2);
    await until('GUILD_UPDATE', () => client.guilds.cache.get(GUILD)!.premiumTier === 2);
    await server.slashCommand({ guildId: GUILD, channelId: GENERAL, userId: BOB, name: 'ping' });
    assert.equal(await limit, 50 * MiB);
    await channel.send({ files: [{ attachment: big, name: 'big.gif' }] });
    server.setPremiumTier(GUILD, 0);
  });
});

describe('failures on request', () => {
  it('the next matching requests fail with the error asked for, and are recorded like real failures', async () => {
    const channel = client.channels.cache.get(GENERAL) as TextChannel;
    const form = server.failRequests({
      method: 'POST',
      route: '/channels/:channelId/messages',
      params: { channelId: GENERAL },
      times: 2,
      error: () => invalidFormBody([{ path: 'embeds.0.fields.0.value', code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 1024 or fewer in length.' }]),
    });
    const refused = await channel.send('one').catch((e: unknown) => e);
    assert.ok(refused instanceof DiscordAPIError && refused.status === 400 && refused.code === 50035, String(refused));
    assert.deepEqual((refused.rawError as { errors?: unknown }).errors, {
      embeds: { 0: { fields: { 0: { value: { _errors: [{ code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 1024 or fewer in length.' }] } } } } },
    });
    await assert.rejects(channel.send('two'), isApiError(400, 50035));
    await channel.send('three');
    assert.equal(form.hits, 2);

    const files = server.failRequests({ withFiles: true, times: Infinity, error: DiscordErrors.tooLarge() });
    await assert.rejects(channel.send({ files: [{ attachment: GIF, name: 'small.gif' }] }), isApiError(413, 40005));
    files.remove();
    await channel.send({ files: [{ attachment: GIF, name: 'small.gif' }] });
    assert.ok(server.requests.some((r) => r.errorCode === 40005 && r.status === 413));
  });
});

describe('token reset', () => {
  it('the old token gets 401 and its gateway session ends with 4004; the new one logs in', async () => {
    const closed = new Promise<number>((resolve) => client.once(Events.ShardDisconnect, (event) => resolve(event.code)));
    const old = client;
    const fresh = server.resetToken();
    assert.equal(await closed, 4004);
    await assert.rejects(old.rest.get('/users/@me'), (e: unknown) => e instanceof DiscordAPIError && e.status === 401);
    await old.destroy();
    client = await login(fresh);
    assert.equal(client.user!.id, server.botUserId);
  });
});

describe('command permissions', () => {
  it('default_member_permissions hides a command unless an overwrite lets a role, a user or a channel in', async () => {
    await assert.rejects(server.slashCommand({ guildId: GUILD, channelId: GENERAL, userId: BOB, name: 'admin' }), /may not use \/admin/);
    server.setCommandPermissions(GUILD, 'admin', [{ id: MODS, type: 1, permission: true }]);
    const seen = onNextInteraction(async (i) => {
      assert.ok(i.isChatInputCommand());
      await i.reply('ok');
      return i.memberPermissions?.has('ManageGuild');
    });
    await server.slashCommand({ guildId: GUILD, channelId: GENERAL, userId: BOB, name: 'admin' });
    assert.equal(await seen, false, 'the interaction still carries the member\'s own permissions');
    // A channel overwrite switches the command off there, even for the role.
    server.setCommandPermissions(GUILD, 'admin', [
      { id: MODS, type: 1, permission: true },
      { id: NO_HISTORY, type: 3, permission: false },
    ]);
    await assert.rejects(server.slashCommand({ guildId: GUILD, channelId: NO_HISTORY, userId: BOB, name: 'admin' }), /may not use/);
    // A user overwrite beats the role's.
    server.setCommandPermissions(GUILD, 'admin', [
      { id: MODS, type: 1, permission: true },
      { id: BOB, type: 2, permission: false },
    ]);
    await assert.rejects(server.slashCommand({ guildId: GUILD, channelId: GENERAL, userId: BOB, name: 'admin' }), /may not use/);
    server.setCommandPermissions(GUILD, 'admin', []);
  });
});
