/**
 * Who may run an application command in a channel, as Discord decides before it offers the command (and so
 * before the bot ever hears of it): Administrator always; then the command's permission overwrites an admin
 * set under Server Settings → Integrations (channel, then user, then the member's roles, then @everyone);
 * without a deciding overwrite, `default_member_permissions`. Overwrites for the application id apply to
 * every command without overwrites of its own (developers/interactions/application-commands.mdx, Permissions).
 */
import { Permission } from '../permissions.ts';
import type { GuildState, MemberState, Store } from '../store.ts';
import type { CommandPermission, RegisteredCommand } from '../types.ts';

export function commandPermissionKey(guildId: string, commandOrApplicationId: string): string {
  return `${guildId}:${commandOrApplicationId}`;
}

/** Overwrite id meaning "every channel" (the guild id minus one). */
export function allChannelsId(guildId: string): string {
  return (BigInt(guildId) - 1n).toString();
}

export function mayUseCommand(
  store: Store,
  applicationId: string,
  guild: GuildState,
  member: MemberState,
  channelId: string,
  command: RegisteredCommand,
): boolean {
  const base = store.permissions(guild.id, member.userId);
  if (base & Permission.Administrator) return true;
  const overwrites =
    store.commandPermissions.get(commandPermissionKey(guild.id, command.id)) ??
    store.commandPermissions.get(commandPermissionKey(guild.id, applicationId)) ??
    [];
  const find = (type: CommandPermission['type'], id: string) => overwrites.find((o) => o.type === type && o.id === id);

  // A thread follows its parent channel's overwrite.
  const channel = guild.channels.get(channelId);
  const where = find(3, channel?.parentId ?? channelId) ?? find(3, allChannelsId(guild.id));
  if (where && !where.permission) return false;

  const user = find(2, member.userId);
  if (user) return user.permission;
  const roles = member.roles.map((id) => find(1, id)).filter((o): o is CommandPermission => o !== undefined);
  if (roles.some((o) => o.permission)) return true;
  if (roles.length > 0) return false;
  const everyone = find(1, guild.id);
  if (everyone) return everyone.permission;

  if (command.default_member_permissions == null) return true;
  const needed = BigInt(command.default_member_permissions);
  return (base & needed) === needed;
}
