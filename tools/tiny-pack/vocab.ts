/**
 * The tiny pack's CLIP-style BPE vocabulary: CLIP's 256 byte symbols (and each with `</w>`), merges
 * that build a few hundred whole English words, then `<|startoftext|>` / `<|endoftext|>` as the two
 * highest ids (so argmax(ids) finds EOS, as in real CLIP).
 */
import * as tokenizers from '@huggingface/tokenizers';

// The package's .d.ts files use extensionless relative re-exports, which NodeNext resolution drops, so
// its model classes are untyped here; this is the one method used.
interface BpeModel {
  bpe(token: string): string[];
}
const { BPE } = tokenizers as unknown as { BPE: new (config: object) => BpeModel };

export const BOS_TOKEN = '<|startoftext|>';
export const EOS_TOKEN = '<|endoftext|>';
const END_OF_WORD = '</w>';

/** Words that become single tokens: colours, shapes, animals, scenes, styles and the README's prompts. */
export const WORDS: readonly string[] = [
  // function words
  'a', 'an', 'the', 'of', 'in', 'on', 'at', 'by', 'with', 'and', 'or', 'to', 'from', 'for', 'under', 'over',
  'above', 'below', 'behind', 'near', 'into', 'through', 'is', 'are', 'its', 'his', 'her', 'their', 'very',
  'two', 'three', 'four', 'five', 'many', 'one', 'some', 'no', 'not',
  // colours
  'red', 'green', 'blue', 'yellow', 'orange', 'purple', 'pink', 'black', 'white', 'grey', 'gray', 'brown',
  'cyan', 'magenta', 'gold', 'golden', 'silver', 'teal', 'violet', 'crimson', 'turquoise', 'colorful',
  'colourful', 'dark', 'bright', 'pastel', 'neon', 'rainbow',
  // shapes
  'circle', 'square', 'triangle', 'star', 'heart', 'cube', 'sphere', 'ball', 'line', 'lines', 'spiral',
  'ring', 'dot', 'dots', 'stripes', 'pattern', 'grid', 'shape', 'shapes', 'round', 'big', 'small', 'tiny',
  'huge', 'large',
  // animals
  'cat', 'cats', 'dog', 'dogs', 'frog', 'bird', 'birds', 'fish', 'horse', 'cow', 'pig', 'sheep', 'lion',
  'tiger', 'bear', 'wolf', 'fox', 'rabbit', 'mouse', 'owl', 'eagle', 'duck', 'penguin', 'panda', 'monkey',
  'elephant', 'giraffe', 'zebra', 'whale', 'dolphin', 'shark', 'octopus', 'snake', 'turtle', 'butterfly',
  'bee', 'dragon', 'unicorn', 'kitten', 'puppy', 'corgi', 'animal',
  // people and things
  'man', 'woman', 'child', 'girl', 'boy', 'person', 'people', 'astronaut', 'robot', 'wizard', 'knight',
  'king', 'queen', 'face', 'hat', 'spacesuit', 'suit', 'car', 'bicycle', 'boat', 'ship', 'train', 'plane',
  'rocket', 'house', 'castle', 'tower', 'bridge', 'road', 'street', 'garden', 'flower', 'flowers', 'rose',
  'tree', 'trees', 'apple', 'banana', 'cake', 'coffee', 'cup', 'book', 'lamp', 'chair', 'table', 'window',
  'door', 'clock', 'guitar', 'piano', 'balloon', 'kite', 'crown', 'sword', 'mask', 'teapot', 'candle',
  // scenes and nature
  'sky', 'sun', 'moon', 'stars', 'cloud', 'clouds', 'rain', 'snow', 'storm', 'fog', 'mist', 'fire',
  'water', 'ice', 'sea', 'ocean', 'lake', 'river', 'beach', 'island', 'desert', 'forest', 'jungle',
  'mountain', 'mountains', 'hill', 'hills', 'valley', 'field', 'meadow', 'city', 'town', 'village', 'space',
  'planet', 'galaxy', 'nebula', 'world', 'sunset', 'sunrise', 'night', 'day', 'morning', 'evening', 'winter',
  'summer', 'spring', 'autumn', 'light', 'shadow', 'sunlight', 'underwater', 'cave', 'room', 'kitchen',
  // styles
  'photo', 'photograph', 'painting', 'drawing', 'sketch', 'illustration', 'portrait', 'landscape',
  'watercolor', 'oil', 'pencil', 'ink', 'art', 'style', 'abstract', 'realistic', 'photorealistic',
  'cinematic', 'detailed', 'highly', 'lighting', 'render', 'pixel', 'cartoon', 'anime', 'digital',
  'vintage', 'retro', 'minimalist', 'surreal', 'dreamy', 'cyberpunk', 'steampunk', 'fantasy', 'cute',
  'beautiful', 'epic', 'soft', 'sharp', 'blurry', 'glowing', 'shiny', 'wooden', 'glass', 'metal', 'stone',
  'paper', 'made', 'close', 'view', 'background', 'foreground', 'macro', 'wide', 'angle', 'lens', 'quality',
  'masterpiece', 'trending', 'studio', 'ghibli', 'van', 'gogh', 'monet',
  // verbs
  'riding', 'flying', 'swimming', 'running', 'walking', 'sitting', 'standing', 'sleeping', 'eating',
  'reading', 'playing', 'dancing', 'jumping', 'wearing', 'holding', 'looking', 'floating', 'melting',
  'burning', 'growing',
];

/**
 * CLIP's bytes_to_unicode: printable Latin-1 bytes map to themselves, the rest to U+0100 onwards.
 * Returned in CLIP's vocabulary order (printable ranges first), so '!' is id 0.
 */
export function byteSymbols(): string[] {
  const printable: number[] = [];
  const ranges: Array<[number, number]> = [
    [0x21, 0x7e],
    [0xa1, 0xac],
    [0xae, 0xff],
  ];
  for (const [lo, hi] of ranges) for (let b = lo; b <= hi; b++) printable.push(b);
  const symbols = printable.map((b) => String.fromCharCode(b));
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    if (!printable.includes(b)) symbols.push(String.fromCharCode(256 + extra++));
  }
  return symbols;
}

export interface ClipVocab {
  /** token -> id, in id order */
  vocab: Map<string, number>;
  /** "left right" merge rules, in rank order (without the `#version` header) */
  merges: string[];
  bosId: number;
  eosId: number;
}

/**
 * Builds merges so every word in WORDS is one `word</w>` token. For each word the current merges are
 * applied (with the tokenizer library's own BPE), and whatever pieces remain are joined left to right
 * by new, lowest-priority merges; earlier words keep their segmentation because their merges all rank higher.
 */
export function buildClipVocab(words: readonly string[] = WORDS): ClipVocab {
  const base = byteSymbols();
  const vocab = new Map<string, number>();
  const addToken = (t: string): void => {
    if (!vocab.has(t)) vocab.set(t, vocab.size);
  };
  base.forEach(addToken);
  base.forEach((s) => addToken(s + END_OF_WORD));

  const merges: string[] = [];
  const seen = new Set<string>();
  for (const word of words) {
    if (seen.has(word)) continue;
    seen.add(word);
    let pieces = segment(word, merges);
    while (pieces.length > 1) {
      const [left, right] = pieces as [string, string, ...string[]];
      merges.push(`${left} ${right}`);
      addToken(left + right);
      pieces = [left + right, ...pieces.slice(2)];
    }
  }
  const bosId = vocab.size;
  addToken(BOS_TOKEN);
  const eosId = vocab.size;
  addToken(EOS_TOKEN);
  return { vocab, merges, bosId, eosId };
}

/** Segments one (ASCII) word with the given merges, as CLIP's BPE would. */
function segment(word: string, merges: readonly string[]): string[] {
  const model = new BPE({
    type: 'BPE',
    vocab: {},
    merges: merges.length ? [...merges] : [],
    end_of_word_suffix: END_OF_WORD,
    ignore_merges: false,
  });
  return model.bpe(word);
}

/** merges.txt text as transformers' CLIPTokenizer saves it. */
export function mergesText(merges: readonly string[]): string {
  return ['#version: 0.2', ...merges].join('\n') + '\n';
}

/** vocab.json as an ordered object (ids ascending), so the file is byte-stable. */
export function vocabObject(vocab: ReadonlyMap<string, number>): Record<string, number> {
  return Object.fromEntries(vocab);
}
