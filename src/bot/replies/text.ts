/**
 * Text that goes to Discord: user-written prompts are escaped (no markdown, no mentions) and cut to the
 * limits of the place they land in, so an over-long or hostile prompt can neither break a message nor ping
 * anyone. (allowedMentions on every message is the real guard against pings; defusing `@` is a second one.)
 */
/** Discord's limits (developers/resources/message.mdx, components/reference.mdx). */
export const LIMITS = {
  content: 2000,
  embedTitle: 256,
  embedDescription: 4096,
  fieldName: 256,
  fieldValue: 1024,
  footer: 2048,
  embedTotal: 6000,
  buttonLabel: 80,
  modalTitle: 45,
  textInputLabel: 45,
  placeholder: 100,
} as const;

/** Cuts to `max` characters (code points, never half a surrogate pair), with an ellipsis when cut. */
export function truncate(text: string, max: number): string {
  const chars = Array.from(text);
  if (chars.length <= max) return text;
  return chars.slice(0, Math.max(0, max - 1)).join('') + '…';
}

/** Characters that Discord markdown gives a meaning to; a backslash before any of them shows it as typed. */
const MARKDOWN = new Set(['\\', '*', '_', '~', '`', '|', '>', '<', '#', '-', '[', ']', '(', ')', ':']);
const ZWSP = '\u200b';

function escapeChar(char: string): string {
  if (char === '@') return `@${ZWSP}`;
  return MARKDOWN.has(char) ? `\\${char}` : char;
}

/**
 * A prompt made safe to show: whitespace folded to single spaces, markdown escaped, mentions defused
 * (`@everyone`, `<@id>`, `<@&role>`, `<#channel>` lose their meaning), then cut to `max` characters with an
 * ellipsis. Escapes are never split by the cut.
 */
export function safePrompt(text: string, max: number): string {
  const folded = text.replace(/\s+/g, ' ').trim();
  let out = '';
  let length = 0;
  const chars = Array.from(folded);
  for (let i = 0; i < chars.length; i++) {
    const piece = escapeChar(chars[i]!);
    const size = Array.from(piece).length;
    const last = i === chars.length - 1;
    if (length + size > (last ? max : max - 1)) return `${out}…`;
    out += piece;
    length += size;
  }
  return out;
}

/** `@everyone` → `@\u200beveryone`: shown as typed, never resolved, for text that is not otherwise escaped. */
export function defuseMentions(text: string): string {
  return text.replace(/@/g, `@${ZWSP}`);
}

/** A user mention. Rendered as a name, but pings nobody because every message sets allowedMentions.parse = []. */
export function userMention(userId: string): string {
  return `<@${userId}>`;
}

/** `▰▰▰▱▱▱▱▱▱▱` for done/total. */
export function progressBar(done: number, total: number, width = 12): string {
  const ratio = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
  const filled = Math.round(ratio * width);
  return '▰'.repeat(filled) + '▱'.repeat(width - filled);
}

export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  const rest = seconds % 60;
  if (minutes < 60) return rest ? `${minutes} min ${rest} s` : `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  return `${hours} h ${minutes % 60} min`;
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(bytes % (1024 * 1024) === 0 ? 0 : 1)} MiB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KiB`;
  return `${bytes} B`;
}

export function ordinal(n: number): string {
  const mod100 = n % 100;
  if (mod100 >= 11 && mod100 <= 13) return `${n}th`;
  return `${n}${{ 1: 'st', 2: 'nd', 3: 'rd' }[n % 10] ?? 'th'}`;
}
