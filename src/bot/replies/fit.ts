/**
 * The one place that cuts text to Discord's limits.
 *
 * Discord counts code points on the wire; discord.js's builders count UTF-16 units, in which an emoji outside
 * the Basic Multilingual Plane is two. A UTF-16 count is never below the code point count, so a text of at
 * most `max` UTF-16 units passes both. Cuts fall between grapheme clusters (Intl.Segmenter): a surrogate
 * pair, a ZWJ family, a flag, a skin tone, a keycap or a letter with its combining marks is kept whole or
 * dropped whole. A cut text ends with an ellipsis.
 */
import type { APIActionRowComponent, APIComponentInMessageActionRow, APIEmbed } from 'discord.js';

/** Discord's limits (developers/resources/message.mdx, components/reference.mdx, interactions/receiving-and-responding.mdx). */
export const LIMITS = {
  content: 2000,
  embedTitle: 256,
  embedDescription: 4096,
  embedFields: 25,
  fieldName: 256,
  fieldValue: 1024,
  footer: 2048,
  authorName: 256,
  /** Title, description, field names and values, footer and author name of all embeds of a message. */
  embedTotal: 6000,
  buttonLabel: 80,
  customId: 100,
  selectPlaceholder: 150,
  selectOption: 100,
  modalTitle: 45,
  labelText: 45,
  labelDescription: 100,
  textInputPlaceholder: 100,
  textInputValue: 4000,
} as const;

export const ELLIPSIS = '…';

const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** Code points, as Discord counts (a lone surrogate is one). */
export function codePoints(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

/** Whether `text` is within `max` by both counts. */
export function fits(text: string, max: number): boolean {
  return text.length <= max && codePoints(text) <= max;
}

/** A lone surrogate cannot be encoded as UTF-8 (Discord would refuse or mangle it): it becomes U+FFFD. */
export function wellFormed(text: string): string {
  return text.replace(/\p{Cs}/gu, '\ufffd');
}

/** Grapheme clusters, lazily: cutting a long text only segments what it keeps. */
export function* graphemes(text: string): Generator<string> {
  for (const { segment } of segmenter.segment(text)) yield segment;
}

/**
 * Joins `pieces` (each kept whole or dropped whole) within `max`: everything when it fits, otherwise the
 * longest prefix that leaves room for the ellipsis, then the ellipsis. Trailing whitespace and a dangling
 * escape backslash before the ellipsis are dropped.
 */
export function fitPieces(pieces: Iterable<string>, max: number): string {
  if (max <= 0) return '';
  let all = '';
  /** The longest prefix that still leaves room for the ellipsis. */
  let kept = '';
  for (const piece of pieces) {
    if (all.length + piece.length > max) return ellipsize(kept, max);
    all += piece;
    if (all.length <= max - ELLIPSIS.length) kept = all;
  }
  return all;
}

function ellipsize(kept: string, max: number): string {
  let head = kept.trimEnd();
  // An odd run of backslashes at the end is half an escape (`\*` cut after the backslash).
  const run = /\\+$/.exec(head)?.[0].length ?? 0;
  if (run % 2 === 1) head = head.slice(0, -1);
  return max >= ELLIPSIS.length ? head + ELLIPSIS : '';
}

/** `text` cut to `max` (both counts) between grapheme clusters, with an ellipsis when cut. */
export function fitText(text: string, max: number): string {
  const clean = wellFormed(text);
  if (clean.length <= max) return clean;
  return fitPieces(graphemes(clean), max);
}

/** A required text (Discord refuses an empty one) cut to `max`. */
function required(text: string | undefined, max: number, fallback = '—'): string {
  const cut = fitText(text ?? '', max);
  return cut.trim().length > 0 ? cut : fallback;
}

type EmbedText = { get: () => string; set: (value: string) => void; min: number };

/**
 * An embed within every per-part limit and the message-wide total (`budget`, 6000 by default): when the
 * parts add up to more, the longest part is cut first, again and again, so short facts (seed, steps) survive
 * a long prompt. Required parts are never left empty.
 */
export function fitEmbed(embed: APIEmbed, budget: number = LIMITS.embedTotal): APIEmbed {
  const out: APIEmbed = { ...embed };
  if (out.title !== undefined) out.title = required(out.title, LIMITS.embedTitle);
  if (out.description !== undefined) out.description = required(out.description, LIMITS.embedDescription);
  if (out.footer) out.footer = { ...out.footer, text: required(out.footer.text, LIMITS.footer) };
  if (out.author) out.author = { ...out.author, name: required(out.author.name, LIMITS.authorName) };
  if (out.fields) {
    out.fields = out.fields.slice(0, LIMITS.embedFields).map((f) => ({
      ...f,
      name: required(f.name, LIMITS.fieldName),
      value: required(f.value, LIMITS.fieldValue),
    }));
  }
  const parts: EmbedText[] = [];
  if (out.title !== undefined) parts.push({ get: () => out.title!, set: (v) => (out.title = v), min: 1 });
  if (out.description !== undefined) parts.push({ get: () => out.description!, set: (v) => (out.description = v), min: 1 });
  if (out.footer) parts.push({ get: () => out.footer!.text, set: (v) => (out.footer!.text = v), min: 1 });
  if (out.author) parts.push({ get: () => out.author!.name, set: (v) => (out.author!.name = v), min: 1 });
  for (const field of out.fields ?? []) {
    parts.push({ get: () => field.name, set: (v) => (field.name = v), min: 1 });
    parts.push({ get: () => field.value, set: (v) => (field.value = v), min: 1 });
  }
  // UTF-16 length bounds the code point count, so one sum covers both.
  const total = () => parts.reduce((sum, p) => sum + p.get().length, 0);
  for (let excess = total() - budget; excess > 0; excess = total() - budget) {
    const longest = parts.reduce((a, b) => (b.get().length > a.get().length ? b : a));
    const length = longest.get().length;
    if (length <= longest.min) break; // nothing left to cut
    longest.set(required(longest.get(), Math.max(longest.min, length - excess)));
  }
  return out;
}

type MessageRow = APIActionRowComponent<APIComponentInMessageActionRow>;

/** Button labels and select menus' texts within their limits (custom ids are never cut: they are signed). */
export function fitComponents(rows: readonly MessageRow[]): MessageRow[] {
  return rows.map((row) => ({
    ...row,
    components: row.components.map((component) => {
      const c = { ...component } as Record<string, unknown>;
      // A button may have an emoji and no label; a label it has is cut.
      if (typeof c.label === 'string' && c.label) c.label = required(c.label, LIMITS.buttonLabel);
      if (typeof c.placeholder === 'string') c.placeholder = fitText(c.placeholder, LIMITS.selectPlaceholder);
      if (Array.isArray(c.options)) {
        c.options = (c.options as Record<string, unknown>[]).map((o) => ({
          ...o,
          label: required(String(o.label ?? ''), LIMITS.selectOption),
          ...(typeof o.description === 'string' ? { description: required(o.description, LIMITS.selectOption) } : {}),
        }));
      }
      return c as unknown as APIComponentInMessageActionRow;
    }),
  }));
}
