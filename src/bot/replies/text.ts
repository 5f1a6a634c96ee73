/**
 * Text that goes to Discord: user-written prompts are escaped (no markdown, no mentions, no direction
 * overrides) and cut to the limits of the place they land in (fit.ts), so an over-long or hostile prompt can
 * neither break a message nor ping anyone. (allowedMentions on every message is the real guard against
 * pings; defusing `@` is a second one.)
 */
import { fitPieces, graphemes, wellFormed } from './fit.ts';

/** Characters that Discord markdown gives a meaning to; a backslash before any of them shows it as typed. */
const MARKDOWN = new Set(['\\', '*', '_', '~', '`', '|', '>', '<', '#', '-', '[', ']', '(', ')', ':']);
const ZWSP = '\u200b';
/**
 * Bidi embeddings, overrides and isolates: one left open in a prompt would reorder the rest of the bot's
 * line (the mention after it, the next field). The marks (U+200E, U+200F, U+061C) reorder nothing and stay.
 */
const BIDI_CONTROLS = /[\u202a-\u202e\u2066-\u2069]/g;

function escapeChar(char: string): string {
  if (char === '@') return `@${ZWSP}`;
  return MARKDOWN.has(char) ? `\\${char}` : char;
}

/**
 * A prompt made safe to show: whitespace folded to single spaces, direction controls dropped, markdown
 * escaped, mentions defused (`@everyone`, `<@id>`, `<@&role>`, `<#channel>` lose their meaning), then cut to
 * `max` (fit.ts: both counts, whole grapheme clusters, an ellipsis). An escape is never split from its
 * character.
 */
export function safePrompt(text: string, max: number): string {
  const folded = wellFormed(text).replace(BIDI_CONTROLS, '').replace(/\s+/g, ' ').trim();
  return fitPieces(escapedGraphemes(folded), max);
}

function* escapedGraphemes(text: string): Generator<string> {
  for (const grapheme of graphemes(text)) {
    let piece = '';
    for (const char of grapheme) piece += escapeChar(char);
    yield piece;
  }
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
