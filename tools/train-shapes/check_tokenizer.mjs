// Checks that @huggingface/tokenizers, set up the way CLIP's tokenizer.json sets it up (NFC +
// whitespace collapse + lowercase; CLIP split regex + ByteLevel; BPE with "</w>"), reproduces the
// Python token ids in token-fixtures.json from the pack's vocab.json + merges.txt.
//   node tools/train-shapes/check_tokenizer.mjs [pack-dir] [fixtures.json]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '@huggingface/tokenizers';

const here = path.dirname(fileURLToPath(import.meta.url));
const pack = process.argv[2] ?? path.join(here, '../../models/shapes');
const fixtures = JSON.parse(fs.readFileSync(process.argv[3] ?? path.join(here, 'token-fixtures.json'), 'utf8'));

function clipTokenizer(folder) {
  const vocab = JSON.parse(fs.readFileSync(path.join(folder, 'vocab.json'), 'utf8'));
  const merges = fs
    .readFileSync(path.join(folder, 'merges.txt'), 'utf8')
    .split('\n')
    .slice(1)
    .filter((l) => l.length > 0);
  const config = JSON.parse(fs.readFileSync(path.join(folder, 'tokenizer_config.json'), 'utf8'));
  const bos = vocab['<|startoftext|>'];
  const eos = vocab['<|endoftext|>'];
  const special = (id, content) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true });
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    // tokenizer_config.json's added_tokens_decoder (tokenizer_2 lists its pad token "!" there too).
    added_tokens: Object.entries(config.added_tokens_decoder ?? {}).map(([id, t]) => special(Number(id), t.content)),
    normalizer: {
      type: 'Sequence',
      normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }],
    },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        {
          type: 'Split',
          pattern: { Regex: "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+" },
          behavior: 'Removed',
          invert: true,
        },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<|endoftext|>',
      continuing_subword_prefix: '',
      end_of_word_suffix: '</w>',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  };
  const tok = new Tokenizer(json, config);
  const padId = vocab[config.pad_token];
  return (text) => {
    const ids = tok.encode(text, { add_special_tokens: false }).ids.slice(0, 75);
    const out = [bos, ...ids, eos];
    while (out.length < 77) out.push(padId);
    return out;
  };
}

const t1 = clipTokenizer(path.join(pack, 'tokenizer'));
const t2 = clipTokenizer(path.join(pack, 'tokenizer_2'));
let bad = 0;
for (const f of fixtures.prompts) {
  const a = t1(f.prompt);
  const b = t2(f.prompt);
  const okA = a.join(',') === f.tokenizer.join(',');
  const okB = b.join(',') === f.tokenizer_2.join(',');
  if (!okA || !okB) {
    bad++;
    console.log(`MISMATCH ${JSON.stringify(f.prompt)}\n js ${a.join(' ')}\n py ${f.tokenizer.join(' ')}\n js2 ${b.join(' ')}\n py2 ${f.tokenizer_2.join(' ')}`);
  }
}
console.log(`${fixtures.prompts.length - bad}/${fixtures.prompts.length} fixtures agree`);
process.exit(bad ? 1 : 0);
