import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { EngineError } from '../src/engine/errors.ts';
import { ClipTokenizer } from '../src/engine/text/ClipTokenizer.ts';

const PACK = fileURLToPath(new URL('../models/tiny', import.meta.url));
const vocab = JSON.parse(readFileSync(join(PACK, 'tokenizer/vocab.json'), 'utf8')) as Record<string, number>;

/** Id of a token in the pack's vocab.json (so the tests hard-code no ids). */
function id(token: string): bigint {
  const value = vocab[token];
  assert.ok(value !== undefined, `${token} is in the tiny vocabulary`);
  return BigInt(value);
}

const temps: string[] = [];
after(() => temps.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A pack root holding a copy of one tokenizer folder, with some files removed or replaced. */
function tokenizerCopy(folder: string, edit: { remove?: string[]; write?: Record<string, string> } = {}): string {
  const root = mkdtempSync(join(tmpdir(), 'latentwalk-tok-'));
  temps.push(root);
  const dir = join(root, folder);
  cpSync(join(PACK, folder), dir, { recursive: true });
  for (const f of edit.remove ?? []) rmSync(join(dir, f));
  for (const [f, text] of Object.entries(edit.write ?? {})) writeFileSync(join(dir, f), text);
  return dir;
}

async function rejectsWith(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof EngineError, `expected an EngineError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.match(err.message, message);
    assert.ok(!err.message.includes('\n'), 'the message is one line');
    return true;
  });
}

const PROMPTS = [
  'a red circle',
  'A  Green FROG',
  'a cat in a spacesuit, riding a horse!',
  "the cat's hat: 42 stars & 7 moons",
  'Zürich café — naïve 🐸 emoji',
  'xylophonists juggling quasars',
  '   padded\twith\n whitespace  ',
  'a <|endoftext|> inside',
  '',
];

describe('ClipTokenizer', () => {
  it('gives identical ids from tokenizer.json and from vocab.json + merges.txt', async () => {
    const fast = await ClipTokenizer.load(join(PACK, 'tokenizer_2'));
    const slow = await ClipTokenizer.load(tokenizerCopy('tokenizer_2', { remove: ['tokenizer.json'] }));
    for (const prompt of PROMPTS) {
      assert.deepEqual(slow.encode(prompt), fast.encode(prompt), JSON.stringify(prompt));
    }
  });

  it('reads special tokens from special_tokens_map.json ({content} objects) when tokenizer_config.json is absent', async () => {
    const full = await ClipTokenizer.load(join(PACK, 'tokenizer'));
    const mapOnly = await ClipTokenizer.load(tokenizerCopy('tokenizer', { remove: ['tokenizer_config.json'] }));
    assert.deepEqual([mapOnly.bosId, mapOnly.eosId, mapOnly.padId, mapOnly.maxLength], [full.bosId, full.eosId, full.padId, 77]);
    for (const prompt of PROMPTS) assert.deepEqual(mapOnly.encode(prompt), full.encode(prompt), JSON.stringify(prompt));
  });

  it('encodes "A  Green FROG" as BOS, a, green, frog, EOS, then pads (lower-cased)', async () => {
    const tok = await ClipTokenizer.load(join(PACK, 'tokenizer'));
    const out = tok.encode('A  Green FROG');
    assert.equal(out.ids.length, 77);
    assert.deepEqual(Array.from(out.ids.slice(0, 5)), [id('<|startoftext|>'), id('a</w>'), id('green</w>'), id('frog</w>'), id('<|endoftext|>')]);
    assert.ok(out.ids.slice(5).every((v) => v === BigInt(tok.padId)));
    assert.equal(out.tokenCount, 3);
    assert.equal(out.truncated, false);
    assert.deepEqual(out.droppedWords, []);
  });

  it('takes BOS/EOS as the two highest ids and pads CLIP-L with EOS, CLIP-G with "!" (id 0)', async () => {
    const l = await ClipTokenizer.load(join(PACK, 'tokenizer'));
    const g = await ClipTokenizer.load(join(PACK, 'tokenizer_2'));
    const size = Object.keys(vocab).length;
    for (const tok of [l, g]) {
      assert.equal(tok.bosId, size - 2);
      assert.equal(tok.eosId, size - 1);
      assert.equal(tok.maxLength, 77);
    }
    assert.equal(l.padId, l.eosId);
    assert.equal(g.padId, 0);
    assert.equal(vocab['!'], 0);
    assert.ok(l.encode('a dog').ids.slice(4).every((v) => v === id('<|endoftext|>')));
    assert.ok(g.encode('a dog').ids.slice(4).every((v) => v === 0n));
    // The two differ only after EOS.
    assert.deepEqual(l.encode('a dog').ids.slice(0, 4), g.encode('a dog').ids.slice(0, 4));
  });

  it('encodes the empty prompt as BOS, EOS, pads', async () => {
    const tok = await ClipTokenizer.load(join(PACK, 'tokenizer_2'));
    const out = tok.encode('');
    assert.deepEqual(Array.from(out.ids.slice(0, 2)), [BigInt(tok.bosId), BigInt(tok.eosId)]);
    assert.ok(out.ids.slice(2).every((v) => v === 0n));
    assert.deepEqual([out.tokenCount, out.truncated, out.droppedWords], [0, false, []]);
  });

  it('truncates a 100-word prompt to 75 tokens, keeps EOS at index 76 and reports the dropped words', async () => {
    const tok = await ClipTokenizer.load(join(PACK, 'tokenizer'));
    const pool = ['red', 'Dog', 'circle', 'blue', 'frog', 'sunset', 'over', 'the', 'mountains', 'cat'];
    const words = Array.from({ length: 100 }, (_, i) => pool[i % pool.length]!);
    for (const w of pool) assert.equal(tok.encode(w).tokenCount, 1, `${w} is one token`);
    const out = tok.encode(words.join(' '));
    assert.equal(out.ids.length, 77);
    assert.equal(out.ids[0], BigInt(tok.bosId));
    assert.equal(out.ids[76], BigInt(tok.eosId));
    assert.equal(out.ids[75], id(`${words[74]!.toLowerCase()}</w>`));
    assert.equal(out.tokenCount, 75);
    assert.equal(out.truncated, true);
    assert.deepEqual(out.droppedWords, words.slice(75));
  });

  it('counts a word cut by the window as dropped, as typed', async () => {
    const tok = await ClipTokenizer.load(join(PACK, 'tokenizer_2'));
    const long = 'Xylophonists';
    assert.ok(tok.encode(long).tokenCount > 2);
    const words = [...Array.from({ length: 74 }, () => 'red'), long, 'dog', 'cat'];
    const out = tok.encode(words.join('  '));
    assert.equal(out.tokenCount, 75);
    assert.equal(out.ids[76], BigInt(tok.eosId));
    assert.deepEqual(out.droppedWords, [long, 'dog', 'cat']);
  });

  it('does not truncate a prompt of exactly 75 tokens', async () => {
    const tok = await ClipTokenizer.load(join(PACK, 'tokenizer'));
    const out = tok.encode(Array.from({ length: 75 }, () => 'cat').join(' '));
    assert.deepEqual([out.tokenCount, out.truncated, out.droppedWords], [75, false, []]);
    assert.equal(out.ids[76], BigInt(tok.eosId));
  });

  it('honours a maxLength option', async () => {
    const tok = await ClipTokenizer.load(join(PACK, 'tokenizer'), { maxLength: 8 });
    const out = tok.encode('a red circle on a blue square background');
    assert.equal(out.ids.length, 8);
    assert.equal(out.ids[7], BigInt(tok.eosId));
    assert.deepEqual(out.droppedWords, ['square', 'background']);
    await rejectsWith(ClipTokenizer.load(join(PACK, 'tokenizer'), { maxLength: 1 }), 'BAD_OPTION', /maxLength/);
  });

  it('names the missing file in one readable line', async () => {
    const noMerges = tokenizerCopy('tokenizer_2', { remove: ['tokenizer.json', 'merges.txt'] });
    await rejectsWith(ClipTokenizer.load(noMerges), 'PACK_FILE_MISSING', /^tokenizer_2\/merges\.txt is missing in \/.+: .*vocab\.json \+ merges\.txt/);
    const noVocab = tokenizerCopy('tokenizer', { remove: ['vocab.json'] });
    await rejectsWith(ClipTokenizer.load(noVocab), 'PACK_FILE_MISSING', /^tokenizer\/vocab\.json is missing in \//);
    await rejectsWith(ClipTokenizer.load(join(PACK, 'no_such_tokenizer')), 'PACK_FILE_MISSING', /^no_such_tokenizer\/ is missing in /);
  });

  it('reports broken files as PACK_INVALID naming the file', async () => {
    const badJson = tokenizerCopy('tokenizer', { write: { 'vocab.json': '{"a": 1,' } });
    await rejectsWith(ClipTokenizer.load(badJson), 'PACK_INVALID', /^tokenizer\/vocab\.json in \/.+ is not valid JSON/);
    const config = JSON.parse(readFileSync(join(PACK, 'tokenizer_2/tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    const badPad = tokenizerCopy('tokenizer_2', { write: { 'tokenizer_config.json': JSON.stringify({ ...config, pad_token: '<pad>' }) } });
    await rejectsWith(ClipTokenizer.load(badPad), 'PACK_INVALID', /^tokenizer_2\/tokenizer_config\.json in .+ names pad_token "<pad>", which is not in the vocabulary/);
    const badFast = tokenizerCopy('tokenizer_2', { write: { 'tokenizer.json': '{"version": "1.0"}' } });
    await rejectsWith(ClipTokenizer.load(badFast), 'PACK_INVALID', /^tokenizer_2\/tokenizer\.json in .+ has no "model" section/);
  });

  it('loads slow files without added_tokens_decoder (older transformers) the same way', async () => {
    const config = JSON.parse(readFileSync(join(PACK, 'tokenizer/tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    delete config.added_tokens_decoder;
    const old = await ClipTokenizer.load(tokenizerCopy('tokenizer', { write: { 'tokenizer_config.json': JSON.stringify(config) } }));
    const current = await ClipTokenizer.load(join(PACK, 'tokenizer'));
    for (const prompt of PROMPTS) assert.deepEqual(old.encode(prompt), current.encode(prompt), JSON.stringify(prompt));
  });
});
