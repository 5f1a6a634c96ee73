/**
 * Tokenizer folders as a diffusers SD3 repo / optimum export ships them:
 * - `tokenizer/`   (CLIP-L): slow form only (vocab.json, merges.txt, tokenizer_config.json, special_tokens_map.json), pads with EOS;
 * - `tokenizer_2/` (CLIP-G): the same files plus a fast `tokenizer.json`, pads with "!" (id 0);
 * - `tokenizer_3/` (T5, optional): a small Unigram `tokenizer.json` + configs.
 */
import { BOS_TOKEN, EOS_TOKEN, WORDS, mergesText, vocabObject, type ClipVocab } from './vocab.ts';

export type PackFiles = Map<string, Uint8Array | string>;

export const CLIP_MAX_LENGTH = 77;

/** Stable, pretty JSON with a trailing newline (what `save_pretrained` writes). */
export function json(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}

interface AddedTokenJson {
  content: string;
  lstrip: boolean;
  normalized: boolean;
  rstrip: boolean;
  single_word: boolean;
  special: boolean;
}

function added(content: string, normalized: boolean): AddedTokenJson {
  return { content, lstrip: false, normalized, rstrip: false, single_word: false, special: true };
}

/** Writes one CLIP tokenizer folder into `files` under `dir`. */
export function addClipTokenizer(files: PackFiles, dir: string, v: ClipVocab, pad: 'eos' | 'bang', withFast: boolean): void {
  const padToken = pad === 'eos' ? EOS_TOKEN : '!';
  const padId = v.vocab.get(padToken);
  if (padId === undefined) throw new Error(`pad token ${padToken} is not in the vocabulary`);
  // transformers registers every special token in added_tokens_decoder, including a pad that was already in the vocab.
  const decoder: Record<string, AddedTokenJson> = {};
  if (pad === 'bang') decoder[String(padId)] = added(padToken, false);
  decoder[String(v.bosId)] = added(BOS_TOKEN, true);
  decoder[String(v.eosId)] = added(EOS_TOKEN, false);

  files.set(`${dir}/vocab.json`, JSON.stringify(vocabObject(v.vocab)) + '\n');
  files.set(`${dir}/merges.txt`, mergesText(v.merges));
  files.set(
    `${dir}/tokenizer_config.json`,
    json({
      add_prefix_space: false,
      added_tokens_decoder: decoder,
      bos_token: BOS_TOKEN,
      clean_up_tokenization_spaces: true,
      do_lower_case: true,
      eos_token: EOS_TOKEN,
      errors: 'replace',
      model_max_length: CLIP_MAX_LENGTH,
      pad_token: padToken,
      tokenizer_class: 'CLIPTokenizer',
      unk_token: EOS_TOKEN,
    }),
  );
  // Mixed string / object values, as save_pretrained writes them.
  const { special: _bos, ...bosObj } = added(BOS_TOKEN, true);
  const { special: _eos, ...eosObj } = added(EOS_TOKEN, false);
  files.set(
    `${dir}/special_tokens_map.json`,
    json({ bos_token: bosObj, eos_token: eosObj, pad_token: padToken, unk_token: eosObj }),
  );
  if (withFast) files.set(`${dir}/tokenizer.json`, json(clipTokenizerJson(v, decoder)));
}

/** The fast-tokenizer form of a CLIP tokenizer, laid out like `openai/clip-vit-large-patch14`'s tokenizer.json. */
function clipTokenizerJson(v: ClipVocab, decoder: Record<string, AddedTokenJson>): unknown {
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: Object.entries(decoder)
      .map(([id, t]) => ({ id: Number(id), ...t }))
      .sort((a, b) => a.id - b.id),
    normalizer: {
      type: 'Sequence',
      normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }],
    },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        {
          type: 'Split',
          pattern: {
            Regex: "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+",
          },
          behavior: 'Removed',
          invert: true,
        },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: {
      type: 'RobertaProcessing',
      sep: [EOS_TOKEN, v.eosId],
      cls: [BOS_TOKEN, v.bosId],
      trim_offsets: false,
      add_prefix_space: false,
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: EOS_TOKEN,
      continuing_subword_prefix: '',
      end_of_word_suffix: '</w>',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: vocabObject(v.vocab),
      merges: v.merges,
    },
  };
}

/** The T5 vocabulary: specials, whole words (with SentencePiece's "▁" word marker), then single characters. */
export function t5Vocab(): Array<[string, number]> {
  const pieces: Array<[string, number]> = [
    ['<pad>', 0],
    ['</s>', 0],
    ['<unk>', 0],
    ['\u2581', -2],
  ];
  const seen = new Set(pieces.map(([p]) => p));
  const push = (piece: string, score: number): void => {
    if (!seen.has(piece)) {
      seen.add(piece);
      pieces.push([piece, score]);
    }
  };
  WORDS.forEach((w, i) => push(`\u2581${w}`, -3 - i / 1000));
  const chars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?;:\'"-()';
  for (const c of chars) push(c, -10);
  return pieces;
}

export const T5_MAX_LENGTH = 256;

export function addT5Tokenizer(files: PackFiles, dir: string): number {
  const vocab = t5Vocab();
  const specials = ['<pad>', '</s>', '<unk>'];
  const addedTokens = specials.map((content, id) => ({ id, ...added(content, false) }));
  files.set(
    `${dir}/tokenizer.json`,
    json({
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: addedTokens,
      // Real T5 puts a Precompiled charsmap first; the tiny pack keeps only the whitespace collapse.
      normalizer: { type: 'Sequence', normalizers: [{ type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' }] },
      pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true },
      post_processor: {
        type: 'TemplateProcessing',
        single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
        pair: [
          { Sequence: { id: 'A', type_id: 0 } },
          { SpecialToken: { id: '</s>', type_id: 0 } },
          { Sequence: { id: 'B', type_id: 0 } },
          { SpecialToken: { id: '</s>', type_id: 0 } },
        ],
        special_tokens: { '</s>': { id: '</s>', ids: [1], tokens: ['</s>'] } },
      },
      decoder: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true },
      model: { type: 'Unigram', unk_id: 2, vocab, byte_fallback: false },
    }),
  );
  const decoder = Object.fromEntries(addedTokens.map(({ id, ...t }) => [String(id), t]));
  files.set(
    `${dir}/tokenizer_config.json`,
    json({
      added_tokens_decoder: decoder,
      clean_up_tokenization_spaces: true,
      eos_token: '</s>',
      extra_ids: 0,
      model_max_length: T5_MAX_LENGTH,
      pad_token: '<pad>',
      tokenizer_class: 'T5Tokenizer',
      unk_token: '<unk>',
    }),
  );
  files.set(`${dir}/special_tokens_map.json`, json({ eos_token: '</s>', pad_token: '<pad>', unk_token: '<unk>' }));
  return vocab.length;
}
