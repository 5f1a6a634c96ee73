/**
 * Creating, editing and deleting messages with Discord's semantics: attachments from `files[n]` parts,
 * PATCH keeps only the attachments listed in `attachments` (a file it drops, or a deleted message's files, is
 * gone from the CDN a little later, as Discord purges them), mentions computed from content and
 * `allowed_mentions` (recorded raw for tests), replies, ephemeral visibility and the deferred placeholder.
 */
import type { APIEmbed } from 'discord.js';
import { Errors, invalidFormBody } from './errors.ts';
import { wireUser } from './payloads.ts';
import { guessContentType, imageSize, type UploadedFile } from './rest/multipart.ts';
import type { SnowflakeGenerator } from './snowflake.ts';
import type { ChannelState, Store, StoredMessage } from './store.ts';
import type { LocalAttachment, LocalMessage, WireInteractionMetadata, WireUser } from './types.ts';
import { validateMessageBody, type Json } from './validate.ts';

export const MessageFlag = {
  SuppressEmbeds: 1 << 2,
  Ephemeral: 1 << 6,
  Loading: 1 << 7,
  SuppressNotifications: 1 << 12,
  IsComponentsV2: 1 << 15,
} as const;

/** Flags a sender may set; everything else in `flags` is ignored, as Discord does. */
const SETTABLE_FLAGS = MessageFlag.SuppressEmbeds | MessageFlag.SuppressNotifications | MessageFlag.IsComponentsV2;
/** Flags an edit may change. */
const EDITABLE_FLAGS = MessageFlag.SuppressEmbeds | MessageFlag.IsComponentsV2;

export interface MessageEvents {
  created(message: StoredMessage): void;
  updated(message: StoredMessage): void;
  deleted(message: StoredMessage): void;
}

export interface MessageInput {
  body: Json;
  files: UploadedFile[];
}

export interface CreateOptions {
  channel: ChannelState;
  /** Sent through an interaction (webhook author fields, ephemeral allowed) or with the bot token. */
  viaInteraction: boolean;
  fileSizeLimit: number;
  canMentionEveryone: boolean;
  /** The user an ephemeral message is shown to; without it flag 64 is ignored. */
  ephemeralFor?: string;
  /** Force ephemeral (a deferral that was ephemeral decides for the message that completes it). */
  ephemeral?: boolean;
  interactionId?: string;
  interactionMetadata?: WireInteractionMetadata;
  /** 0 default, 20 chat input command response; a reply becomes 19. */
  type?: number;
  /** The deferred "thinking" placeholder. */
  loading?: boolean;
  /** A member's own message (the user side); default: the bot. */
  authorId?: string;
}

export interface EditOptions {
  fileSizeLimit: number;
  canMentionEveryone: boolean;
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** How long a dropped attachment's URL keeps working (a client still loading it gets it; Discord purges later). */
export const DROPPED_FILE_TTL_MS = 30_000;

export class MessageService {
  constructor(
    private readonly store: Store,
    private readonly applicationId: string,
    private readonly ids: SnowflakeGenerator,
    private readonly now: () => number,
    private readonly baseUrl: () => string,
    private readonly events: MessageEvents,
    private readonly droppedFileTtlMs = DROPPED_FILE_TTL_MS,
  ) {}

  /** Files no message shows any more leave the CDN after `droppedFileTtlMs` (a long session does not pile them up). */
  #dropFiles(ids: string[]): void {
    if (ids.length === 0) return;
    const drop = () => {
      for (const id of ids) this.store.files.delete(id);
    };
    if (this.droppedFileTtlMs <= 0) drop();
    else setTimeout(drop, this.droppedFileTtlMs).unref();
  }

  create(options: CreateOptions, input: MessageInput): StoredMessage {
    const { body, files } = input;
    const { channel } = options;
    if (!options.loading) validateMessageBody(body, files, options.fileSizeLimit);
    const requested = typeof body.flags === 'number' ? body.flags : 0;
    const ephemeral =
      options.ephemeral ?? (options.ephemeralFor !== undefined && (requested & MessageFlag.Ephemeral) !== 0);
    const visibleTo = ephemeral ? (options.ephemeralFor ?? null) : null;
    let flags = requested & SETTABLE_FLAGS;
    if (ephemeral) flags |= MessageFlag.Ephemeral;
    if (options.loading) flags |= MessageFlag.Loading;

    const bot = this.store.users.get(options.authorId ?? this.store.botUserId)!;
    const reference = this.#reference(channel, body.message_reference);
    const attachments = this.#attachments(channel.id, body.attachments, files, [], ephemeral);
    const data: LocalMessage = {
      id: this.ids.next(),
      type: reference ? 19 : (options.type ?? 0),
      channel_id: channel.id,
      author: wireUser(bot),
      content: typeof body.content === 'string' ? body.content : '',
      timestamp: new Date(this.now()).toISOString(),
      edited_timestamp: null,
      tts: body.tts === true,
      mention_everyone: false,
      mentions: [],
      mention_roles: [],
      attachments,
      embeds: normalizeEmbeds(body.embeds, attachments),
      components: Array.isArray(body.components) ? body.components : [],
      pinned: false,
      flags,
      ...(typeof body.nonce === 'string' || typeof body.nonce === 'number' ? { nonce: body.nonce } : {}),
      // Interaction responses are webhook messages of the application, authored by the bot user.
      ...(options.viaInteraction ? { webhook_id: this.applicationId, application_id: this.applicationId } : {}),
      ...(options.interactionMetadata ? { interaction_metadata: options.interactionMetadata } : {}),
      ...(reference ? { message_reference: reference.ref, referenced_message: reference.message } : {}),
    };
    if (!options.loading && isEmpty(data)) throw Errors.emptyMessage();
    this.#applyMentions(data, body.allowed_mentions, options.canMentionEveryone, reference?.message ?? null);

    const stored: StoredMessage = {
      data,
      meta: {
        id: data.id,
        channelId: channel.id,
        guildId: channel.guildId,
        visibleTo,
        interactionId: options.interactionId ?? null,
        loading: options.loading === true,
        allowedMentions: options.loading ? [] : [{ at: 'create', value: body.allowed_mentions }],
        editCount: 0,
      },
    };
    this.store.addMessage(stored);
    this.events.created(stored);
    return stored;
  }

  /** PATCH semantics: absent fields stay; `attachments`, when present, lists the files to keep. */
  edit(stored: StoredMessage, input: MessageInput, options: EditOptions): StoredMessage {
    const { body, files } = input;
    validateMessageBody(body, files, options.fileSizeLimit, stored.data.flags & MessageFlag.IsComponentsV2);
    const channel = this.store.channels.get(stored.data.channel_id);
    if (!channel) throw Errors.unknownChannel();
    // Work on a copy so a refused edit leaves the message as it was.
    const data: LocalMessage = structuredClone(stored.data);
    const ephemeral = (data.flags & MessageFlag.Ephemeral) !== 0;
    if ('content' in body) data.content = typeof body.content === 'string' ? body.content : '';
    if ('components' in body) data.components = Array.isArray(body.components) ? body.components : [];
    if (typeof body.flags === 'number') {
      data.flags = (data.flags & ~EDITABLE_FLAGS) | (body.flags & EDITABLE_FLAGS);
    }
    if ('attachments' in body || files.length > 0) {
      data.attachments = this.#attachments(channel.id, body.attachments, files, data.attachments, ephemeral);
    }
    if ('embeds' in body) data.embeds = normalizeEmbeds(body.embeds, data.attachments);
    const wasLoading = stored.meta.loading;
    data.flags &= ~MessageFlag.Loading;
    if (isEmpty(data)) throw Errors.emptyMessage();
    if ('content' in body || 'allowed_mentions' in body || wasLoading) {
      const referenced = data.referenced_message ?? null;
      this.#applyMentions(data, body.allowed_mentions, options.canMentionEveryone, referenced);
    }
    // Filling the deferred placeholder is how the reply first appears; Discord does not mark it edited.
    if (!wasLoading) data.edited_timestamp = new Date(this.now()).toISOString();
    // What the edit dropped is deleted, as Discord does (a message whose preview is replaced every few seconds
    // does not pile files up).
    this.#dropFiles(stored.data.attachments.filter((old) => !data.attachments.some((a) => a.id === old.id)).map((a) => a.id));
    stored.data = data;
    stored.meta.loading = false;
    if (!wasLoading) stored.meta.editCount += 1;
    stored.meta.allowedMentions.push({ at: wasLoading ? 'create' : 'edit', value: body.allowed_mentions });
    this.events.updated(stored);
    return stored;
  }

  delete(stored: StoredMessage): void {
    if (!this.store.removeMessage(stored.data.id)) return;
    this.#dropFiles(stored.data.attachments.map((a) => a.id));
    this.events.deleted(stored);
  }

  #reference(channel: ChannelState, raw: unknown) {
    if (!isObject(raw) || typeof raw.message_id !== 'string') return undefined;
    if (raw.type === 1) return undefined; // forwards are not modelled
    const target = this.store.messages.get(raw.message_id);
    const channelId = typeof raw.channel_id === 'string' ? raw.channel_id : channel.id;
    if (!target || target.data.channel_id !== channelId || target.meta.visibleTo !== null) {
      if (raw.fail_if_not_exists === false) return undefined;
      throw invalidFormBody([{ path: 'message_reference', code: 'MESSAGE_REFERENCE_UNKNOWN_MESSAGE', message: 'Unknown message' }]);
    }
    const { referenced_message: _nested, ...message } = structuredClone(target.data);
    return {
      ref: { type: 0, message_id: target.data.id, channel_id: target.data.channel_id, guild_id: channel.guildId },
      message: message as LocalMessage,
    };
  }

  #attachments(
    channelId: string,
    listed: unknown,
    files: UploadedFile[],
    existing: LocalAttachment[],
    ephemeral: boolean,
  ): LocalAttachment[] {
    const entries = Array.isArray(listed) ? listed.filter(isObject) : undefined;
    const out: LocalAttachment[] = [];
    if (entries) {
      for (const entry of entries) {
        const id = String(entry.id);
        const kept = existing.find((a) => a.id === id);
        if (kept) {
          out.push({ ...kept, ...(typeof entry.description === 'string' ? { description: entry.description } : {}) });
          continue;
        }
        const file = files.find((f) => f.index === id);
        if (file) out.push(this.#storeFile(channelId, file, entry, ephemeral));
      }
    } else {
      out.push(...existing);
    }
    // Uploaded parts that `attachments` does not mention are still attached, as Discord does.
    for (const file of files) {
      if (!entries?.some((e) => String(e.id) === file.index)) out.push(this.#storeFile(channelId, file, {}, ephemeral));
    }
    return out;
  }

  /** A file a member attaches to a slash command option: stored and served, listed in no message. */
  upload(channelId: string, file: UploadedFile): LocalAttachment {
    const attachment = this.#storeFile(channelId, file, {}, true);
    this.store.uploads.set(attachment.id, attachment);
    return attachment;
  }

  #storeFile(channelId: string, file: UploadedFile, entry: Json, ephemeral: boolean): LocalAttachment {
    const id = this.ids.next();
    const requested = typeof entry.filename === 'string' ? entry.filename : file.filename;
    // Discord keeps only the base name and replaces characters a URL path would choke on.
    const filename = (requested.split(/[\\/]/).pop() ?? 'file').replace(/[^\w.-]+/g, '_') || 'file';
    const contentType = file.contentType || guessContentType(filename);
    this.store.files.set(id, { id, filename, contentType, data: file.data });
    const url = `${this.baseUrl()}/attachments/${channelId}/${id}/${encodeURIComponent(filename)}`;
    return {
      id,
      filename,
      size: file.data.length,
      url,
      proxy_url: url,
      content_type: contentType,
      ...imageSize(file.data),
      ...(typeof entry.description === 'string' ? { description: entry.description } : {}),
      ...(typeof entry.title === 'string' ? { title: entry.title } : {}),
      ...(ephemeral ? { ephemeral: true } : {}),
    };
  }

  /**
   * Who a message pings. Without `allowed_mentions` Discord parses everything; with it, only what `parse`,
   * `users`, `roles` and `replied_user` allow. @everyone also needs Mention Everyone (webhooks have it).
   */
  #applyMentions(data: LocalMessage, allowed: unknown, canMentionEveryone: boolean, repliedTo: LocalMessage | null): void {
    const all = allowed === undefined || allowed === null;
    const am = isObject(allowed) ? allowed : {};
    const parse = Array.isArray(am.parse) ? am.parse : [];
    const listed = (key: 'users' | 'roles', id: string) => Array.isArray(am[key]) && (am[key] as unknown[]).includes(id);
    const content = data.content;

    data.mention_everyone = /@(everyone|here)/.test(content) && canMentionEveryone && (all || parse.includes('everyone'));

    const users: WireUser[] = [];
    const add = (user: WireUser | undefined) => {
      if (user && !users.some((u) => u.id === user.id)) users.push(user);
    };
    for (const match of content.matchAll(/<@!?(\d{15,21})>/g)) {
      const id = match[1]!;
      const user = this.store.users.get(id);
      if (user && (all || parse.includes('users') || listed('users', id))) add(wireUser(user));
    }
    if (repliedTo && (all || am.replied_user === true)) add(repliedTo.author);
    data.mentions = users;

    const guild = this.store.guilds.get(this.store.channels.get(data.channel_id)?.guildId ?? '');
    const roles: string[] = [];
    for (const match of content.matchAll(/<@&(\d{15,21})>/g)) {
      const id = match[1]!;
      if (guild?.roles.has(id) && (all || parse.includes('roles') || listed('roles', id)) && !roles.includes(id)) roles.push(id);
    }
    data.mention_roles = roles;
  }
}

function isEmpty(m: LocalMessage): boolean {
  return m.content === '' && m.embeds.length === 0 && m.attachments.length === 0 && m.components.length === 0;
}

/** Embeds as Discord stores them: `type: rich`, and `attachment://name` resolved to the uploaded file. */
function normalizeEmbeds(raw: unknown, attachments: LocalAttachment[]): APIEmbed[] {
  if (!Array.isArray(raw)) return [];
  const resolve = (url: unknown) => {
    if (typeof url !== 'string' || !url.startsWith('attachment://')) return undefined;
    return attachments.find((a) => a.filename === url.slice('attachment://'.length));
  };
  return raw.filter(isObject).map((embed) => {
    const out: Json = { type: 'rich', ...embed };
    for (const key of ['image', 'thumbnail'] as const) {
      const media = embed[key];
      if (!isObject(media)) continue;
      const file = resolve(media.url);
      if (file) {
        out[key] = {
          url: file.url,
          proxy_url: file.proxy_url,
          ...(file.width ? { width: file.width, height: file.height } : {}),
          content_type: file.content_type,
        };
      }
    }
    for (const key of ['author', 'footer'] as const) {
      const part = embed[key];
      if (!isObject(part)) continue;
      const file = resolve(part.icon_url);
      if (file) out[key] = { ...part, icon_url: file.url, proxy_icon_url: file.proxy_url };
    }
    return out as APIEmbed;
  });
}
