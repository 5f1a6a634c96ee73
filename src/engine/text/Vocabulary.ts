/**
 * What a small model knows: the words its captions used (`vocabulary` in latentwalk.json), and which words
 * of a prompt are not among them. Pure; no onnxruntime.
 *
 * How a prompt is read (the same way for the vocabulary's own entries):
 * - NFKC, then lower case: "DOG", "Dog" and fullwidth "ｄｏｇ" are "dog".
 * - Words are runs of letters, marks and digits, in any script (Arabic, Hebrew, CJK count as words too);
 *   punctuation splits them, as CLIP's tokenizer does ("t-rex" is "t" and "rex", "dog," is "dog").
 *   English contraction and possessive endings go ("dog's" is "dog").
 * - Invisible format characters (zero-width space/joiner/non-joiner, word joiner, BOM, soft hyphen, the
 *   RTL/LTR marks and embeddings) are dropped: "do\u200Bg" is "dog", as the member sees it.
 * - An emoji (a whole sequence: skin tone, ZWJ family, flag, keycap) is one word; a model that learned from
 *   captions never saw one unless its vocabulary lists it, so it is reported like any unknown word.
 * - A plural and its singular are the same word ("dogs", "boxes", "berries", "leaves" for "dog", "box",
 *   "berry", "leaf", and back): the model renders the concept, and naming "dogs" as unknown would mislead.
 * - Articles and the commonest function words ("a", "the", "of", "with"...) are never reported: they carry no
 *   subject, and a note about "the" would hide the words that matter.
 */

/** Never reported as unknown: articles, common prepositions and conjunctions. */
export const IGNORED_WORDS: ReadonlySet<string> = new Set([
  'a', 'an', 'the', 'and', 'or', 'of', 'with', 'in', 'on', 'at', 'to', 'for', 'from', 'by', 'some', 'is', 'are',
]);

// \p{RGI_Emoji} needs the `v` flag (Node 20+), written as a string for TypeScript's ES2022 target.
const TOKEN = new RegExp(String.raw`\p{RGI_Emoji}|\p{Extended_Pictographic}|[\p{L}\p{M}\p{N}\p{Cf}]+`, 'gv');
const EMOJI = new RegExp(String.raw`^(?:\p{RGI_Emoji}|\p{Extended_Pictographic})$`, 'v');
const FORMAT = /\p{Cf}/gu;
const VARIATION = /[\uFE0E\uFE0F]/gu;
const HAS_LETTER_OR_DIGIT = /[\p{L}\p{N}]/u;
/** `'s`, `'t`, `'re`, `'ve`, `'m`, `'ll`, `'d` at a word's end (straight or curly apostrophe). */
const CONTRACTION = /['’](?:s|t|re|ve|m|ll|d)(?![\p{L}\p{N}])/gu;

/** The words of a text, normalised as described above, in order (repeats kept). */
export function promptWords(text: string): string[] {
  const normalised = text.normalize('NFKC').toLowerCase().replace(CONTRACTION, '');
  const words: string[] = [];
  for (const match of normalised.matchAll(TOKEN)) {
    const token = match[0];
    if (EMOJI.test(token)) {
      words.push(token);
      continue;
    }
    const word = token.replace(FORMAT, '');
    if (HAS_LETTER_OR_DIGIT.test(word)) words.push(word);
  }
  return words;
}

function bareEmoji(emoji: string): string {
  return emoji.replace(VARIATION, '') || emoji;
}

/** Other spellings of a word that count as the same word: its singular (dogs -> dog) and its plurals. */
function variants(word: string): string[] {
  const out = [`${word}s`, `${word}es`];
  if (word.endsWith('y')) out.push(`${word.slice(0, -1)}ies`);
  if (word.endsWith('f')) out.push(`${word.slice(0, -1)}ves`);
  if (word.endsWith('fe')) out.push(`${word.slice(0, -2)}ves`);
  if (word.length > 3 && word.endsWith('ies')) out.push(`${word.slice(0, -3)}y`);
  if (word.length > 3 && word.endsWith('ves')) out.push(`${word.slice(0, -3)}f`, `${word.slice(0, -3)}fe`);
  if (word.length > 2 && word.endsWith('es')) out.push(word.slice(0, -2));
  if (word.length > 1 && word.endsWith('s') && !word.endsWith('ss')) out.push(word.slice(0, -1));
  return out;
}

export class Vocabulary {
  private readonly words: ReadonlySet<string>;
  /** The entries as declared (latentwalk.json), for whoever shows or publishes them. */
  readonly entries: readonly string[];

  private constructor(words: ReadonlySet<string>, entries: readonly string[]) {
    this.words = words;
    this.entries = entries;
  }

  /** From latentwalk.json's `vocabulary`; each entry is read like a prompt ("t-rex" adds "t" and "rex"). */
  static from(entries: Iterable<string>): Vocabulary {
    const list = [...entries];
    const words = new Set<string>();
    for (const entry of list) {
      for (const word of promptWords(entry)) words.add(EMOJI.test(word) ? bareEmoji(word) : word);
    }
    return new Vocabulary(words, list);
  }

  /** Distinct words known (after normalisation). */
  get size(): number {
    return this.words.size;
  }

  /** Whether the model knows this word (one word as `promptWords` gives it), or it is one never reported. */
  knows(word: string): boolean {
    if (this.words.has(word) || IGNORED_WORDS.has(word)) return true;
    // "❤" and "❤️" are one emoji: the presentation selector is no part of its meaning.
    if (EMOJI.test(word)) return this.words.has(bareEmoji(word));
    return variants(word).some((v) => this.words.has(v));
  }

  /** The words of these prompts the model does not know: distinct, in order of first appearance. */
  unknownWords(prompts: string | readonly string[]): string[] {
    const unknown = new Set<string>();
    for (const prompt of typeof prompts === 'string' ? [prompts] : prompts) {
      for (const word of promptWords(prompt)) if (!this.knows(word)) unknown.add(word);
    }
    return [...unknown];
  }
}

/** The words of `prompts` that `vocabulary` does not know (see Vocabulary); none when there is no vocabulary. */
export function unknownWords(prompts: string | readonly string[], vocabulary: Vocabulary | undefined): string[] {
  return vocabulary ? vocabulary.unknownWords(prompts) : [];
}
