/**
 * Whether the commands Discord has registered are the ones this bot wants. Discord answers with fields the
 * bot never sent (ids, versions, defaults such as `required: false`), so both sides are reduced to the fields
 * that change what a member sees and can send, with Discord's defaults filled in, and compared as JSON.
 * Registering only on a difference keeps restarts clear of Discord's daily command-create limit.
 */
type Json = Record<string, unknown>;

const COMMAND_FIELDS: Record<string, unknown> = {
  type: 1,
  name: undefined,
  description: '',
  options: [],
  default_member_permissions: null,
  contexts: null,
  nsfw: false,
};

const OPTION_FIELDS: Record<string, unknown> = {
  type: undefined,
  name: undefined,
  description: '',
  required: false,
  autocomplete: false,
  choices: [],
  channel_types: [],
  min_value: null,
  max_value: null,
  min_length: null,
  max_length: null,
  options: [],
};

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function reduce(value: Json, fields: Record<string, unknown>): Json {
  const out: Json = {};
  for (const [key, fallback] of Object.entries(fields)) {
    const given = value[key] ?? fallback;
    if (key === 'options' && Array.isArray(given)) out[key] = given.filter(isObject).map((o) => reduce(o, OPTION_FIELDS));
    else if (key === 'choices' && Array.isArray(given)) out[key] = given.filter(isObject).map((c) => ({ name: c.name, value: c.value }));
    else out[key] = given;
  }
  return out;
}

/** The canonical form of one command definition (also what tests compare). */
export function canonicalCommand(command: object): string {
  return JSON.stringify(reduce(command as Json, COMMAND_FIELDS));
}

/**
 * Names of the commands that differ between `wanted` and `registered`: changed, missing, or registered but no
 * longer wanted. Empty when nothing needs registering.
 */
export function commandDifferences(wanted: readonly object[], registered: readonly object[]): string[] {
  const key = (c: object) => `${String((c as Json).type ?? 1)}:${String((c as Json).name)}`;
  const have = new Map(registered.map((c) => [key(c), canonicalCommand(c)]));
  const want = new Map(wanted.map((c) => [key(c), canonicalCommand(c)]));
  const names = new Set<string>();
  for (const [k, form] of want) if (have.get(k) !== form) names.add(k.split(':')[1]!);
  for (const k of have.keys()) if (!want.has(k)) names.add(k.split(':')[1]!);
  return [...names];
}
