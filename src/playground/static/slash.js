// The message box's understanding of slash commands, from the definitions the bot registered (Discord's
// application command objects): which command and subcommand is being typed, which option the caret is in,
// what to suggest, and the interaction options the text stands for, checked the way Discord's client checks
// them (required, choices, min/max, lengths, types) before anything is sent.
//
// Options registered with `autocomplete: true` get their values from the bot as the member types, as in
// Discord's client: `autocompleteQuery` gives the interaction to send (the option being typed marked focused).
//
// Text syntax, as Discord accepts pasted commands: `/morph from:a red circle to:a blue square frames:8`.
// Only the command's own option names followed by `:` (at the start or after a space) start an option, so a
// prompt may contain other words with colons. Text before the first option goes to the first required option
// not given (`/loop a lava lamp` is `/loop prompt:a lava lamp`).
//
// Plain ES module with no dependencies: loaded by the page as is, and by the tests.

export const OptionType = Object.freeze({
  SUB_COMMAND: 1,
  SUB_COMMAND_GROUP: 2,
  STRING: 3,
  INTEGER: 4,
  BOOLEAN: 5,
  USER: 6,
  CHANNEL: 7,
  ROLE: 8,
  MENTIONABLE: 9,
  NUMBER: 10,
  ATTACHMENT: 11,
});

const TYPE_NAMES = {
  3: 'text',
  4: 'whole number',
  5: 'true or false',
  6: 'member',
  7: 'channel',
  8: 'role',
  9: 'member or role',
  10: 'number',
  11: 'file',
};

const isSub = (o) => o.type === OptionType.SUB_COMMAND || o.type === OptionType.SUB_COMMAND_GROUP;

/** The commands a member may see: those whose default_member_permissions they have (a bitfield string). */
export function visibleCommands(commands, memberPermissions) {
  let has = 0n;
  try {
    has = BigInt(memberPermissions ?? '0');
  } catch {
    has = 0n;
  }
  const admin = (has & 8n) === 8n;
  return commands.filter((c) => {
    if (c.default_member_permissions === null || c.default_member_permissions === undefined) return true;
    const needed = BigInt(c.default_member_permissions);
    return admin || (has & needed) === needed;
  });
}

/** A short hint for an option: its type and limits, e.g. `whole number, 2–120` or `one of: allow, disallow`. */
export function optionHint(option) {
  const parts = [TYPE_NAMES[option.type] ?? 'value'];
  if (Array.isArray(option.choices) && option.choices.length) {
    return `one of: ${option.choices.map((c) => c.name).join(', ')}`;
  }
  const min = option.min_value;
  const max = option.max_value;
  if (min !== undefined && max !== undefined) parts.push(`${fmt(min)}–${fmt(max)}`);
  else if (min !== undefined) parts.push(`at least ${fmt(min)}`);
  else if (max !== undefined) parts.push(`at most ${fmt(max)}`);
  if (option.max_length !== undefined) parts.push(`up to ${option.max_length} characters`);
  if (option.min_length !== undefined && option.min_length > 0) parts.push(`at least ${option.min_length} characters`);
  return parts.join(', ');
}

function fmt(n) {
  return Math.abs(n) >= 1e6 ? n.toExponential(0).replace('e+', 'e') : String(n);
}

const escapeRegExp = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * What the text means so far, with the caret at `caret`:
 * - `{ kind: 'text' }`: not a command;
 * - `{ kind: 'commands', query, suggestions, range }`: typing a command name;
 * - `{ kind: 'unknown', name }`: a command that is not registered;
 * - `{ kind: 'subcommands', command, path, query, suggestions, range }`: typing a subcommand (group) name;
 * - `{ kind: 'options', command, path, leaf, options, given, active, suggestions, range, errors, autocomplete }`:
 *   typing options; `autocomplete` is `{ option, typed, range }` while typing the value of an option the bot
 *   completes (the bot's choices replace `range`).
 * `range` is what a suggestion replaces, `[start, end)` in the text; a suggestion has `insert` (the new text
 * for that range) and `label` / `description` to show.
 */
export function analyze(text, caret, commands, ctx = {}) {
  if (!text.startsWith('/')) return { kind: 'text' };
  caret = Math.max(0, Math.min(caret ?? text.length, text.length));
  const nameMatch = /^\/(\S*)/.exec(text);
  const typed = nameMatch[1];
  const nameEnd = 1 + typed.length;
  if (caret <= nameEnd && nameEnd === text.length) {
    const query = typed.toLowerCase();
    const suggestions = commands
      .filter((c) => c.name.startsWith(query))
      .concat(commands.filter((c) => !c.name.startsWith(query) && query && c.name.includes(query)))
      .map((c) => ({ insert: `/${c.name} `, label: `/${c.name}`, description: c.description, value: c.name }));
    return { kind: 'commands', query, suggestions, range: [0, text.length] };
  }
  const command = commands.find((c) => c.name === typed.toLowerCase());
  if (!command) return { kind: 'unknown', name: typed };

  // Subcommand groups and subcommands: one word each.
  let leaf = command;
  const path = [command.name];
  let pos = nameEnd;
  while ((leaf.options ?? []).some(isSub)) {
    const word = /^(\s+)(\S*)/.exec(text.slice(pos));
    const start = pos + (word ? word[1].length : 0);
    const value = word ? word[2] : '';
    const end = start + value.length;
    if (!word || end === text.length) {
      const query = value.toLowerCase();
      const subs = (leaf.options ?? []).filter(isSub);
      const suggestions = subs
        .filter((o) => o.name.startsWith(query))
        .map((o) => ({
          insert: `${text.slice(0, start).replace(/\s*$/, ' ')}${o.name} `,
          label: `${o.name}`,
          description: o.description,
          value: o.name,
        }));
      return { kind: 'subcommands', command, path, query, suggestions, range: [0, text.length], leaf };
    }
    const sub = (leaf.options ?? []).find((o) => isSub(o) && o.name === value.toLowerCase());
    if (!sub) return { kind: 'unknown', name: `${path.join(' ')} ${value}` };
    leaf = sub;
    path.push(sub.name);
    pos = end;
  }

  const options = (leaf.options ?? []).filter((o) => !isSub(o));
  const body = text.slice(pos);
  const bodyStart = pos;
  // Option markers: `name:` at the start of the body or after whitespace.
  const markers = [];
  if (options.length) {
    const names = options.map((o) => escapeRegExp(o.name)).sort((a, b) => b.length - a.length);
    const re = new RegExp(`(^|\\s)(${names.join('|')}):`, 'gi');
    let m;
    while ((m = re.exec(body)) !== null) {
      const start = bodyStart + m.index + m[1].length;
      markers.push({ name: m[2].toLowerCase(), start, valueStart: start + m[2].length + 1 });
      if (m[0].length === 0) re.lastIndex++;
    }
  }
  const errors = [];
  const given = new Map();
  const firstStart = markers.length ? markers[0].start : text.length;
  const leading = text.slice(bodyStart, firstStart);
  markers.forEach((marker, i) => {
    const end = i + 1 < markers.length ? markers[i + 1].start : text.length;
    const raw = text.slice(marker.valueStart, end);
    if (given.has(marker.name)) {
      errors.push(`${marker.name} is given twice`);
      return;
    }
    given.set(marker.name, { raw: raw.trim(), start: marker.valueStart, end, explicit: true });
  });
  let implicit = null;
  if (leading.trim()) {
    const target =
      options.find((o) => o.required && !given.has(o.name)) ??
      options.find((o) => !given.has(o.name) && o.type === OptionType.STRING) ??
      null;
    if (target) {
      implicit = target.name;
      given.set(target.name, { raw: leading.trim(), start: bodyStart, end: firstStart, explicit: false });
    } else if (options.length === 0) {
      errors.push(`/${path.join(' ')} takes no options`);
    } else {
      errors.push(`"${leading.trim().slice(0, 40)}" is not an option: write name:value (${options.map((o) => o.name).join(', ')})`);
    }
  }

  // The option the caret is in.
  let active = null;
  for (const [name, v] of given) {
    if (caret >= v.start && caret <= v.end) active = name;
  }
  if (!active && !leading.trim() && options.length) {
    // Right after the command: the first required option is where typing goes.
    if (caret >= bodyStart && !markers.length) active = (options.find((o) => o.required) ?? options[0]).name;
  }

  // Suggestions: an option name being typed (a word with no colon that starts an unused option's name), or a
  // value of an option with choices / a boolean / a channel / a member.
  let suggestions = [];
  let range = [caret, caret];
  const before = text.slice(0, caret);
  const word = /(^|\s)([^\s:]+)$/.exec(before);
  if (word && caret === text.length) {
    const prefix = word[2].toLowerCase();
    const wordStart = caret - word[2].length;
    suggestions = options
      .filter((o) => o.name.startsWith(prefix) && !given.get(o.name)?.explicit)
      .map((o) => ({ insert: `${o.name}:`, label: `${o.name}:`, description: `${o.description}${o.required ? ' (required)' : ''}`, value: o.name, option: o }));
    if (suggestions.length) range = [wordStart, caret];
  }
  let autocomplete = null;
  if (!suggestions.length && active) {
    const option = options.find((o) => o.name === active);
    const v = given.get(active);
    if (option?.autocomplete === true && caret === text.length) {
      // Nothing typed yet (`/loop `): the bot offers its choices for an empty value.
      const typedRaw = v ? text.slice(v.start, caret).replace(/^\s+/, '') : '';
      autocomplete = { option: option.name, typed: typedRaw, range: [caret - typedRaw.length, caret] };
    } else if (option && v && caret === text.length) {
      const typedValue = text.slice(v.start, caret).replace(/^\s+/, '').toLowerCase();
      const valueStart = caret - text.slice(v.start, caret).replace(/^\s+/, '').length;
      const pick = valueChoices(option, ctx).filter((c) => c.name.toLowerCase().startsWith(typedValue) && c.name.toLowerCase() !== typedValue);
      if (pick.length) {
        suggestions = pick.map((c) => ({ insert: `${c.name} `, label: c.name, description: c.description ?? '', value: c.value }));
        range = [valueStart, caret];
      }
    }
  }
  return { kind: 'options', command, path, leaf, options, given, active, implicit, suggestions, range, errors, autocomplete };
}

/**
 * The autocomplete interaction to send for the text (`{ name, options, range }`, options in LocalDiscord's
 * shape with the typed option marked focused), or null when the caret is not in an option the bot completes.
 * The other options go along as Discord's client sends them, those that are valid so far.
 */
export function autocompleteQuery(text, caret, commands, ctx = {}) {
  const a = analyze(text, caret, commands, ctx);
  if (a.kind !== 'options' || !a.autocomplete) return null;
  const values = [];
  for (const option of a.options) {
    if (option.name === a.autocomplete.option) {
      values.push({ name: option.name, value: a.autocomplete.typed, focused: true });
      continue;
    }
    const v = a.given.get(option.name);
    if (!v || v.raw === '') continue;
    const converted = convert(option, v.raw, ctx);
    if (!converted.error) values.push({ name: option.name, value: converted.value });
  }
  let options = values;
  for (let i = a.path.length - 1; i >= 1; i--) options = [{ name: a.path[i], options }];
  return { name: a.command.name, options, range: a.autocomplete.range, option: a.autocomplete.option };
}

/** Values to offer for an option: its choices, true/false, the guild's channels or members. */
function valueChoices(option, ctx) {
  if (Array.isArray(option.choices) && option.choices.length) return option.choices.map((c) => ({ name: c.name, value: c.value }));
  if (option.type === OptionType.BOOLEAN) return [{ name: 'true', value: true }, { name: 'false', value: false }];
  if (option.type === OptionType.CHANNEL) {
    return (ctx.channels ?? [])
      .filter((c) => !Array.isArray(option.channel_types) || option.channel_types.includes(c.type ?? 0))
      .map((c) => ({ name: `#${c.name}`, value: c.id }));
  }
  if (option.type === OptionType.USER || option.type === OptionType.MENTIONABLE) {
    return (ctx.members ?? []).map((m) => ({ name: `@${m.username}`, value: m.id, description: m.globalName ?? '' }));
  }
  return [];
}

/**
 * The interaction the text stands for: `{ ok: true, name, options }` (options in LocalDiscord's
 * `SlashOptionInput` shape, nested for subcommands) or `{ ok: false, errors }`.
 */
/** An attachment option's value until the page has uploaded the picked file (then: its attachment id). */
export const ATTACHMENT_PLACEHOLDER = '\u0000attachment';

export function buildCommand(text, commands, ctx = {}) {
  // A trailing space ends the last word, so the command and subcommand names count as complete.
  const complete = `${text.trim()} `;
  const a = analyze(complete, complete.length, commands, ctx);
  if (a.kind === 'text') return { ok: false, errors: ['Only slash commands can be sent here: type / to see them'] };
  if (a.kind === 'unknown') return { ok: false, errors: [`/${a.name} is not a command of this bot`] };
  if (a.kind === 'commands') return { ok: false, errors: ['Choose a command'] };
  if (a.kind === 'subcommands') {
    return { ok: false, errors: [`/${a.path.join(' ')} needs one of: ${(a.leaf.options ?? []).filter(isSub).map((o) => o.name).join(', ')}`] };
  }
  const errors = [...a.errors];
  const values = [];
  for (const option of a.options) {
    const v = a.given.get(option.name);
    if (!v || v.raw === '') {
      if (option.required) errors.push(`${option.name} is required: ${option.description}`);
      continue;
    }
    const converted = convert(option, v.raw, ctx);
    if (converted.error) errors.push(converted.error);
    else values.push({ name: option.name, value: converted.value });
  }
  // A file picked with 📎 goes to the command's first file option when none was typed (as Discord's upload box).
  const fileOption = a.options.find((o) => o.type === OptionType.ATTACHMENT);
  if (ctx.attachment && fileOption && !values.some((v) => v.name === fileOption.name)) values.push({ name: fileOption.name, value: ATTACHMENT_PLACEHOLDER });
  if (ctx.attachment && !fileOption) errors.push(`/${a.path.join(' ')} takes no file: remove the attached one`);
  if (errors.length) return { ok: false, errors };
  let options = values;
  for (let i = a.path.length - 1; i >= 1; i--) options = [{ name: a.path[i], options }];
  return { ok: true, name: a.command.name, options };
}

function convert(option, raw, ctx) {
  const name = option.name;
  const choices = Array.isArray(option.choices) && option.choices.length ? option.choices : null;
  if (choices) {
    const found = choices.find((c) => c.name.toLowerCase() === raw.toLowerCase() || String(c.value).toLowerCase() === raw.toLowerCase());
    if (!found) return { error: `${name} must be one of: ${choices.map((c) => c.name).join(', ')}` };
    return { value: found.value };
  }
  switch (option.type) {
    case OptionType.STRING: {
      if (option.min_length !== undefined && raw.length < option.min_length) return { error: `${name} needs at least ${option.min_length} characters` };
      if (option.max_length !== undefined && raw.length > option.max_length) return { error: `${name} allows at most ${option.max_length} characters (${raw.length} given)` };
      return { value: raw };
    }
    case OptionType.INTEGER:
    case OptionType.NUMBER: {
      const integer = option.type === OptionType.INTEGER;
      const ok = integer ? /^[-+]?\d+$/.test(raw) : /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(raw);
      const value = Number(raw);
      if (!ok || !Number.isFinite(value) || (integer && !Number.isSafeInteger(value))) return { error: `${name} must be ${integer ? 'a whole number' : 'a number'}, not "${raw}"` };
      if (option.min_value !== undefined && value < option.min_value) return { error: `${name} must be at least ${option.min_value}` };
      if (option.max_value !== undefined && value > option.max_value) return { error: `${name} must be at most ${option.max_value}` };
      return { value };
    }
    case OptionType.BOOLEAN: {
      const v = raw.toLowerCase();
      if (['true', 'yes', 'y', 'on', '1'].includes(v)) return { value: true };
      if (['false', 'no', 'n', 'off', '0'].includes(v)) return { value: false };
      return { error: `${name} must be true or false` };
    }
    case OptionType.CHANNEL: {
      const key = raw.replace(/^#/, '').toLowerCase();
      const channel = (ctx.channels ?? []).find((c) => c.id === raw || c.name.toLowerCase() === key || `<#${c.id}>` === raw);
      if (!channel) return { error: `${name}: no channel ${raw}` };
      return { value: channel.id };
    }
    case OptionType.USER:
    case OptionType.MENTIONABLE: {
      const key = raw.replace(/^@/, '').toLowerCase();
      const member = (ctx.members ?? []).find(
        (m) => m.id === raw || m.username.toLowerCase() === key || (m.globalName ?? '').toLowerCase() === key || `<@${m.id}>` === raw,
      );
      if (!member) return { error: `${name}: no member ${raw}` };
      return { value: member.id };
    }
    case OptionType.ROLE:
      return /^\d+$/.test(raw) ? { value: raw } : { error: `${name} must be a role id` };
    case OptionType.ATTACHMENT:
      // The file picked with 📎 (ctx.attachment: its name); the page uploads it and puts its id here.
      if (!ctx.attachment) return { error: `${name}: attach a file with the 📎 button first` };
      return { value: ATTACHMENT_PLACEHOLDER };
    default:
      return { value: raw };
  }
}
