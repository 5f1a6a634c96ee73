/**
 * Slash command options as Discord's client sends them: typed from the registered definition, coerced
 * (a playground text box gives "5" for an integer), checked against required/choices/ranges, and with the
 * `resolved` users, members, channels and roles that user, channel, role and mentionable options need.
 */
import { UserActionError } from '../errors.ts';
import { codePointLength } from '../validate.ts';
import { wireChannel, wireMember, wireRole, wireUser } from '../payloads.ts';
import type { GuildState, Store } from '../store.ts';
import type { SlashOptionInput } from '../types.ts';

export const OptionType = {
  Subcommand: 1, SubcommandGroup: 2, String: 3, Integer: 4, Boolean: 5, User: 6, Channel: 7, Role: 8,
  Mentionable: 9, Number: 10, Attachment: 11,
} as const;

interface OptionDef {
  name: string;
  type: number;
  required?: boolean;
  choices?: { name: string; value: string | number }[];
  options?: OptionDef[];
  min_value?: number;
  max_value?: number;
  min_length?: number;
  max_length?: number;
  autocomplete?: boolean;
}

export interface WireOption {
  name: string;
  type: number;
  value?: string | number | boolean;
  options?: WireOption[];
  focused?: boolean;
}

export interface Resolved {
  users?: Record<string, unknown>;
  members?: Record<string, unknown>;
  channels?: Record<string, unknown>;
  roles?: Record<string, unknown>;
  attachments?: Record<string, unknown>;
}

export function buildOptions(
  store: Store,
  guild: GuildState,
  inputs: SlashOptionInput[],
  defs: OptionDef[] | undefined,
  where: string,
  partial: boolean,
  resolved: Resolved,
): WireOption[] {
  const out: WireOption[] = [];
  for (const input of inputs) {
    const def = defs?.find((d) => d.name === input.name);
    if (defs && !def) throw new UserActionError(`${where} has no option "${input.name}"`);
    const type = input.type ?? def?.type;
    if (type === undefined) throw new UserActionError(`option "${input.name}" of ${where} needs a type (the command is not registered)`);
    if (type === OptionType.Subcommand || type === OptionType.SubcommandGroup) {
      const nested = buildOptions(store, guild, input.options ?? [], def?.options, `${where} ${input.name}`, partial, resolved);
      out.push({ name: input.name, type, options: nested });
      continue;
    }
    // Discord's client asks the bot only for options registered with autocomplete.
    if (input.focused && def && def.autocomplete !== true) throw new UserActionError(`option "${input.name}" of ${where} has no autocomplete`);
    if (input.focused && !partial) throw new UserActionError(`option "${input.name}" of ${where} is marked focused outside an autocomplete`);
    // While autocompleting, the focused option holds whatever has been typed so far.
    const value = input.focused ? String(input.value ?? '') : coerce(input, type, def, where);
    out.push({ name: input.name, type, value, ...(input.focused ? { focused: true } : {}) });
    if (!input.focused) addResolved(store, guild, type, String(value), resolved);
  }
  if (defs && !partial) {
    if (defs.some((d) => d.type === OptionType.Subcommand || d.type === OptionType.SubcommandGroup)) {
      if (out.length !== 1) throw new UserActionError(`${where} needs one subcommand`);
    } else {
      for (const d of defs) {
        if (d.required && !inputs.some((i) => i.name === d.name)) throw new UserActionError(`${where} needs option "${d.name}"`);
      }
    }
  }
  return out;
}

function coerce(input: SlashOptionInput, type: number, def: OptionDef | undefined, where: string): string | number | boolean {
  const raw = input.value;
  const label = `option "${input.name}" of ${where}`;
  if (raw === undefined) throw new UserActionError(`${label} needs a value`);
  let value: string | number | boolean;
  switch (type) {
    case OptionType.Integer:
    case OptionType.Number: {
      const n = typeof raw === 'number' ? raw : Number(String(raw).trim());
      if (!Number.isFinite(n) || (type === OptionType.Integer && !Number.isInteger(n))) {
        throw new UserActionError(`${label} must be ${type === OptionType.Integer ? 'an integer' : 'a number'}`);
      }
      if (def?.min_value !== undefined && n < def.min_value) throw new UserActionError(`${label} must be at least ${def.min_value}`);
      if (def?.max_value !== undefined && n > def.max_value) throw new UserActionError(`${label} must be at most ${def.max_value}`);
      value = n;
      break;
    }
    case OptionType.Boolean:
      if (typeof raw === 'boolean') value = raw;
      else if (raw === 'true' || raw === 'false') value = raw === 'true';
      else throw new UserActionError(`${label} must be true or false`);
      break;
    case OptionType.String: {
      // Discord's client counts code points, as its API does: 500 emoji fit a max_length of 500.
      const s = String(raw);
      const length = codePointLength(s);
      if (def?.min_length !== undefined && length < def.min_length) throw new UserActionError(`${label} must be at least ${def.min_length} characters`);
      if (def?.max_length !== undefined && length > def.max_length) throw new UserActionError(`${label} must be at most ${def.max_length} characters`);
      value = s;
      break;
    }
    default:
      value = String(raw);
  }
  if (def?.choices?.length && !def.choices.some((c) => c.value === value)) {
    throw new UserActionError(`${label} must be one of ${def.choices.map((c) => JSON.stringify(c.value)).join(', ')}`);
  }
  return value;
}

function addResolved(store: Store, guild: GuildState, type: number, id: string, resolved: Resolved): void {
  const user = store.users.get(id);
  const member = guild.members.get(id);
  const role = guild.roles.get(id);
  if ((type === OptionType.User || type === OptionType.Mentionable) && user) {
    (resolved.users ??= {})[id] = wireUser(user);
    if (member) (resolved.members ??= {})[id] = { ...wireMember(store, member, false), permissions: store.permissions(guild.id, id).toString() };
    return;
  }
  if ((type === OptionType.Role || type === OptionType.Mentionable) && role) {
    (resolved.roles ??= {})[id] = wireRole(role);
    return;
  }
  if (type === OptionType.Attachment) {
    const file = store.uploads.get(id);
    if (!file) throw new UserActionError(`no uploaded attachment ${id} (upload it with uploadAttachment first)`);
    (resolved.attachments ??= {})[id] = { ...file };
    return;
  }
  if (type === OptionType.Channel) {
    const channel = guild.channels.get(id);
    if (!channel) throw new UserActionError(`no channel ${id} in ${guild.name}`);
    const { id: cid, name, type: ctype, guild_id } = wireChannel(channel);
    (resolved.channels ??= {})[id] = { id: cid, name, type: ctype, guild_id, permissions: '0' };
    return;
  }
  if (type === OptionType.User || type === OptionType.Role || type === OptionType.Mentionable) {
    throw new UserActionError(`no ${type === OptionType.Role ? 'role' : 'user'} ${id} in ${guild.name}`);
  }
}
