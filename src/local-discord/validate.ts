/**
 * Discord's documented limits on what a bot sends (messages, modals, commands). Violations come back as
 * 50035 "Invalid Form Body" just as Discord answers, so the bot's tests catch payloads Discord would refuse.
 * Text is counted as Discord counts it: in code points (an emoji is one, however many UTF-16 units).
 */
import { Errors, invalidFormBody, type FieldProblem } from './errors.ts';

export type Json = Record<string, unknown>;

export const MAX_ATTACHMENTS = 10;
const IS_COMPONENTS_V2 = 1 << 15;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Discord's count: code points (a lone surrogate is one). */
export function codePointLength(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}
const textLength = (v: unknown): number => (typeof v === 'string' ? codePointLength(v) : 0);

function maxLength(problems: FieldProblem[], path: string, value: unknown, max: number, min = 0): void {
  if (value === undefined || value === null) {
    if (min > 0) problems.push({ path, code: 'BASE_TYPE_REQUIRED', message: 'This field is required' });
    return;
  }
  if (typeof value !== 'string') {
    problems.push({ path, code: 'STRING_TYPE_CONVERT', message: 'Could not interpret value as string.' });
    return;
  }
  const length = codePointLength(value);
  if (length > max) {
    problems.push({ path, code: 'BASE_TYPE_MAX_LENGTH', message: `Must be ${max} or fewer in length.` });
  } else if (length < min) {
    problems.push({ path, code: 'BASE_TYPE_BAD_LENGTH', message: `Must be between ${min} and ${max} in length.` });
  }
}

function validateEmbeds(problems: FieldProblem[], embeds: unknown): void {
  if (embeds === undefined || embeds === null) return;
  if (!Array.isArray(embeds)) {
    problems.push({ path: 'embeds', code: 'BASE_TYPE_LIST', message: 'Must be a list.' });
    return;
  }
  if (embeds.length > 10) problems.push({ path: 'embeds', code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 10 or fewer in length.' });
  let total = 0;
  embeds.forEach((e: unknown, i) => {
    const at = `embeds.${i}`;
    if (!isObject(e)) return;
    maxLength(problems, `${at}.title`, e.title, 256);
    maxLength(problems, `${at}.description`, e.description, 4096);
    total += textLength(e.title) + textLength(e.description);
    if (isObject(e.footer)) {
      maxLength(problems, `${at}.footer.text`, e.footer.text, 2048, 1);
      total += textLength(e.footer.text);
    }
    if (isObject(e.author)) {
      maxLength(problems, `${at}.author.name`, e.author.name, 256, 1);
      total += textLength(e.author.name);
    }
    if (e.fields !== undefined) {
      if (!Array.isArray(e.fields)) return;
      if (e.fields.length > 25) problems.push({ path: `${at}.fields`, code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 25 or fewer in length.' });
      e.fields.forEach((f: unknown, j) => {
        if (!isObject(f)) return;
        maxLength(problems, `${at}.fields.${j}.name`, f.name, 256, 1);
        maxLength(problems, `${at}.fields.${j}.value`, f.value, 1024, 1);
        total += textLength(f.name) + textLength(f.value);
      });
    }
  });
  if (total > 6000) problems.push({ path: 'embeds', code: 'MAX_EMBED_SIZE_EXCEEDED', message: 'Embed size exceeds maximum size of 6000' });
}

function validateInteractive(problems: FieldProblem[], path: string, c: Json, customIds: Set<string>): void {
  // Buttons (2) and selects (3, 5-8) need a custom id, unique within the message; link buttons need a url.
  const type = c.type;
  if (type === 2) {
    maxLength(problems, `${path}.label`, c.label, 80);
    if (c.style === 5) {
      if (typeof c.url !== 'string') problems.push({ path: `${path}.url`, code: 'BASE_TYPE_REQUIRED', message: 'This field is required' });
      return;
    }
    if (c.style === 6) return; // premium buttons carry a sku_id instead
  }
  if (type === 2 || type === 3 || (typeof type === 'number' && type >= 5 && type <= 8)) {
    maxLength(problems, `${path}.custom_id`, c.custom_id, 100, 1);
    const id = str(c.custom_id);
    if (id !== undefined) {
      if (customIds.has(id)) problems.push({ path: `${path}.custom_id`, code: 'COMPONENT_CUSTOM_ID_DUPLICATED', message: 'Component custom id cannot be duplicated' });
      customIds.add(id);
    }
  }
  if (type === 3 || (typeof type === 'number' && type >= 5 && type <= 8)) validateSelect(problems, path, c);
}

/** Select menus (string 3; user, role, mentionable, channel 5-8): placeholder, value counts and options. */
function validateSelect(problems: FieldProblem[], path: string, c: Json): void {
  maxLength(problems, `${path}.placeholder`, c.placeholder, 150);
  for (const [key, min, max] of [['min_values', 0, 25], ['max_values', 1, 25]] as const) {
    const n = c[key];
    if (n !== undefined && (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max)) {
      problems.push({ path: `${path}.${key}`, code: 'NUMBER_TYPE_MAX', message: `int value should be between ${min} and ${max}.` });
    }
  }
  if (c.type !== 3) return;
  const options = Array.isArray(c.options) ? c.options : [];
  if (options.length < 1 || options.length > 25) {
    problems.push({ path: `${path}.options`, code: 'BASE_TYPE_BAD_LENGTH', message: 'Must be between 1 and 25 in length.' });
  }
  options.forEach((o: unknown, k) => {
    if (!isObject(o)) return;
    maxLength(problems, `${path}.options.${k}.label`, o.label, 100, 1);
    maxLength(problems, `${path}.options.${k}.value`, o.value, 100, 1);
    maxLength(problems, `${path}.options.${k}.description`, o.description, 100);
  });
}

function validateComponents(problems: FieldProblem[], components: unknown, flags: number): void {
  if (components === undefined || components === null) return;
  if (!Array.isArray(components)) {
    problems.push({ path: 'components', code: 'BASE_TYPE_LIST', message: 'Must be a list.' });
    return;
  }
  const customIds = new Set<string>();
  const v2 = (flags & IS_COMPONENTS_V2) !== 0;
  if (!v2 && components.length > 5) {
    problems.push({ path: 'components', code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 5 or fewer in length.' });
  }
  components.forEach((row: unknown, i) => {
    if (!isObject(row)) return;
    if (!v2 && row.type !== 1) {
      problems.push({ path: `components.${i}.type`, code: 'UNION_TYPE_CHOICES', message: 'Value of field "type" must be one of (1,).' });
      return;
    }
    if (row.type === 1) {
      const inner = Array.isArray(row.components) ? row.components : [];
      if (inner.length < 1 || inner.length > 5) {
        problems.push({ path: `components.${i}.components`, code: 'BASE_TYPE_BAD_LENGTH', message: 'Must be between 1 and 5 in length.' });
      }
      inner.forEach((c: unknown, j) => {
        if (isObject(c)) validateInteractive(problems, `components.${i}.components.${j}`, c, customIds);
      });
    }
  });
}

function validateAllowedMentions(problems: FieldProblem[], am: unknown): void {
  if (am === undefined || am === null) return;
  if (!isObject(am)) {
    problems.push({ path: 'allowed_mentions', code: 'MODEL_TYPE_CONVERT', message: 'Only dictionaries may be used in a ModelType' });
    return;
  }
  const parse = Array.isArray(am.parse) ? am.parse : [];
  for (const p of parse) {
    if (p !== 'users' && p !== 'roles' && p !== 'everyone') {
      problems.push({ path: 'allowed_mentions.parse', code: 'ENUM_TYPE_COERCE', message: `Value "${String(p)}" is not a valid enum value.` });
    }
  }
  for (const kind of ['users', 'roles'] as const) {
    const list = am[kind];
    if (Array.isArray(list) && list.length > 0 && parse.includes(kind)) {
      // Discord refuses both forms at once: parse says "all", the list says "only these".
      problems.push({ path: `allowed_mentions.parse`, code: 'SET_TYPE_ALREADY_CONTAINS_VALUE', message: `parse:["${kind}"] and ${kind}: [ids...] are mutually exclusive.` });
    }
  }
}

export interface UploadLike {
  filename: string;
  data: Buffer;
}

/**
 * Checks a create or edit body; throws the ApiError Discord would return. `currentFlags`: the flags of the
 * message an edit targets (a Components V2 message stays one without repeating the flag).
 */
export function validateMessageBody(body: Json, files: readonly UploadLike[], fileSizeLimit: number, currentFlags = 0): void {
  const problems: FieldProblem[] = [];
  maxLength(problems, 'content', body.content, 2000);
  validateEmbeds(problems, body.embeds);
  validateComponents(problems, body.components, (typeof body.flags === 'number' ? body.flags : 0) | currentFlags);
  validateAllowedMentions(problems, body.allowed_mentions);
  const kept = Array.isArray(body.attachments) ? body.attachments.length : 0;
  if (files.length > MAX_ATTACHMENTS || kept > MAX_ATTACHMENTS) {
    problems.push({ path: 'attachments', code: 'BASE_TYPE_MAX_LENGTH', message: `Must be ${MAX_ATTACHMENTS} or fewer in length.` });
  }
  if (problems.length) throw invalidFormBody(problems);
  if (files.some((f) => f.data.length > fileSizeLimit)) throw Errors.tooLarge();
}

/** The callback data of a type 9 response. */
/**
 * An autocomplete result (callback type 8): `choices`, at most 25, each with a name of 1-100 characters and
 * a value of the focused option's type (a string of 1-100 characters for a string option), as Discord checks.
 */
export function validateAutocompleteChoices(data: Json, optionType: number | null): void {
  const problems: FieldProblem[] = [];
  const choices = data.choices;
  if (!Array.isArray(choices)) {
    problems.push({ path: 'data.choices', code: choices === undefined ? 'BASE_TYPE_REQUIRED' : 'BASE_TYPE_LIST', message: choices === undefined ? 'This field is required' : 'Must be a list.' });
    throw invalidFormBody(problems);
  }
  if (choices.length > 25) problems.push({ path: 'data.choices', code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 25 or fewer in length.' });
  choices.slice(0, 25).forEach((c: unknown, i) => {
    const at = `data.choices.${i}`;
    if (!isObject(c)) {
      problems.push({ path: at, code: 'MODEL_TYPE_CONVERT', message: 'Only dictionaries may be used in a ModelType' });
      return;
    }
    maxLength(problems, `${at}.name`, c.name, 100, 1);
    if (optionType === 4 || optionType === 10) {
      const ok = typeof c.value === 'number' && Number.isFinite(c.value) && (optionType === 10 || Number.isInteger(c.value));
      if (!ok) problems.push({ path: `${at}.value`, code: 'NUMBER_TYPE_COERCE', message: `Value "${String(c.value)}" is not ${optionType === 4 ? 'int' : 'a number'}.` });
    } else {
      maxLength(problems, `${at}.value`, c.value, 100, 1);
    }
  });
  if (problems.length > 0) throw invalidFormBody(problems);
}

export function validateModal(data: unknown): void {
  const problems: FieldProblem[] = [];
  if (!isObject(data)) throw invalidFormBody([{ path: 'data', code: 'BASE_TYPE_REQUIRED', message: 'This field is required' }]);
  maxLength(problems, 'data.title', data.title, 45, 1);
  maxLength(problems, 'data.custom_id', data.custom_id, 100, 1);
  const comps = Array.isArray(data.components) ? data.components : [];
  if (comps.length < 1 || comps.length > 5) {
    problems.push({ path: 'data.components', code: 'BASE_TYPE_BAD_LENGTH', message: 'Must be between 1 and 5 in length.' });
  }
  const checkInput = (path: string, c: Json) => {
    maxLength(problems, `${path}.custom_id`, c.custom_id, 100, 1);
    if (c.type === 4) {
      if (c.label !== undefined) maxLength(problems, `${path}.label`, c.label, 45, 1);
      maxLength(problems, `${path}.placeholder`, c.placeholder, 100);
      maxLength(problems, `${path}.value`, c.value, 4000);
      if (c.style !== 1 && c.style !== 2) problems.push({ path: `${path}.style`, code: 'BASE_TYPE_CHOICES', message: 'Value must be one of (1, 2).' });
      for (const [key, min] of [['min_length', 0], ['max_length', 1]] as const) {
        const n = c[key];
        if (n !== undefined && (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > 4000)) {
          problems.push({ path: `${path}.${key}`, code: 'NUMBER_TYPE_MAX', message: `int value should be between ${min} and 4000.` });
        }
      }
      if (typeof c.min_length === 'number' && typeof c.max_length === 'number' && c.min_length > c.max_length) {
        problems.push({ path: `${path}.min_length`, code: 'NUMBER_TYPE_MAX', message: `int value should be less than or equal to ${c.max_length}.` });
      }
    } else if (c.type === 3 || (typeof c.type === 'number' && c.type >= 5 && c.type <= 8)) {
      validateSelect(problems, path, c);
    } else if (c.type === 19) {
      // A file upload: only inside a label; 0-10 files at least, 1-10 at most.
      if (!path.endsWith('.component')) problems.push({ path: `${path}.type`, code: 'COMPONENT_TYPE_INVALID', message: 'A file upload must be inside a label.' });
      for (const [key, min] of [['min_values', 0], ['max_values', 1]] as const) {
        const n = c[key];
        if (n !== undefined && (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > 10)) {
          problems.push({ path: `${path}.${key}`, code: 'NUMBER_TYPE_MAX', message: `int value should be between ${min} and 10.` });
        }
      }
    }
  };
  comps.forEach((c: unknown, i) => {
    if (!isObject(c)) return;
    const path = `data.components.${i}`;
    if (c.type === 1) {
      const inner = Array.isArray(c.components) ? c.components : [];
      if (inner.length !== 1) problems.push({ path: `${path}.components`, code: 'BASE_TYPE_BAD_LENGTH', message: 'Must be between 1 and 1 in length.' });
      inner.forEach((t: unknown, j) => isObject(t) && checkInput(`${path}.components.${j}`, t));
    } else if (c.type === 18) {
      maxLength(problems, `${path}.label`, c.label, 45, 1);
      maxLength(problems, `${path}.description`, c.description, 100);
      if (isObject(c.component)) checkInput(`${path}.component`, c.component);
      else problems.push({ path: `${path}.component`, code: 'BASE_TYPE_REQUIRED', message: 'This field is required' });
    } else if (c.type === 10) {
      maxLength(problems, `${path}.content`, c.content, 4000, 1);
    } else {
      problems.push({ path: `${path}.type`, code: 'UNION_TYPE_CHOICES', message: 'Value of field "type" must be one of (1, 10, 18).' });
    }
  });
  if (problems.length) throw invalidFormBody(problems);
}

const COMMAND_NAME = /^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$/u;

function validateOptions(problems: FieldProblem[], path: string, options: unknown): void {
  if (options === undefined) return;
  if (!Array.isArray(options)) {
    problems.push({ path, code: 'BASE_TYPE_LIST', message: 'Must be a list.' });
    return;
  }
  if (options.length > 25) problems.push({ path, code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 25 or fewer in length.' });
  let seenOptional = false;
  const names = new Set<string>();
  options.forEach((o: unknown, i) => {
    if (!isObject(o)) return;
    const at = `${path}.${i}`;
    const name = str(o.name);
    if (!name || !COMMAND_NAME.test(name) || name !== name.toLowerCase()) {
      problems.push({ path: `${at}.name`, code: 'APPLICATION_COMMAND_INVALID_NAME', message: 'Command name is invalid' });
    } else if (names.has(name)) {
      problems.push({ path: `${at}.name`, code: 'APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS', message: 'Option names must be unique' });
    } else names.add(name);
    maxLength(problems, `${at}.description`, o.description, 100, 1);
    if (o.required === true && seenOptional) {
      problems.push({ path: `${at}.required`, code: 'APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID', message: 'Required options must be placed before non-required options' });
    }
    if (o.required !== true && o.type !== 1 && o.type !== 2) seenOptional = true;
    if (Array.isArray(o.choices)) {
      if (o.choices.length > 25) problems.push({ path: `${at}.choices`, code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 25 or fewer in length.' });
      if (o.autocomplete === true) problems.push({ path: `${at}.autocomplete`, code: 'AUTOCOMPLETE_AND_CHOICES', message: 'Autocomplete cannot be set with choices' });
      o.choices.forEach((c: unknown, k) => {
        if (!isObject(c)) return;
        maxLength(problems, `${at}.choices.${k}.name`, c.name, 100, 1);
        if (typeof c.value === 'string') maxLength(problems, `${at}.choices.${k}.value`, c.value, 100, 1);
      });
    }
    optionBounds(problems, at, o);
    if (o.type === 1 || o.type === 2) validateOptions(problems, `${at}.options`, o.options);
  });
}

/** min/max of string lengths (0-6000) and of numbers (min no greater than max). */
function optionBounds(problems: FieldProblem[], at: string, o: Json): void {
  for (const [key, min] of [['min_length', 0], ['max_length', 1]] as const) {
    const n = o[key];
    if (n === undefined) continue;
    if (o.type !== 3) problems.push({ path: `${at}.${key}`, code: 'APPLICATION_COMMAND_OPTION_LENGTH_INVALID_TYPE', message: 'Only string options may have a length' });
    else if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > 6000) {
      problems.push({ path: `${at}.${key}`, code: 'NUMBER_TYPE_MAX', message: `int value should be between ${min} and 6000.` });
    }
  }
  for (const key of ['min_value', 'max_value'] as const) {
    const n = o[key];
    if (n === undefined) continue;
    if (o.type !== 4 && o.type !== 10) problems.push({ path: `${at}.${key}`, code: 'APPLICATION_COMMAND_OPTION_VALUE_INVALID_TYPE', message: 'Only integer and number options may have a range' });
    else if (typeof n !== 'number' || !Number.isFinite(n)) problems.push({ path: `${at}.${key}`, code: 'NUMBER_TYPE_COERCE', message: `Value "${String(n)}" is not a number.` });
  }
  const pairs = [['min_length', 'max_length'], ['min_value', 'max_value']] as const;
  for (const [lo, hi] of pairs) {
    if (typeof o[lo] === 'number' && typeof o[hi] === 'number' && (o[lo] as number) > (o[hi] as number)) {
      problems.push({ path: `${at}.${lo}`, code: 'NUMBER_TYPE_MAX', message: `${lo} must be less than or equal to ${hi}.` });
    }
  }
}

/** One command of a PUT/POST to the commands routes (`path` prefixes the error paths, e.g. `0`). */
export function commandProblems(body: unknown, path: string): FieldProblem[] {
  const problems: FieldProblem[] = [];
  if (!isObject(body)) return [{ path, code: 'MODEL_TYPE_CONVERT', message: 'Only dictionaries may be used in a ModelType' }];
  const type = body.type ?? 1;
  const name = str(body.name);
  // User and message (context menu) commands may be mixed case and contain spaces; they take no description.
  const nameOk = type === 1 ? !!name && COMMAND_NAME.test(name) && name === name.toLowerCase() : !!name && codePointLength(name) <= 32 && name.trim() === name;
  if (!nameOk) {
    problems.push({ path: `${path}.name`, code: 'APPLICATION_COMMAND_INVALID_NAME', message: 'Command name is invalid' });
  }
  if (type === 1) maxLength(problems, `${path}.description`, body.description, 100, 1);
  else if (typeof body.description === 'string' && body.description !== '') {
    problems.push({ path: `${path}.description`, code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 0 or fewer in length.' });
  }
  validateOptions(problems, `${path}.options`, body.options);
  return problems;
}
