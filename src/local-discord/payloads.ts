/**
 * Builders for the wire objects Discord sends: users, members, roles, channels, guilds (REST and
 * GUILD_CREATE) and the READY payload. Field lists follow what discord.js 14 reads when it builds its
 * structures (for example Guild marks itself unavailable when `channels` is missing).
 */
import type { ChannelState, GuildState, MemberState, RoleState, Store, UserState } from './store.ts';
import type { WireUser } from './types.ts';

export function wireUser(user: UserState): WireUser {
  return {
    id: user.id,
    username: user.username,
    discriminator: '0',
    global_name: user.globalName,
    avatar: user.avatar,
    ...(user.bot ? { bot: true } : {}),
    public_flags: 0,
  };
}

export function wireRole(role: RoleState) {
  return {
    id: role.id,
    name: role.name,
    color: 0,
    colors: { primary_color: 0, secondary_color: null, tertiary_color: null },
    hoist: false,
    icon: null,
    unicode_emoji: null,
    position: role.position,
    permissions: role.permissions.toString(),
    managed: role.managed,
    mentionable: false,
    flags: 0,
    ...(role.botId ? { tags: { bot_id: role.botId } } : {}),
  };
}

export function wireMember(store: Store, member: MemberState, withUser = true) {
  const user = store.users.get(member.userId);
  return {
    ...(withUser && user ? { user: wireUser(user) } : {}),
    nick: member.nick,
    avatar: null,
    banner: null,
    roles: [...member.roles],
    joined_at: member.joinedAt,
    premium_since: null,
    deaf: false,
    mute: false,
    flags: 0,
    pending: false,
    communication_disabled_until: null,
  };
}

export function wireChannel(channel: ChannelState) {
  if (channel.thread) {
    const t = channel.thread;
    return {
      id: channel.id,
      type: channel.type,
      guild_id: channel.guildId,
      name: channel.name,
      parent_id: channel.parentId,
      owner_id: t.ownerId,
      last_message_id: channel.lastMessageId,
      rate_limit_per_user: 0,
      message_count: channel.messageIds.length,
      member_count: 1,
      thread_metadata: {
        archived: t.archived,
        auto_archive_duration: t.autoArchiveDuration,
        archive_timestamp: t.archiveTimestamp,
        locked: t.locked,
      },
      flags: 0,
    };
  }
  return {
    id: channel.id,
    type: channel.type,
    guild_id: channel.guildId,
    name: channel.name,
    position: channel.position,
    permission_overwrites: channel.overwrites.map((o) => ({ ...o })),
    topic: channel.topic,
    nsfw: false,
    last_message_id: channel.lastMessageId,
    rate_limit_per_user: 0,
    parent_id: channel.parentId,
    flags: 0,
  };
}

/** The guild object of `GET /guilds/{id}`. */
export function wireGuild(guild: GuildState) {
  const firstText = [...guild.channels.values()].find((c) => c.type === 0);
  return {
    id: guild.id,
    name: guild.name,
    icon: null,
    splash: null,
    discovery_splash: null,
    owner_id: guild.ownerId,
    afk_channel_id: null,
    afk_timeout: 300,
    widget_enabled: false,
    verification_level: 0,
    default_message_notifications: 1,
    explicit_content_filter: 0,
    roles: [...guild.roles.values()].map(wireRole),
    emojis: [],
    features: [],
    mfa_level: 0,
    application_id: null,
    system_channel_id: firstText?.id ?? null,
    system_channel_flags: 0,
    rules_channel_id: null,
    max_members: 500_000,
    vanity_url_code: null,
    description: null,
    banner: null,
    premium_tier: guild.premiumTier,
    premium_subscription_count: 0,
    preferred_locale: guild.preferredLocale,
    public_updates_channel_id: null,
    nsfw_level: 0,
    stickers: [],
    premium_progress_bar_enabled: false,
    safety_alerts_channel_id: null,
  };
}

/** GUILD_CREATE: the guild plus the gateway-only fields (channels, members, counts). */
export function guildCreate(store: Store, guild: GuildState) {
  return {
    ...wireGuild(guild),
    joined_at: guild.joinedAt,
    large: false,
    unavailable: false,
    member_count: guild.members.size,
    voice_states: [],
    members: [...guild.members.values()].map((m) => wireMember(store, m)),
    channels: [...guild.channels.values()].filter((c) => !c.thread).map((c) => {
      // Channels in GUILD_CREATE carry no guild_id; discord.js fills it in from the guild.
      const { guild_id: _guildId, ...rest } = wireChannel(c);
      return rest;
    }),
    // Only active threads are synced up front; archived ones are fetched when needed.
    threads: [...guild.channels.values()].filter((c) => c.thread && !c.thread.archived).map(wireChannel),
    presences: [],
    stage_instances: [],
    guild_scheduled_events: [],
    soundboard_sounds: [],
  };
}

export function wireApplication(store: Store, applicationId: string) {
  const bot = store.users.get(store.botUserId);
  return {
    id: applicationId,
    name: bot?.username ?? 'bot',
    icon: null,
    description: '',
    bot_public: true,
    bot_require_code_grant: false,
    verify_key: '0'.repeat(64),
    flags: 0,
    team: null,
    summary: '',
    ...(bot ? { bot: wireUser(bot) } : {}),
    install_params: { scopes: ['bot', 'applications.commands'], permissions: '0' },
    integration_types_config: { '0': {} },
  };
}
