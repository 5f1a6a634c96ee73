/**
 * The server's in-memory state: users, guilds (roles, channels, members), messages, uploaded files and
 * registered commands. Plain data plus lookups; the behaviour lives in messages.ts and interactions.ts.
 */
import {
  basePermissions,
  channelPermissions,
  DEFAULT_BOT_PERMISSIONS,
  DEFAULT_EVERYONE_PERMISSIONS,
  parsePermissions,
  type PermissionGuild,
  type PermissionOverwrite,
} from './permissions.ts';
import { compareSnowflakes, type SnowflakeGenerator } from './snowflake.ts';
import type {
  CommandPermission,
  GuildSeed,
  LocalMessage,
  MessageMeta,
  RegisteredCommand,
  StoredFile,
  LocalAttachment,
  UserSeed,
} from './types.ts';

export interface UserState {
  id: string;
  username: string;
  globalName: string | null;
  avatar: string | null;
  bot: boolean;
}

export interface RoleState {
  id: string;
  name: string;
  permissions: bigint;
  position: number;
  managed: boolean;
  botId?: string;
}

export interface ChannelState {
  id: string;
  guildId: string;
  name: string;
  type: number;
  topic: string | null;
  position: number;
  overwrites: PermissionOverwrite[];
  /** Message ids in creation order. */
  messageIds: string[];
  lastMessageId: string | null;
  /** The text channel a thread belongs to (threads take their permissions from it); null otherwise. */
  parentId: string | null;
  /** Set for threads (types 10-12). */
  thread?: ThreadState;
}

export interface ThreadState {
  archived: boolean;
  /** Only members with Manage Threads may unarchive or post in a locked thread. */
  locked: boolean;
  archiveTimestamp: string;
  autoArchiveDuration: number;
  ownerId: string;
}

/** Channel types that are threads (announcement, public and private threads). */
export const THREAD_TYPES: readonly number[] = [10, 11, 12];

export interface MemberState {
  userId: string;
  roles: string[];
  nick: string | null;
  joinedAt: string;
  locale: string;
}

export interface GuildState {
  id: string;
  name: string;
  premiumTier: number;
  ownerId: string;
  preferredLocale: string;
  joinedAt: string;
  roles: Map<string, RoleState>;
  channels: Map<string, ChannelState>;
  members: Map<string, MemberState>;
}

export interface StoredMessage {
  data: LocalMessage;
  meta: MessageMeta;
}

/** Upload limit per file for a bot in a guild of this boost tier (Nitro does not apply to bots). */
export function guildUploadLimit(premiumTier: number): number {
  const mib = 1024 * 1024;
  return premiumTier >= 3 ? 100 * mib : premiumTier === 2 ? 50 * mib : 10 * mib;
}

export class Store {
  readonly users = new Map<string, UserState>();
  readonly guilds = new Map<string, GuildState>();
  readonly channels = new Map<string, ChannelState>();
  readonly messages = new Map<string, StoredMessage>();
  readonly files = new Map<string, StoredFile>();
  /** Files a member attached to a slash command option (uploaded before the command, as the client does). */
  readonly uploads = new Map<string, LocalAttachment>();
  /** Keyed by guild id, or `global`; each map keeps registration order. */
  readonly commands = new Map<string, Map<string, RegisteredCommand>>();
  /** Command permission overwrites an admin set in a guild: `<guildId>:<commandId>` → overwrites. */
  readonly commandPermissions = new Map<string, CommandPermission[]>();

  constructor(
    readonly botUserId: string,
    bot: UserSeed,
    guilds: GuildSeed[],
    ids: SnowflakeGenerator,
    joinedAt: string,
  ) {
    this.users.set(bot.id, toUser(bot, true));
    for (const seed of guilds) this.#seedGuild(seed, ids, joinedAt);
  }

  #seedGuild(seed: GuildSeed, ids: SnowflakeGenerator, joinedAt: string): void {
    if (this.guilds.has(seed.id)) throw new Error(`guild ${seed.id} is listed twice`);
    const roles = new Map<string, RoleState>();
    // @everyone's id is the guild's id; discord.js finds it by that.
    roles.set(seed.id, {
      id: seed.id,
      name: '@everyone',
      permissions: parsePermissions(seed.everyonePermissions, DEFAULT_EVERYONE_PERMISSIONS),
      position: 0,
      managed: false,
    });
    for (const role of seed.roles ?? []) {
      roles.set(role.id, { id: role.id, name: role.name, permissions: parsePermissions(role.permissions, 0n), position: roles.size, managed: false });
    }
    const botRoleId = ids.next();
    const botName = this.users.get(this.botUserId)?.username ?? 'bot';
    roles.set(botRoleId, {
      id: botRoleId,
      name: botName,
      permissions: parsePermissions(seed.botPermissions, DEFAULT_BOT_PERMISSIONS),
      position: roles.size,
      managed: true,
      botId: this.botUserId,
    });

    const members = new Map<string, MemberState>();
    members.set(this.botUserId, { userId: this.botUserId, roles: [botRoleId], nick: null, joinedAt, locale: 'en-US' });
    for (const m of seed.members) {
      const existing = this.users.get(m.id);
      if (!existing) this.users.set(m.id, toUser(m, false));
      const memberRoles = [...(m.roles ?? [])];
      for (const r of memberRoles) if (!roles.has(r)) throw new Error(`member ${m.id} has unknown role ${r}`);
      if (m.permissions !== undefined) {
        // Discord has no per-member permissions; a role of their own makes GUILD_CREATE and interactions agree.
        const roleId = ids.next();
        roles.set(roleId, { id: roleId, name: `${m.username}'s role`, permissions: parsePermissions(m.permissions, 0n), position: roles.size, managed: false });
        memberRoles.push(roleId);
      }
      members.set(m.id, { userId: m.id, roles: memberRoles, nick: m.nick ?? null, joinedAt: m.joinedAt ?? joinedAt, locale: m.locale ?? 'en-US' });
    }

    const guild: GuildState = {
      id: seed.id,
      name: seed.name,
      premiumTier: seed.premiumTier ?? 0,
      ownerId: seed.ownerId ?? ids.next(),
      preferredLocale: seed.preferredLocale ?? 'en-US',
      joinedAt,
      roles,
      channels: new Map(),
      members,
    };
    seed.channels.forEach((c, index) => {
      if (this.channels.has(c.id)) throw new Error(`channel ${c.id} is listed twice`);
      const channel: ChannelState = {
        id: c.id,
        guildId: seed.id,
        name: c.name,
        type: c.type ?? 0,
        topic: c.topic ?? null,
        position: c.position ?? index,
        overwrites: [...(c.permissionOverwrites ?? [])],
        messageIds: [],
        lastMessageId: null,
        parentId: c.parentId ?? null,
        ...(THREAD_TYPES.includes(c.type ?? 0)
          ? {
              thread: {
                archived: c.archived ?? false,
                locked: c.locked ?? false,
                archiveTimestamp: joinedAt,
                autoArchiveDuration: 1440,
                ownerId: this.botUserId,
              },
            }
          : {}),
      };
      if (channel.thread && !seed.channels.some((p) => p.id === channel.parentId && !THREAD_TYPES.includes(p.type ?? 0))) {
        throw new Error(`thread ${c.id} needs parentId naming a text channel of the same guild listed before it`);
      }
      guild.channels.set(c.id, channel);
      this.channels.set(c.id, channel);
    });
    this.guilds.set(seed.id, guild);
  }

  permissionGuild(guild: GuildState): PermissionGuild {
    return {
      id: guild.id,
      ownerId: guild.ownerId,
      rolePermissions: (roleId) => guild.roles.get(roleId)?.permissions ?? 0n,
    };
  }

  /** A member's permissions in the guild, or in one of its channels when given (a thread: its parent's). */
  permissions(guildId: string, userId: string, channelId?: string): bigint {
    const guild = this.guilds.get(guildId);
    const member = guild?.members.get(userId);
    if (!guild || !member) return 0n;
    const who = { userId, roleIds: member.roles };
    const channel = channelId ? guild.channels.get(channelId) : undefined;
    if (!channel) return basePermissions(this.permissionGuild(guild), who);
    const parent = channel.thread ? guild.channels.get(channel.parentId ?? '') : undefined;
    return channelPermissions(this.permissionGuild(guild), who, (parent ?? channel).overwrites, { thread: channel.thread !== undefined });
  }

  /** Removes a channel with its messages (and, for a text channel, its threads); returns what was removed. */
  deleteChannel(channelId: string): ChannelState[] {
    const channel = this.channels.get(channelId);
    if (!channel) return [];
    const guild = this.guilds.get(channel.guildId);
    const removed = [channel, ...[...this.channels.values()].filter((c) => c.parentId === channelId)];
    for (const c of removed) {
      for (const id of c.messageIds) this.messages.delete(id);
      this.channels.delete(c.id);
      guild?.channels.delete(c.id);
    }
    return removed;
  }

  channelMessages(channelId: string): StoredMessage[] {
    const channel = this.channels.get(channelId);
    if (!channel) return [];
    const out: StoredMessage[] = [];
    for (const id of channel.messageIds) {
      const m = this.messages.get(id);
      if (m) out.push(m);
    }
    return out;
  }

  addMessage(message: StoredMessage): void {
    this.messages.set(message.data.id, message);
    const channel = this.channels.get(message.data.channel_id);
    if (channel) {
      channel.messageIds.push(message.data.id);
      if (!channel.lastMessageId || compareSnowflakes(message.data.id, channel.lastMessageId) > 0) {
        channel.lastMessageId = message.data.id;
      }
    }
  }

  removeMessage(id: string): StoredMessage | undefined {
    const message = this.messages.get(id);
    if (!message) return undefined;
    this.messages.delete(id);
    const channel = this.channels.get(message.data.channel_id);
    if (channel) channel.messageIds = channel.messageIds.filter((m) => m !== id);
    return message;
  }

  commandScope(guildId: string | null): Map<string, RegisteredCommand> {
    const key = guildId ?? 'global';
    let scope = this.commands.get(key);
    if (!scope) {
      scope = new Map();
      this.commands.set(key, scope);
    }
    return scope;
  }

  /** A chat-input command as a user would see it in this guild: guild commands shadow global ones. */
  findCommand(guildId: string, name: string, type = 1): RegisteredCommand | undefined {
    const matches = (c: RegisteredCommand) => c.name === name && c.type === type;
    return [...this.commandScope(guildId).values()].find(matches) ?? [...this.commandScope(null).values()].find(matches);
  }
}

function toUser(seed: UserSeed, bot: boolean): UserState {
  return { id: seed.id, username: seed.username, globalName: seed.globalName ?? null, avatar: seed.avatar ?? null, bot };
}
