/**
 * Permission bits and Discord's permission computation (guild base, then channel overwrites), so that
 * `member.permissions` and `app_permissions` in interactions match what the roles in GUILD_CREATE say.
 */
export const Permission = {
  CreateInstantInvite: 1n << 0n,
  KickMembers: 1n << 1n,
  BanMembers: 1n << 2n,
  Administrator: 1n << 3n,
  ManageChannels: 1n << 4n,
  ManageGuild: 1n << 5n,
  AddReactions: 1n << 6n,
  ViewChannel: 1n << 10n,
  SendMessages: 1n << 11n,
  SendTTSMessages: 1n << 12n,
  ManageMessages: 1n << 13n,
  EmbedLinks: 1n << 14n,
  AttachFiles: 1n << 15n,
  ReadMessageHistory: 1n << 16n,
  MentionEveryone: 1n << 17n,
  UseExternalEmojis: 1n << 18n,
  ChangeNickname: 1n << 26n,
  ManageRoles: 1n << 28n,
  UseApplicationCommands: 1n << 31n,
  ManageThreads: 1n << 34n,
  SendMessagesInThreads: 1n << 38n,
} as const;

/** Every bit Discord currently defines (through Bypass Slowmode, 1 << 52); what an administrator or the owner gets. */
export const ALL_PERMISSIONS = (1n << 53n) - 1n;

/** What @everyone may do in a fresh server. */
export const DEFAULT_EVERYONE_PERMISSIONS =
  Permission.CreateInstantInvite | Permission.AddReactions | Permission.ViewChannel | Permission.SendMessages |
  Permission.EmbedLinks | Permission.AttachFiles | Permission.ReadMessageHistory | Permission.UseExternalEmojis |
  Permission.ChangeNickname | Permission.UseApplicationCommands | Permission.SendMessagesInThreads;

/** What a bot invited with the usual scopes (no Administrator) gets through its managed role. */
export const DEFAULT_BOT_PERMISSIONS =
  Permission.ViewChannel | Permission.SendMessages | Permission.EmbedLinks | Permission.AttachFiles |
  Permission.ReadMessageHistory | Permission.AddReactions | Permission.UseExternalEmojis |
  Permission.UseApplicationCommands | Permission.SendMessagesInThreads;

export interface PermissionOverwrite {
  id: string;
  /** 0 role, 1 member */
  type: 0 | 1;
  allow: string;
  deny: string;
}

export interface PermissionSubject {
  userId: string;
  roleIds: readonly string[];
}

export interface PermissionGuild {
  id: string;
  ownerId: string;
  rolePermissions(roleId: string): bigint;
}

export function parsePermissions(value: string | bigint | number | undefined, fallback: bigint): bigint {
  if (value === undefined) return fallback;
  try {
    return BigInt(value);
  } catch {
    throw new Error(`permissions must be a bitfield string, got ${String(value)}`);
  }
}

/** Guild-level permissions: @everyone (whose role id is the guild id) OR the member's roles. */
export function basePermissions(guild: PermissionGuild, who: PermissionSubject): bigint {
  if (who.userId === guild.ownerId) return ALL_PERMISSIONS;
  let perms = guild.rolePermissions(guild.id);
  for (const roleId of who.roleIds) perms |= guild.rolePermissions(roleId);
  return perms & Permission.Administrator ? ALL_PERMISSIONS : perms;
}

/** Channel-level permissions: the base, then @everyone, role and member overwrites, in Discord's order. */
export function channelPermissions(
  guild: PermissionGuild,
  who: PermissionSubject,
  overwrites: readonly PermissionOverwrite[],
  options: { thread?: boolean } = {},
): bigint {
  let perms = basePermissions(guild, who);
  if (perms === ALL_PERMISSIONS) return perms;
  const everyone = overwrites.find((o) => o.type === 0 && o.id === guild.id);
  if (everyone) perms = (perms & ~BigInt(everyone.deny)) | BigInt(everyone.allow);
  let allow = 0n;
  let deny = 0n;
  for (const o of overwrites) {
    if (o.type === 0 && o.id !== guild.id && who.roleIds.includes(o.id)) {
      allow |= BigInt(o.allow);
      deny |= BigInt(o.deny);
    }
  }
  perms = (perms & ~deny) | allow;
  const own = overwrites.find((o) => o.type === 1 && o.id === who.userId);
  if (own) perms = (perms & ~BigInt(own.deny)) | BigInt(own.allow);
  // Implicit denials: no View Channel means nothing; no Send Messages (in a thread: Send Messages in Threads)
  // drops what only matters when sending.
  if (!(perms & Permission.ViewChannel)) return 0n;
  if (!(perms & (options.thread ? Permission.SendMessagesInThreads : Permission.SendMessages))) {
    perms &= ~(Permission.SendTTSMessages | Permission.MentionEveryone | Permission.EmbedLinks | Permission.AttachFiles);
  }
  return perms;
}
