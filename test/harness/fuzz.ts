/**
 * Seeded hostile text for the fuzz tests: emoji (with and without presentation selectors), skin tones, ZWJ
 * sequences, flags (regional pairs and tag sequences), keycaps, stacked combining marks, right-to-left text
 * with bidi overrides and isolates, zero-width and other invisible characters, lone surrogates, markdown and
 * mention syntax, whitespace. The same seed gives the same texts (LATENTWALK_FUZZ_SEED picks another).
 */
import { seededRandom } from './random.ts';

export const FUZZ_SEED = Number(process.env['LATENTWALK_FUZZ_SEED'] ?? 20261128);

export const POOLS = {
  emoji: ['😀', '🔴', '🐕', '🎨', '❤️', '☕', '⭐', '🌀', '🗑️', '👁️‍🗨️'],
  skinTones: ['👍🏽', '👋🏿', '🧑🏻‍🚀', '👩🏼‍🎤', '🤝🏾'],
  zwj: ['👨‍👩‍👧‍👦', '🏳️‍🌈', '🧑‍💻', '👩‍❤️‍💋‍👨', '🐻‍❄️'],
  flags: ['🇫🇷', '🇯🇵', '🇺🇦', '🏴󠁧󠁢󠁳󠁣󠁴󠁿', '🏴‍☠️'],
  keycaps: ['1️⃣', '#️⃣', '*️⃣', '🔟'],
  combining: ['e\u0301', 'a\u0308\u0304', 'Z\u0351\u0352\u0353\u0354\u0355\u0356\u0357\u0358\u0359', '\u0301\u0302', 'ก\u0e49\u0e33'],
  rightToLeft: ['שלום', 'مرحبا', 'עולם גדול', 'بالعالم', '\u202eevil', '\u2067isolated', '\u200f', '\u202b', '\u061c'],
  zeroWidth: ['\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u180e', '\u3164', '\ufe0f', '\u00ad', '\u{e0061}'],
  loneSurrogates: ['\ud83d', '\ude00', '\udbff', '\udc00'],
  markup: ['**', '__', '~~', '`', '```', '||', '\\', '> ', '# ', '-# ', '- ', '@everyone', '@here', '<@123456789012345678>', '<#1>', '<:e:1>', '[x](https://example.com)', ':'],
  words: ['a', 'red', 'circle', 'cat', 'lighthouse', 'at', 'dusk', 'of', 'the', 'windmill'],
  space: [' ', ' ', ' ', '\n', '\t', '\u00a0', '\u3000'],
} as const;

export type Pool = keyof typeof POOLS;
const ALL = Object.keys(POOLS) as Pool[];

export function codePointCount(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** Exactly `length` code points (the cut may split a sequence: input is allowed to be broken). */
function codePointSlice(text: string, length: number): string {
  let out = '';
  let n = 0;
  for (const char of text) {
    if (n++ >= length) break;
    out += char;
  }
  return out;
}

export class FuzzText {
  readonly random: () => number;

  constructor(readonly seed: number = FUZZ_SEED) {
    this.random = seededRandom(seed);
  }

  int(min: number, max: number): number {
    return min + Math.floor(this.random() * (max - min + 1));
  }

  pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.random() * list.length)]!;
  }

  /** `length` code points drawn from `pools` (all of them by default). */
  text(length: number, pools: readonly Pool[] = ALL): string {
    let out = '';
    let count = 0;
    while (count < length) {
      const piece = this.pick(POOLS[this.pick(pools)]);
      out += piece;
      count += codePointCount(piece);
    }
    return codePointSlice(out, length);
  }

  /**
   * A prompt the bot must accept: at most `max` code points, mostly at the maximum, with a visible word at a
   * random place so that it is not refused as empty.
   */
  prompt(max: number): string {
    const length = this.random() < 0.6 ? max : this.int(1, max);
    const word = this.pick(POOLS.words);
    const body = this.text(Math.max(0, length - word.length - 1));
    const at = this.int(0, codePointCount(body));
    const chars = Array.from(body);
    return [...chars.slice(0, at), ` ${word}`, ...chars.slice(at)].join('');
  }

  /** A prompt with no visible character: zero-width characters, marks without a base, whitespace. */
  invisible(max: number): string {
    return this.text(this.int(1, Math.min(max, 60)), ['zeroWidth', 'space']).concat('\u200d');
  }
}
