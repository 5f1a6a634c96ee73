/**
 * Channel routes the bot uses with its own token: read a channel, send (JSON or multipart files), edit,
 * delete, fetch and list messages. Permissions are the bot's in that channel, as Discord checks them, so a
 * test can take Attach Files away and see 50013, or Read Message History and see a reply refused with 160002.
 * Threads follow their parent's permissions (Send Messages in Threads to post) and the archive rules of
 * threads.ts.
 */
import { Errors } from '../../errors.ts';
import { Permission } from '../../permissions.ts';
import { assertEditable, prepareSend } from '../../threads.ts';
import { wireChannel } from '../../payloads.ts';
import { guildUploadLimit, type ChannelState, type StoredMessage } from '../../store.ts';
import { compareSnowflakes } from '../../snowflake.ts';
import type { Json } from '../../validate.ts';
import type { RestContext } from '../context.ts';
import { noContent, ok, type Route, type RouteRequest } from '../router.ts';

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export function channelRoutes(ctx: RestContext): Route[] {
  const { store } = ctx;

  const channelOf = (req: RouteRequest): { channel: ChannelState; perms: bigint } => {
    const channel = store.channels.get(req.params.channelId ?? '');
    if (!channel) throw Errors.unknownChannel();
    const perms = store.permissions(channel.guildId, store.botUserId, channel.id);
    if (!(perms & Permission.ViewChannel)) throw Errors.missingAccess();
    return { channel, perms };
  };

  // Ephemeral messages exist only for the user they were shown to; the bot's channel routes never see them.
  const messageOf = (req: RouteRequest, channel: ChannelState): StoredMessage => {
    const message = store.messages.get(req.params.messageId ?? '');
    if (!message || message.data.channel_id !== channel.id || message.meta.visibleTo !== null) throw Errors.unknownMessage();
    return message;
  };

  const uploadLimit = (channel: ChannelState) => guildUploadLimit(store.guilds.get(channel.guildId)?.premiumTier ?? 0);
  const body = (req: RouteRequest): Json => (isObject(req.body.json) ? req.body.json : {});

  return [
    { method: 'GET', pattern: '/channels/:channelId', auth: true, handle: (req) => ok(wireChannel(channelOf(req).channel)) },
    {
      method: 'GET',
      pattern: '/channels/:channelId/messages',
      auth: true,
      handle: (req) => {
        const { channel, perms } = channelOf(req);
        if (!(perms & Permission.ReadMessageHistory)) return ok([]);
        const limit = Math.min(Math.max(Number(req.query.get('limit') ?? 50) || 50, 1), 100);
        const before = req.query.get('before');
        const after = req.query.get('after');
        const around = req.query.get('around');
        let list = store.channelMessages(channel.id).filter((m) => m.meta.visibleTo === null);
        if (around) {
          // Half before and half after the given message, the message itself included.
          const older = list.filter((m) => compareSnowflakes(m.data.id, around) < 0).slice(-Math.floor(limit / 2));
          const newer = list.filter((m) => compareSnowflakes(m.data.id, around) >= 0).slice(0, limit - older.length);
          list = [...older, ...newer];
        } else if (after) {
          list = list.filter((m) => compareSnowflakes(m.data.id, after) > 0).slice(0, limit);
        } else {
          if (before) list = list.filter((m) => compareSnowflakes(m.data.id, before) < 0);
          list = list.slice(-limit);
        }
        return ok(list.reverse().map((m) => m.data)); // newest first
      },
    },
    {
      method: 'POST',
      pattern: '/channels/:channelId/messages',
      auth: true,
      handle: (req) => {
        const { channel, perms } = channelOf(req);
        if (!(perms & (channel.thread ? Permission.SendMessagesInThreads : Permission.SendMessages))) throw Errors.missingPermissions();
        if (req.body.files.length > 0 && !(perms & Permission.AttachFiles)) throw Errors.missingPermissions();
        const json = body(req);
        // A reply needs Read Message History (developers/resources/message.mdx, Create Message).
        if (isObject(json.message_reference) && !(perms & Permission.ReadMessageHistory)) throw Errors.cannotReplyWithoutHistory();
        if (prepareSend(channel, ctx.now)) ctx.channelChanged(channel);
        const message = ctx.messages.create(
          {
            channel,
            viaInteraction: false,
            fileSizeLimit: uploadLimit(channel),
            canMentionEveryone: (perms & Permission.MentionEveryone) !== 0n,
          },
          { body: json, files: req.body.files },
        );
        return ok(message.data);
      },
    },
    {
      method: 'GET',
      pattern: '/channels/:channelId/messages/:messageId',
      auth: true,
      handle: (req) => {
        const { channel, perms } = channelOf(req);
        if (!(perms & Permission.ReadMessageHistory)) throw Errors.missingAccess();
        return ok(messageOf(req, channel).data);
      },
    },
    {
      method: 'PATCH',
      pattern: '/channels/:channelId/messages/:messageId',
      auth: true,
      handle: (req) => {
        const { channel, perms } = channelOf(req);
        const message = messageOf(req, channel);
        if (message.data.author.id !== store.botUserId) throw Errors.cannotEditOthers();
        if (req.body.files.length > 0 && !(perms & Permission.AttachFiles)) throw Errors.missingPermissions();
        assertEditable(channel);
        const edited = ctx.messages.edit(
          message,
          { body: body(req), files: req.body.files },
          { fileSizeLimit: uploadLimit(channel), canMentionEveryone: (perms & Permission.MentionEveryone) !== 0n },
        );
        return ok(edited.data);
      },
    },
    {
      method: 'DELETE',
      pattern: '/channels/:channelId/messages/:messageId',
      auth: true,
      handle: (req) => {
        const { channel, perms } = channelOf(req);
        const message = messageOf(req, channel);
        if (message.data.author.id !== store.botUserId && !(perms & Permission.ManageMessages)) throw Errors.missingPermissions();
        ctx.messages.delete(message);
        return noContent();
      },
    },
    {
      method: 'POST',
      pattern: '/channels/:channelId/typing',
      auth: true,
      handle: (req) => {
        channelOf(req);
        return noContent();
      },
    },
  ];
}
