/**
 * What a small model knows: the unknown-word function (engine/text/Vocabulary.ts), the `vocabulary` and
 * `suggestions` keys of latentwalk.json, bundled pack names, and the engine's report naming unknown words.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  BUNDLED_MODEL_DIR,
  DEFAULT_BUNDLED_PACK,
  EngineError,
  Vocabulary,
  bundledPackDir,
  installedBundledPacks,
  loadModel,
  promptWords,
  render,
  resolveModelDir,
  unknownWords,
} from '../src/engine/index.ts';
import { PackManifestSchema, describeZodIssue } from '../src/engine/pack/PackManifest.ts';
import { SHAPES_PACK, TINY_PACK, copyTinyPack, removeTestPacks, writeJson } from './harness/packs.ts';

const SHAPES_MANIFEST = JSON.parse(readFileSync(join(SHAPES_PACK, 'latentwalk.json'), 'utf8')) as { vocabulary: string[]; suggestions: string[] };
const shapes = Vocabulary.from(SHAPES_MANIFEST.vocabulary);

describe('unknown words', () => {
  it('names the words of a prompt the model never saw, case-insensitive and without punctuation', () => {
    assert.deepEqual(shapes.unknownWords('a dog'), ['dog']);
    assert.deepEqual(shapes.unknownWords('A DOG, a Cat!!'), ['dog', 'cat']);
    assert.deepEqual(shapes.unknownWords('a big red circle on a white background, top left'), []);
    assert.deepEqual(shapes.unknownWords('  "Red"  (circle)... '), []);
    assert.deepEqual(shapes.unknownWords(['a dog', 'a cat', 'a dog on a red circle']), ['dog', 'cat'], 'distinct, in first-seen order');
  });

  it('never reports articles and common function words; plurals count as their singular', () => {
    assert.deepEqual(shapes.unknownWords('the red circle with a star and some rings'), []);
    assert.deepEqual(shapes.unknownWords('three red circles'), ['three']);
    const v = Vocabulary.from(['berry', 'leaf', 'box', 'glasses', 'knife']);
    assert.deepEqual(v.unknownWords('berries leaves boxes glass knives'), []);
    assert.deepEqual(v.unknownWords('bus ss'), ['bus', 'ss'], 'a word ending in s is not a plural of nothing');
  });

  it('splits like CLIP: hyphens and apostrophes part words, possessives and contractions go', () => {
    const v = Vocabulary.from(['t-rex', "o'clock", 'dog']);
    assert.deepEqual(v.unknownWords("T-Rex at ten o'clock"), ['ten']);
    assert.deepEqual(v.unknownWords("the dog's t rex"), []);
    assert.deepEqual(promptWords("don't stop"), ['don', 'stop']);
  });

  it('treats an emoji, a whole sequence, as one word the model does not know unless listed', () => {
    assert.deepEqual(shapes.unknownWords('a 🐶 on a red circle'), ['🐶']);
    assert.deepEqual(shapes.unknownWords('👨‍👩‍👧 👍🏽 🇫🇷 1️⃣'), ['👨‍👩‍👧', '👍🏽', '🇫🇷', '1️⃣']);
    const hearts = Vocabulary.from(['❤', 'red']);
    assert.deepEqual(hearts.unknownWords('❤️ ❤ red❤️'), [], 'with or without the emoji presentation selector');
    assert.deepEqual(promptWords('red🔴circle'), ['red', '🔴', 'circle']);
  });

  it('drops zero-width and direction characters as the member sees the text', () => {
    assert.deepEqual(shapes.unknownWords('a re\u200Bd cir\u200Dcle\u2060 \uFEFFstar'), []);
    assert.deepEqual(shapes.unknownWords('\u200B\u200C\u200D\u200E\u200F'), []);
    assert.deepEqual(promptWords('do\u00ADg'), ['dog'], 'soft hyphen');
    // RTL: an Arabic and a Hebrew word, with RLM/RLE/PDF marks around them, are words like any other.
    assert.deepEqual(shapes.unknownWords('\u200Fكلب\u200F a red circle \u202Bחתול\u202C'), ['كلب', 'חתול']);
    assert.deepEqual(shapes.unknownWords('猫 and 犬'), ['猫', '犬']);
  });

  it('normalises width and case the way the member reads them (NFKC, lower case)', () => {
    assert.deepEqual(shapes.unknownWords('ＲＥＤ ｃｉｒｃｌｅ'), []);
    assert.deepEqual(shapes.unknownWords('ÉTOILE étoile'), ['étoile']);
  });

  it('has nothing to say without a vocabulary, and stays linear on a maximal prompt', () => {
    assert.deepEqual(unknownWords('a dog', undefined), []);
    const long = `${'🐶\u200B'.repeat(400)}${'x'.repeat(1000)}`;
    const started = performance.now();
    assert.deepEqual(shapes.unknownWords(long), ['🐶', 'x'.repeat(1000)]);
    assert.ok(performance.now() - started < 200);
  });

  it('every suggestion of the shapes pack uses only words its vocabulary lists', () => {
    assert.ok(SHAPES_MANIFEST.suggestions.length >= 25);
    for (const s of SHAPES_MANIFEST.suggestions) assert.deepEqual(shapes.unknownWords(s), [], s);
    assert.deepEqual([...SHAPES_MANIFEST.vocabulary].sort(), SHAPES_MANIFEST.vocabulary, 'sorted');
  });
});

describe('latentwalk.json vocabulary and suggestions', () => {
  after(() => removeTestPacks());

  const issue = (manifest: unknown) => {
    const parsed = PackManifestSchema.safeParse(manifest);
    return parsed.success ? 'ok' : describeZodIssue(parsed.error);
  };

  it('both keys are optional and checked, naming the key', () => {
    assert.equal(issue({}), 'ok');
    assert.equal(issue({ vocabulary: ['dog', 'cat'], suggestions: ['a dog', 'a cat'] }), 'ok');
    assert.match(issue({ vocabulary: 'dog cat' }), /^vocabulary: /);
    assert.match(issue({ vocabulary: ['a dog'] }), /^vocabulary\.0: must be one word/);
    assert.match(issue({ vocabulary: [''] }), /^vocabulary\.0: must not be empty/);
    assert.match(issue({ suggestions: ['a dog', ' '] }), /^suggestions\.1: must not be empty/);
    assert.match(issue({ suggestions: ['x'.repeat(101)] }), /^suggestions\.0: must be at most 100 characters/);
    assert.equal(issue({ suggestions: ['🐶'.repeat(50)] }), 'ok', '50 emoji are 100 UTF-16 units');
    assert.match(issue({ suggestions: ['🐶'.repeat(51)] }), /^suggestions\.0: must be at most 100 characters/);
  });

  it('a pack declaring them exposes them; a pack without gets no vocabulary and no note', async () => {
    const dir = copyTinyPack();
    const manifest = JSON.parse(readFileSync(join(TINY_PACK, 'latentwalk.json'), 'utf8')) as object;
    writeJson(join(dir, 'latentwalk.json'), { ...manifest, vocabulary: ['red', 'circle'], suggestions: ['a red circle '] });
    const withWords = await loadModel(dir);
    const plain = await loadModel(TINY_PACK);
    try {
      assert.ok(withWords.vocabulary);
      assert.deepEqual(withWords.suggestions, ['a red circle']);
      const spec = { kind: 'morph' as const, prompts: ['a red circle', 'a Dog!'] as [string, string], frames: 2 };
      const { report } = await render(withWords, spec, { seed: 1, steps: 1, smooth: 'off' });
      assert.deepEqual(report.unknownWords, ['dog']);
      assert.equal(plain.vocabulary, undefined);
      assert.equal(plain.suggestions, undefined);
      const { report: plainReport } = await render(plain, spec, { seed: 1, steps: 1, smooth: 'off' });
      assert.equal(plainReport.unknownWords, undefined, 'no vocabulary, no note');
    } finally {
      await withWords.dispose();
      await plain.dispose();
    }
  });

  it('a bad vocabulary fails the load in one line naming the key', async () => {
    const dir = copyTinyPack();
    writeJson(join(dir, 'latentwalk.json'), { vocabulary: ['two words'] });
    await assert.rejects(loadModel(dir), (e: unknown) => e instanceof EngineError && e.code === 'PACK_INVALID' && /latentwalk\.json.*vocabulary\.0/.test(e.message));
  });
});

describe('bundled packs by name', () => {
  it('one constant chooses the default; names and paths both resolve', () => {
    assert.equal(BUNDLED_MODEL_DIR, bundledPackDir(DEFAULT_BUNDLED_PACK));
    assert.equal(resolveModelDir(undefined), bundledPackDir(DEFAULT_BUNDLED_PACK));
    assert.equal(resolveModelDir('shapes'), SHAPES_PACK);
    assert.equal(resolveModelDir(' shapes '), SHAPES_PACK);
    assert.equal(resolveModelDir('./shapes', '/tmp'), '/tmp/shapes', 'a path stays a path');
    assert.equal(resolveModelDir('models/tiny', '/x'), resolve('/x/models/tiny'));
    assert.equal(resolveModelDir(TINY_PACK), TINY_PACK);
  });

  it('loads the shapes pack by name; an uninstalled bundled name says so', async () => {
    const model = await loadModel('shapes');
    try {
      assert.equal(model.name, 'shapes');
      assert.equal(model.dir, SHAPES_PACK);
      assert.deepEqual(model.vocabulary?.unknownWords('a dog on a red circle'), ['dog']);
    } finally {
      await model.dispose();
    }
    if (!installedBundledPacks().includes('emoji')) {
      await assert.rejects(loadModel('emoji'), (e: unknown) => e instanceof EngineError && e.code === 'PACK_NOT_FOUND' && /bundled model 'emoji' is not installed/.test(e.message));
    }
  });
});
