/**
 * The user side: what a person does in Discord's client, turned into INTERACTION_CREATE dispatches with
 * every field discord.js 14 reads (entitlements array, authorizing_integration_owners object, member with
 * permissions, app_permissions, attachment_size_limit, ...). Refuses what the client would not offer.
 */
import { randomBytes } from 'node:crypto';
import { UserActionError } from '../errors.ts';
import { codePointLength } from '../validate.ts';
import { Permission } from '../permissions.ts';
import { wireChannel, wireMember, wireUser } from '../payloads.ts';
import type { SnowflakeGenerator } from '../snowflake.ts';
import { guildUploadLimit, type ChannelState, type GuildState, type MemberState, type Store, type UserState } from '../store.ts';
import type {
  ButtonClickInput,
  InteractionHandle,
  MessageCommandInput,
  ModalSubmitInput,
  OpenedModal,
  SlashCommandInput,
  WireInteractionMetadata,
} from '../types.ts';
import { mayUseCommand } from './access.ts';
import { buildOptions, type Resolved, type WireOption } from './options.ts';
import { InteractionType, type InteractionRecord, type InteractionRegistry } from './registry.ts';

export interface ActionDeps {
  store: Store;
  registry: InteractionRegistry;
  ids: SnowflakeGenerator;
  now: () => number;
  applicationId: string;
  tokenTtlMs: number;
  /** Sent as `attachment_size_limit`; undefined: the guild's boost-tier limit, as Discord computes it for bots. */
  attachmentSizeLimit: number | undefined;
  allowUnregisteredCommands: boolean;
  /** Sends INTERACTION_CREATE to the connected bot sessions; returns how many got it. */
  dispatch: (payload: Record<string, unknown>) => number;
}

interface Context {
  guild: GuildState;
  channel: ChannelState;
  member: MemberState;
  user: UserState;
  /** The user's permissions in the channel. */
  permissions: bigint;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export class UserActions {
  constructor(private readonly deps: ActionDeps) {}

  slashCommand(input: SlashCommandInput, autocomplete = false): InteractionHandle {
    const ctx = this.#context(input.guildId, input.channelId, input.userId);
    if (!(ctx.permissions & Permission.UseApplicationCommands)) {
      throw new UserActionError(`${ctx.user.username} may not use application commands in #${ctx.channel.name}`);
    }
    const command = this.deps.store.findCommand(ctx.guild.id, input.name);
    if (!command && !this.deps.allowUnregisteredCommands) {
      throw new UserActionError(`/${input.name} is not registered (globally or in ${ctx.guild.name})`);
    }
    if (command && !mayUseCommand(this.deps.store, this.deps.applicationId, ctx.guild, ctx.member, ctx.channel.id, command)) {
      throw new UserActionError(`${ctx.user.username} may not use /${input.name}`);
    }
    const resolved: Resolved = {};
    const options = buildOptions(
      this.deps.store, ctx.guild, input.options ?? [], command?.options as never, `/${input.name}`, autocomplete, resolved,
    );
    const focused = findFocused(options);
    if (autocomplete && focused.length !== 1) {
      throw new UserActionError('an autocomplete needs one option with focused: true');
    }
    const record = this.#record(autocomplete ? InteractionType.Autocomplete : InteractionType.ApplicationCommand, ctx, {
      commandName: input.name,
    });
    if (autocomplete) record.focusedOptionType = focused[0]!.type;
    const data = {
      id: command?.id ?? this.deps.ids.next(),
      name: input.name,
      type: 1,
      ...(options.length ? { options } : {}),
      ...(Object.keys(resolved).length ? { resolved } : {}),
      ...(command?.guild_id ? { guild_id: command.guild_id } : {}),
    };
    return this.#send(record, ctx, { data });
  }

  /** A message context menu command on `messageId`, with the message in `resolved.messages` as Discord sends it. */
  messageCommand(input: MessageCommandInput): InteractionHandle {
    const stored = this.deps.store.messages.get(input.messageId);
    if (!stored) throw new UserActionError(`no message ${input.messageId}`);
    const ctx = this.#context(stored.meta.guildId ?? '', stored.data.channel_id, input.userId);
    if (stored.meta.visibleTo !== null && stored.meta.visibleTo !== input.userId) {
      throw new UserActionError(`message ${input.messageId} is ephemeral and not shown to ${ctx.user.username}`);
    }
    if (!(ctx.permissions & Permission.UseApplicationCommands)) {
      throw new UserActionError(`${ctx.user.username} may not use application commands in #${ctx.channel.name}`);
    }
    const command = this.deps.store.findCommand(ctx.guild.id, input.name, 3);
    if (!command) throw new UserActionError(`no message command "${input.name}" is registered`);
    if (!mayUseCommand(this.deps.store, this.deps.applicationId, ctx.guild, ctx.member, ctx.channel.id, command)) {
      throw new UserActionError(`${ctx.user.username} may not use "${input.name}"`);
    }
    const record = this.#record(InteractionType.ApplicationCommand, ctx, { commandName: input.name, commandType: 3 });
    const message = { ...structuredClone(stored.data), ...(stored.meta.guildId ? { guild_id: stored.meta.guildId } : {}) };
    return this.#send(record, ctx, {
      data: {
        id: command.id,
        name: input.name,
        type: 3,
        target_id: stored.data.id,
        resolved: { messages: { [stored.data.id]: message } },
        ...(command.guild_id ? { guild_id: command.guild_id } : {}),
      },
    });
  }

  clickButton(input: ButtonClickInput): InteractionHandle {
    const stored = this.deps.store.messages.get(input.messageId);
    if (!stored) throw new UserActionError(`no message ${input.messageId}`);
    const ctx = this.#context(stored.meta.guildId ?? '', stored.data.channel_id, input.userId);
    if (stored.meta.visibleTo !== null && stored.meta.visibleTo !== input.userId) {
      throw new UserActionError(`message ${input.messageId} is ephemeral and not shown to ${ctx.user.username}`);
    }
    const button = findComponent(stored.data.components, input.customId);
    if (!button || button.type !== 2) throw new UserActionError(`message ${input.messageId} has no button "${input.customId}"`);
    if (button.disabled === true) throw new UserActionError(`button "${input.customId}" is disabled`);
    const record = this.#record(InteractionType.MessageComponent, ctx, { customId: input.customId, sourceMessageId: stored.data.id });
    return this.#send(record, ctx, {
      message: structuredClone(stored.data),
      data: { custom_id: input.customId, component_type: 2, ...(typeof button.id === 'number' ? { id: button.id } : {}) },
    });
  }

  submitModal(input: ModalSubmitInput): InteractionHandle {
    const opened = this.deps.registry.modals.findLast(
      (m) => m.userId === input.userId && m.modal.custom_id === input.customId && !m.submitted,
    );
    if (!opened) throw new UserActionError(`no modal "${input.customId}" is open for user ${input.userId}`);
    if ((input.channelId && input.channelId !== opened.channelId) || (input.guildId && input.guildId !== opened.guildId)) {
      throw new UserActionError(`modal "${input.customId}" was opened in another channel`);
    }
    const ctx = this.#context(opened.guildId, opened.channelId, input.userId);
    const { components, attachments } = submittedComponents(opened, input.fields, (id) => this.deps.store.uploads.get(id));
    opened.submitted = true;
    const messageId = input.messageId ?? opened.messageId;
    const message = messageId ? this.deps.store.messages.get(messageId) : undefined;
    const record = this.#record(InteractionType.ModalSubmit, ctx, {
      customId: input.customId,
      sourceMessageId: message ? message.data.id : null,
      openerId: opened.interactionId,
    });
    return this.#send(record, ctx, {
      ...(message ? { message: structuredClone(message.data) } : {}),
      data: { custom_id: input.customId, components, ...(Object.keys(attachments).length ? { resolved: { attachments } } : {}) },
    });
  }

  #context(guildId: string, channelId: string, userId: string): Context {
    const { store } = this.deps;
    const guild = store.guilds.get(guildId);
    if (!guild) throw new UserActionError(`no guild ${guildId}`);
    const channel = guild.channels.get(channelId);
    if (!channel) throw new UserActionError(`no channel ${channelId} in ${guild.name}`);
    const member = guild.members.get(userId);
    const user = store.users.get(userId);
    if (!member || !user) throw new UserActionError(`user ${userId} is not a member of ${guild.name}`);
    const permissions = store.permissions(guild.id, userId, channel.id);
    if (!(permissions & Permission.ViewChannel)) throw new UserActionError(`${user.username} cannot see #${channel.name}`);
    if (channel.thread?.archived) throw new UserActionError(`#${channel.name} is an archived thread: nobody can use commands or buttons there`);
    return { guild, channel, member, user, permissions };
  }

  #record(
    type: number,
    ctx: Context,
    extra: { commandName?: string; commandType?: number; customId?: string; sourceMessageId?: string | null; openerId?: string },
  ): InteractionRecord {
    const id = this.deps.ids.next();
    const now = this.deps.now();
    const opener = extra.openerId ? this.deps.registry.get(extra.openerId) : undefined;
    const metadata: WireInteractionMetadata = {
      id,
      type,
      user: wireUser(ctx.user),
      authorizing_integration_owners: { '0': ctx.guild.id },
      ...(extra.commandName ? { name: extra.commandName, command_type: extra.commandType ?? 1 } : {}),
      // Set for clicks, and for modal submits whose modal a click opened.
      ...(extra.sourceMessageId ? { interacted_message_id: extra.sourceMessageId } : {}),
      ...(opener ? { triggering_interaction_metadata: opener.metadata } : {}),
    };
    const record: InteractionRecord = {
      id,
      // Real tokens are opaque base64 strings a few hundred characters long; only uniqueness matters here.
      token: Buffer.from(`interaction:${id}:${randomBytes(32).toString('hex')}`).toString('base64url'),
      type,
      guildId: ctx.guild.id,
      channelId: ctx.channel.id,
      userId: ctx.user.id,
      commandName: extra.commandName ?? null,
      customId: extra.customId ?? null,
      sourceMessageId: extra.sourceMessageId ?? null,
      openerId: extra.openerId ?? null,
      createdAt: now,
      tokenExpiresAt: now + this.deps.tokenTtlMs,
      attachmentSizeLimit: this.deps.attachmentSizeLimit ?? guildUploadLimit(ctx.guild.premiumTier),
      response: null,
      deferred: false,
      ephemeral: false,
      modal: null,
      originalMessageId: null,
      followUpIds: [],
      autocompleteChoices: null,
      focusedOptionType: null,
      metadata,
    };
    this.deps.registry.add(record);
    return record;
  }

  #send(record: InteractionRecord, ctx: Context, extra: Json): InteractionHandle {
    const { store, applicationId } = this.deps;
    const appPermissions = store.permissions(ctx.guild.id, store.botUserId, ctx.channel.id);
    const payload = {
      id: record.id,
      application_id: applicationId,
      type: record.type,
      token: record.token,
      version: 1,
      guild_id: ctx.guild.id,
      guild: { id: ctx.guild.id, locale: ctx.guild.preferredLocale, features: [] },
      channel_id: ctx.channel.id,
      channel: { ...wireChannel(ctx.channel), permissions: ctx.permissions.toString() },
      member: { ...wireMember(store, ctx.member), permissions: ctx.permissions.toString() },
      app_permissions: appPermissions.toString(),
      locale: ctx.member.locale,
      guild_locale: ctx.guild.preferredLocale,
      entitlements: [],
      authorizing_integration_owners: { '0': ctx.guild.id },
      context: 0,
      attachment_size_limit: record.attachmentSizeLimit,
      ...extra,
    };
    const delivered = this.deps.dispatch(payload);
    return { interactionId: record.id, token: record.token, delivered };
  }
}

/** The options marked focused, at any depth (subcommands). */
function findFocused(options: readonly WireOption[]): WireOption[] {
  return options.flatMap((o) => [...(o.focused ? [o] : []), ...findFocused(o.options ?? [])]);
}

/** Depth-first search through action rows, containers and section accessories. */
function findComponent(components: unknown, customId: string): Json | undefined {
  if (!Array.isArray(components)) return undefined;
  for (const c of components) {
    if (!isObject(c)) continue;
    if (c.custom_id === customId) return c;
    const inner = findComponent(c.components, customId) ?? (isObject(c.accessory) ? findComponent([c.accessory], customId) : undefined);
    if (inner) return inner;
  }
  return undefined;
}

/**
 * The `data.components` of a modal submit: the modal's own layout (labels or legacy action rows) with each
 * input's value, and numeric ids assigned depth-first where the bot gave none, as Discord does.
 */
function submittedComponents(opened: OpenedModal, fields: Record<string, string | string[]>, upload: (id: string) => object | undefined): { components: Json[]; attachments: Record<string, Json> } {
  const attachments: Record<string, Json> = {};
  let nextId = 0;
  const used = new Set<string>();
  const idOf = (c: Json) => (typeof c.id === 'number' ? c.id : ++nextId);
  const input = (c: Json): Json => {
    const id = idOf(c);
    const customId = String(c.custom_id);
    used.add(customId);
    const given = fields[customId];
    if (c.type === 4) {
      const value = Array.isArray(given) ? given.join(',') : (given ?? '');
      const name = `field "${customId}" of modal "${opened.modal.custom_id}"`;
      if (c.required !== false && value === '') throw new UserActionError(`${name} is required`);
      const length = codePointLength(value);
      if (typeof c.min_length === 'number' && value !== '' && length < c.min_length) throw new UserActionError(`${name} needs at least ${c.min_length} characters`);
      if (typeof c.max_length === 'number' && length > c.max_length) throw new UserActionError(`${name} allows at most ${c.max_length} characters`);
      return { type: 4, id, custom_id: customId, value };
    }
    const values = given === undefined ? [] : Array.isArray(given) ? given : [given];
    if (c.type === 19) {
      // A file upload: the ids of files uploaded first (uploadAttachment), resolved as Discord sends them.
      const name = `file upload "${customId}" of modal "${opened.modal.custom_id}"`;
      const min = typeof c.min_values === 'number' ? c.min_values : 1;
      const max = typeof c.max_values === 'number' ? c.max_values : 1;
      if (c.required !== false && values.length === 0) throw new UserActionError(`${name} is required`);
      if (values.length > 0 && values.length < min) throw new UserActionError(`${name} needs at least ${min} files`);
      if (values.length > max) throw new UserActionError(`${name} takes at most ${max} files`);
      for (const value of values) {
        const file = upload(value);
        if (!file) throw new UserActionError(`no uploaded attachment ${value} (upload it with uploadAttachment first)`);
        attachments[value] = { ...file };
      }
    }
    return { type: c.type, id, custom_id: customId, values };
  };
  const out = (opened.modal.components as unknown[]).filter(isObject).map((c): Json => {
    const id = idOf(c);
    if (c.type === 1) return { type: 1, id, components: (Array.isArray(c.components) ? c.components : []).filter(isObject).map(input) };
    if (c.type === 18 && isObject(c.component)) return { type: 18, id, component: input(c.component) };
    return { type: c.type, id };
  });
  for (const key of Object.keys(fields)) {
    if (!used.has(key)) throw new UserActionError(`modal "${opened.modal.custom_id}" has no field "${key}"`);
  }
  return { components: out, attachments };
}
