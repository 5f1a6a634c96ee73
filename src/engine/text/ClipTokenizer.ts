/**
 * CLIP tokenization for SD3's two CLIP encoders, through @huggingface/tokenizers (no hand-written BPE).
 *
 * A tokenizer folder comes in two forms, both loaded here:
 * - fast: `tokenizer.json` (used as is);
 * - slow: `vocab.json` + `merges.txt` (what transformers' CLIPTokenizer saves), from which the same
 *   tokenizer.json CLIP's fast tokenizer has is built in memory.
 * Special tokens and model_max_length come from `tokenizer_config.json` / `special_tokens_map.json`,
 * falling back to tokenizer.json, then to CLIPTokenizer's default token strings; ids always come from the vocabulary.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { EngineError } from '../errors.ts';

/**
 * The part of @huggingface/tokenizers' Tokenizer used here. Its .d.ts files re-export without file
 * extensions, which NodeNext resolution turns into `any`, so the surface is typed by hand.
 */
interface HfTokenizerApi {
  encode(text: string, options: { add_special_tokens: boolean }): { ids: number[] };
  token_to_id(token: string): number | undefined;
}
const Tokenizer = HfTokenizer as unknown as new (tokenizerJson: object, config: object) => HfTokenizerApi;

export interface TokenizedPrompt {
  /** BOS, content tokens, EOS, then pad ids; length maxLength. */
  ids: BigInt64Array;
  /** Content tokens kept (without BOS/EOS). */
  tokenCount: number;
  truncated: boolean;
  /** Words (whitespace-split, as typed) that did not fit in the window, in order; a word cut in half counts as dropped. */
  droppedWords: string[];
}

export interface ClipTokenizerOptions {
  /** Overrides model_max_length (CLIP: 77). */
  maxLength?: number;
}

/** CLIP's context length, used only when the tokenizer files give no usable model_max_length. */
const CLIP_CONTEXT_LENGTH = 77;

/** transformers' CLIPTokenizer defaults (token strings, not ids). */
const CLIP_DEFAULT_TOKENS = {
  bos_token: '<|startoftext|>',
  eos_token: '<|endoftext|>',
  unk_token: '<|endoftext|>',
  pad_token: '<|endoftext|>',
} as const;
type SpecialKey = keyof typeof CLIP_DEFAULT_TOKENS;

/** The pre-tokenizer regex of CLIP's tokenizer.json (transformers' convert_slow_tokenizer / KerasHub). */
const CLIP_SPLIT_REGEX = "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Keeps error messages to one line. */
function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** Reads files of one tokenizer folder and phrases errors as `tokenizer_2/merges.txt ... in /pack`. */
class TokenizerFolder {
  readonly name: string;
  readonly packRoot: string;

  constructor(readonly dir: string) {
    this.name = path.basename(dir);
    this.packRoot = path.dirname(dir);
  }

  rel(file: string): string {
    return `${this.name}/${file}`;
  }

  missing(file: string, why: string): EngineError {
    return new EngineError('PACK_FILE_MISSING', `${this.rel(file)} is missing in ${this.packRoot}: ${why}`);
  }

  invalid(file: string, why: string, cause?: unknown): EngineError {
    return new EngineError('PACK_INVALID', oneLine(`${this.rel(file)} in ${this.packRoot} ${why}`), { cause });
  }

  async ensureExists(): Promise<void> {
    const info = await stat(this.dir).catch(() => undefined);
    if (!info?.isDirectory()) {
      throw new EngineError('PACK_FILE_MISSING', `${this.name}/ is missing in ${this.packRoot}: the pack needs a CLIP tokenizer folder there`);
    }
  }

  /** The file's text, or undefined when it does not exist. */
  async text(file: string): Promise<string | undefined> {
    try {
      return await readFile(path.join(this.dir, file), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw this.invalid(file, `cannot be read: ${(err as Error).message}`, err);
    }
  }

  async json(file: string): Promise<Json | undefined> {
    const text = await this.text(file);
    if (text === undefined) return undefined;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw this.invalid(file, `is not valid JSON: ${(err as Error).message}`, err);
    }
    if (!isObject(value)) throw this.invalid(file, 'is not a JSON object');
    return value;
  }
}

/** A special token value as the config files store it: a string or an AddedToken-like `{content: ...}`. */
function tokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (isObject(value) && typeof value.content === 'string') return value.content;
  return undefined;
}

/** Special tokens named by tokenizer.json itself (post-processor, model, padding). */
function tokensFromTokenizerJson(tok: Json): Partial<Record<SpecialKey, string>> {
  const out: Partial<Record<SpecialKey, string>> = {};
  const post = tok.post_processor;
  if (isObject(post)) {
    if (Array.isArray(post.cls) && typeof post.cls[0] === 'string') out.bos_token = post.cls[0];
    if (Array.isArray(post.sep) && typeof post.sep[0] === 'string') out.eos_token = post.sep[0];
    if (Array.isArray(post.single)) {
      const specials = post.single
        .map((item: unknown) => (isObject(item) && isObject(item.SpecialToken) ? item.SpecialToken.id : undefined))
        .filter((id): id is string => typeof id === 'string');
      if (specials.length >= 2) {
        out.bos_token ??= specials[0];
        out.eos_token ??= specials[specials.length - 1];
      }
    }
  }
  if (isObject(tok.model) && typeof tok.model.unk_token === 'string') out.unk_token = tok.model.unk_token;
  if (isObject(tok.padding) && typeof tok.padding.pad_token === 'string') out.pad_token = tok.padding.pad_token;
  return out;
}

interface AddedTokenJson {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

/** Builds CLIP's fast-tokenizer definition from the slow files' contents. */
function clipTokenizerJson(vocab: Record<string, number>, merges: string[], unk: string, addedTokens: AddedTokenJson[]): Json {
  return {
    added_tokens: addedTokens,
    normalizer: {
      type: 'Sequence',
      normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }],
    },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: CLIP_SPLIT_REGEX }, behavior: 'Removed', invert: true },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    // BOS/EOS are added by encode() itself, so no post-processor is needed.
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: unk,
      continuing_subword_prefix: '',
      end_of_word_suffix: '</w>',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
}

/** `added_tokens_decoder` of tokenizer_config.json (written by transformers >= 4.34) as tokenizer.json added_tokens. */
function addedTokensFromConfig(config: Json | undefined): AddedTokenJson[] | undefined {
  const decoder = config?.added_tokens_decoder;
  if (!isObject(decoder)) return undefined;
  const tokens: AddedTokenJson[] = [];
  for (const [id, value] of Object.entries(decoder)) {
    const content = tokenContent(value);
    if (content === undefined || !/^\d+$/.test(id)) continue;
    const flag = (key: string, fallback: boolean): boolean => (isObject(value) && typeof value[key] === 'boolean' ? (value[key] as boolean) : fallback);
    tokens.push({
      id: Number(id),
      content,
      single_word: flag('single_word', false),
      lstrip: flag('lstrip', false),
      rstrip: flag('rstrip', false),
      normalized: flag('normalized', false),
      special: flag('special', true),
    });
  }
  return tokens.sort((a, b) => a.id - b.id);
}

export class ClipTokenizer {
  private constructor(
    private readonly tokenizer: HfTokenizerApi,
    readonly bosId: number,
    readonly eosId: number,
    readonly padId: number,
    readonly maxLength: number,
  ) {}

  /** Loads the tokenizer folder `dir` (e.g. `<pack>/tokenizer_2`); throws EngineError PACK_FILE_MISSING / PACK_INVALID. */
  static async load(dir: string, options: ClipTokenizerOptions = {}): Promise<ClipTokenizer> {
    const folder = new TokenizerFolder(path.resolve(dir));
    await folder.ensureExists();
    const config = await folder.json('tokenizer_config.json');
    const specialMap = await folder.json('special_tokens_map.json');
    const fast = await folder.json('tokenizer.json');

    type Named = { token: string; source: string; isDefault: boolean };
    const contentOf = (key: SpecialKey, fromTokenizerJson: Partial<Record<SpecialKey, string>>): Named => {
      const fromConfig = tokenContent(config?.[key]);
      if (fromConfig !== undefined) return { token: fromConfig, source: 'tokenizer_config.json', isDefault: false };
      const fromMap = tokenContent(specialMap?.[key]);
      if (fromMap !== undefined) return { token: fromMap, source: 'special_tokens_map.json', isDefault: false };
      const fromJson = fromTokenizerJson[key];
      if (fromJson !== undefined) return { token: fromJson, source: 'tokenizer.json', isDefault: false };
      return { token: CLIP_DEFAULT_TOKENS[key], source: fast ? 'tokenizer.json' : 'vocab.json', isDefault: true };
    };

    let definition: Json;
    let definitionFile: string;
    let jsonTokens: Partial<Record<SpecialKey, string>> = {};
    if (fast) {
      definition = fast;
      definitionFile = 'tokenizer.json';
      if (!isObject(fast.model)) throw folder.invalid('tokenizer.json', 'has no "model" section');
      jsonTokens = tokensFromTokenizerJson(fast);
    } else {
      definition = await ClipTokenizer.definitionFromSlowFiles(folder, config, (key) => contentOf(key, {}).token);
      definitionFile = 'vocab.json';
    }

    let tokenizer: HfTokenizerApi;
    try {
      // tokenizers.js requires these keys to exist (null is fine) and an added_tokens list.
      const complete = { normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, added_tokens: [], ...definition };
      tokenizer = new Tokenizer(complete, config ?? {});
    } catch (err) {
      throw folder.invalid(definitionFile, `is not a tokenizer the tokenizers library can load: ${(err as Error).message}`, err);
    }

    const idOf = (key: SpecialKey): number => {
      const { token, source, isDefault } = contentOf(key, jsonTokens);
      const id = tokenizer.token_to_id(token);
      if (id !== undefined) return id;
      throw isDefault
        ? folder.invalid(source, `has no "${token}" (CLIP's default ${key}) and no tokenizer config names another ${key}`)
        : folder.invalid(source, `names ${key} "${token}", which is not in the vocabulary`);
    };
    const bosId = idOf('bos_token');
    const eosId = idOf('eos_token');
    idOf('unk_token');
    const padId = idOf('pad_token');

    const maxLength = ClipTokenizer.resolveMaxLength(folder, config, options);
    return new ClipTokenizer(tokenizer, bosId, eosId, padId, maxLength);
  }

  private static async definitionFromSlowFiles(
    folder: TokenizerFolder,
    config: Json | undefined,
    tokenOf: (key: SpecialKey) => string,
  ): Promise<Json> {
    const why = 'a CLIP tokenizer needs tokenizer.json, or vocab.json + merges.txt';
    const vocabJson = await folder.json('vocab.json');
    if (!vocabJson) throw folder.missing('vocab.json', why);
    const mergesText = await folder.text('merges.txt');
    if (mergesText === undefined) throw folder.missing('merges.txt', why);

    const vocab: Record<string, number> = {};
    for (const [token, id] of Object.entries(vocabJson)) {
      if (!Number.isInteger(id)) throw folder.invalid('vocab.json', `maps "${token}" to ${JSON.stringify(id)}, not an integer id`);
      vocab[token] = id as number;
    }
    // Like transformers' CLIPTokenizer: skip the "#version" header, keep only merges the vocabulary covers
    // (the slow tokenizer cuts merges.txt to the vocabulary's size for the same reason).
    const merges: string[] = [];
    for (const raw of mergesText.split('\n')) {
      const line = raw.trimEnd();
      if (!line || line.startsWith('#version')) continue;
      const parts = line.split(' ');
      if (parts.length !== 2) throw folder.invalid('merges.txt', `has a line that is not "left right": ${JSON.stringify(line.slice(0, 40))}`);
      if (`${parts[0]}${parts[1]}` in vocab) merges.push(line);
    }

    let added = addedTokensFromConfig(config);
    if (!added) {
      // No added_tokens_decoder (older transformers): register BOS/EOS/UNK/PAD as special tokens.
      const seen = new Set<string>();
      added = [];
      for (const key of Object.keys(CLIP_DEFAULT_TOKENS) as SpecialKey[]) {
        const content = tokenOf(key);
        const id = vocab[content];
        if (id === undefined || seen.has(content)) continue;
        seen.add(content);
        added.push({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
      }
      added.sort((a, b) => a.id - b.id);
    }
    return clipTokenizerJson(vocab, merges, tokenOf('unk_token'), added);
  }

  private static resolveMaxLength(folder: TokenizerFolder, config: Json | undefined, options: ClipTokenizerOptions): number {
    if (options.maxLength !== undefined) {
      if (!Number.isInteger(options.maxLength) || options.maxLength < 2) {
        throw new EngineError('BAD_OPTION', `maxLength must be an integer >= 2 (room for BOS and EOS), got ${options.maxLength}`);
      }
      return options.maxLength;
    }
    const fromConfig = config?.model_max_length;
    if (fromConfig === undefined || fromConfig === null) return CLIP_CONTEXT_LENGTH;
    if (typeof fromConfig !== 'number' || !Number.isInteger(fromConfig) || fromConfig < 2) {
      throw folder.invalid('tokenizer_config.json', `has model_max_length ${JSON.stringify(fromConfig)}, expected an integer >= 2`);
    }
    // transformers writes a huge sentinel (1e30) when no length was set: treat it as unset.
    return fromConfig > 1_000_000 ? CLIP_CONTEXT_LENGTH : fromConfig;
  }

  /** Ids of the prompt's content tokens (no BOS/EOS), lower-cased as CLIP's preprocessing does. */
  private contentIds(text: string): number[] {
    return this.tokenizer.encode(text.toLowerCase(), { add_special_tokens: false }).ids;
  }

  /** BOS + up to maxLength-2 content tokens + EOS (kept on truncation), padded to maxLength with padId. */
  encode(prompt: string): TokenizedPrompt {
    const budget = this.maxLength - 2;
    const content = this.contentIds(prompt);
    const kept = content.slice(0, budget);
    const ids = new BigInt64Array(this.maxLength).fill(BigInt(this.padId));
    ids[0] = BigInt(this.bosId);
    kept.forEach((id, i) => {
      ids[i + 1] = BigInt(id);
    });
    ids[kept.length + 1] = BigInt(this.eosId);
    const truncated = content.length > budget;
    return { ids, tokenCount: kept.length, truncated, droppedWords: truncated ? this.wordsPast(prompt, budget) : [] };
  }

  /**
   * The typed words whose tokens fall (wholly or partly) past `budget` tokens. CLIP's pre-tokenizer never
   * joins across whitespace, so a word's tokens on its own are its tokens in the prompt.
   */
  private wordsPast(prompt: string, budget: number): string[] {
    const words = prompt.split(/\s+/u).filter((w) => w.length > 0);
    let used = 0;
    for (let i = 0; i < words.length; i++) {
      used += this.contentIds(words[i] ?? '').length;
      if (used > budget) return words.slice(i);
    }
    return [];
  }
}
