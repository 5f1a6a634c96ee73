/**
 * What counts in a prompt's text, the same for the bot, the queue and the registered command options.
 *
 * - Length is in code points, as Discord counts (its client lets through 500 emoji for a max_length of 500,
 *   so the bot and the queue must take them too).
 * - A prompt needs at least one visible character: one made only of zero-width spaces and joiners, word
 *   joiners, byte order marks, variation selectors, bidi marks, tag characters, whitespace or combining marks
 *   with nothing to sit on renders nothing, and is refused like an empty one.
 */

/**
 * Whitespace; default-ignorable code points (U+00AD, U+034F, U+061C, U+115F/1160, U+180B-180F, U+200B-200F,
 * U+202A-202E, U+2060-206F, U+3164, U+FE00-FE0F, U+FEFF, U+FFA0, tags...); controls, other format
 * characters, surrogates; marks (alone they mark nothing); the blank braille pattern.
 */
const INVISIBLE = /[\p{White_Space}\p{Default_Ignorable_Code_Point}\p{Cc}\p{Cf}\p{Cs}\p{M}\u2800]/gu;

export function hasVisibleCharacter(text: string): boolean {
  return text.replace(INVISIBLE, '').length > 0;
}

/** Length as Discord counts it: code points. */
export function promptLength(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

/**
 * The prompt as it is stored and rendered: lone surrogates dropped (no Discord client can send one, and they
 * cannot be encoded as UTF-8), whitespace runs folded to one space, trimmed.
 */
export function normalizePrompt(text: string): string {
  return text.replace(/\p{Cs}/gu, '').replace(/\s+/g, ' ').trim();
}
