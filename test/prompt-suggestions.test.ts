/**
 * The bot's prompt suggestions (bot/PromptSuggestions.ts): autocomplete choices from the live models'
 * lexicons within Discord's limits, the lexicon cache, the board modal's suggested placeholder, and the result
 * note naming unknown words.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { boardModal } from '../src/bot/boards/boardModal.ts';
import type { Board } from '../src/bot/boards/BoardStore.ts';
import { CustomIds } from '../src/bot/customIds.ts';
import { MAX_CHOICES, ModelLexicons, exampleSuggestion, mergeLexicons, promptChoices, type LiveLexicon } from '../src/bot/PromptSuggestions.ts';
import { unknownWordsNote } from '../src/bot/replies/views.ts';
import type { ModelLexicon, WorkerAnnouncement } from '../src/jobs/index.ts';
import { SHAPES_PACK } from './harness/packs.ts';

const manifest = JSON.parse(readFileSync(join(SHAPES_PACK, 'latentwalk.json'), 'utf8')) as { vocabulary: string[]; suggestions: string[] };
const SHAPES: ModelLexicon = { model: 'shapes', vocabulary: manifest.vocabulary, suggestions: manifest.suggestions };
const shapes = mergeLexicons([SHAPES])!;

/** Discord's rules for an autocomplete answer. */
function assertValidChoices(choices: { name: string; value: string }[]): void {
  assert.ok(choices.length <= 25, `${choices.length} choices`);
  const cp = (s: string) => [...s].length;
  for (const c of choices) {
    assert.ok(cp(c.name) >= 1 && cp(c.name) <= 100 && c.name.length <= 100, `name ${JSON.stringify(c.name)}`);
    assert.ok(cp(c.value) >= 1 && c.value.length <= 100, `value ${JSON.stringify(c.value)}`);
    assert.doesNotMatch(c.name, /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/, 'no split surrogate');
  }
  assert.equal(new Set(choices.map((c) => c.value)).size, choices.length, 'distinct values');
}

describe('autocomplete choices', () => {
  it('nothing typed: the 25 most common suggestions, in order', () => {
    const choices = promptChoices('', shapes);
    assert.equal(choices.length, MAX_CHOICES);
    assert.deepEqual(choices.map((c) => c.value), manifest.suggestions.slice(0, 25));
    assert.deepEqual(promptChoices('   ', shapes), choices);
  });

  it('what was typed first, then suggestions starting with it, then its last word completed from the vocabulary', () => {
    const choices = promptChoices('a bl', shapes);
    assertValidChoices(choices);
    assert.equal(choices[0]!.value, 'a bl');
    assert.match(choices[0]!.name, /^a bl · 'shapes' does not know: bl$/);
    const values = choices.map((c) => c.value);
    assert.ok(values.includes('a blue square') && values.includes('a black triangle'));
    assert.ok(values.indexOf('a blue square') < values.indexOf('a blue'), 'suggestions before completions');
    assert.ok(values.includes('a blue') && values.includes('a black'), 'the word completed');
    const completed = values.indexOf('a blue');
    assert.ok(values.slice(0, completed + 1).every((v) => v.toLowerCase().startsWith('a bl')));
    assert.ok(values.slice(completed + 1).every((v) => v.includes('a bl')), 'then suggestions containing it');
  });

  it('case and spacing do not matter; a known prompt carries no note', () => {
    const choices = promptChoices('A  Red ', shapes);
    assert.deepEqual(choices[0], { name: 'A Red', value: 'A Red' });
    assert.ok(choices.slice(1).every((c) => c.value.startsWith('a red') || c.value.includes('a red')));
    assert.equal(promptChoices('a red ci', shapes)[1]?.value, 'a red circle');
  });

  it('names the unknown words of what was typed (the mission\'s "dog cat")', () => {
    const [own, ...rest] = promptChoices('dog cat', shapes);
    assert.deepEqual(own, { name: "dog cat · 'shapes' does not know: dog, cat", value: 'dog cat' });
    assert.deepEqual(rest, []);
    assert.deepEqual(promptChoices('a ce', shapes).map((c) => c.value), ['a ce', 'a center'], 'ce completes to a vocabulary word');
  });

  it('stays within Discord\'s limits for emoji, zero-width and RTL text at the prompt limit', () => {
    const texts = [
      '🐶'.repeat(49) + ' a re',
      '🐶'.repeat(60),
      `a red circle ${'\u200B'.repeat(80)}`,
      `\u200Fكلب\u200F a red ${'חתול '.repeat(15)}`,
      `${'👨‍👩‍👧'.repeat(12)} a bl`,
      'x'.repeat(500),
      'a '.repeat(60) + 'r',
    ];
    for (const text of texts) {
      const choices = promptChoices(text, shapes);
      assertValidChoices(choices);
      for (const c of choices) assert.ok(c.value.length <= 100);
    }
    assert.deepEqual(promptChoices('x'.repeat(101), shapes), [], 'too long to be a choice: the member keeps their own text');
    const own = promptChoices(`${'🐶'.repeat(45)} dog`, shapes)[0]!;
    assert.equal(own.value, `${'🐶'.repeat(45)} dog`);
    assert.match(own.name, /does not know: 🐶, dog$/, 'the note wins the space');
  });

  it('no lexicon (no model declares one, e.g. real SD3): no choices', () => {
    assert.deepEqual(promptChoices('a dog', undefined), []);
    assert.equal(mergeLexicons([]), undefined);
  });

  it('several models: suggestions interleaved, words merged; the note only when one model has a vocabulary', () => {
    const emoji: ModelLexicon = { model: 'emoji', vocabulary: ['dog', 'cat', 'pizza'], suggestions: ['a dog', 'a cat', 'a pizza'] };
    const both = mergeLexicons([SHAPES, emoji])!;
    assert.deepEqual(both.models, ['shapes', 'emoji']);
    assert.deepEqual(both.suggestions.slice(0, 4), ['a red circle', 'a dog', 'a blue square', 'a cat']);
    assert.ok(both.words.includes('pizza') && both.words.includes('circle'));
    assert.equal(both.vocabulary, undefined);
    assert.deepEqual(promptChoices('a dog', both)[0], { name: 'a dog', value: 'a dog' });
    const onlySuggestions = mergeLexicons([SHAPES, { model: 'sd3-demo', suggestions: ['an astronaut'] }])!;
    assert.equal(onlySuggestions.vocabulary?.model, 'shapes');
  });
});

describe('the lexicon cache', () => {
  const live = (lexicon?: string): WorkerAnnouncement => ({ id: `w-${lexicon ?? 'none'}`, model: 'm', seenAt: 0, ...(lexicon ? { lexicon } : {}) });

  it('reads live workers at most every ttl, fetches each lexicon once, and merges them', async () => {
    let now = 0;
    let lives = 0;
    const fetched: string[] = [];
    let workers = [live('shapes-1'), live(), live('shapes-1')];
    const source = new ModelLexicons(
      {
        live: async () => (lives++, workers),
        lexicon: async (id: string) => (fetched.push(id), id === 'shapes-1' ? SHAPES : undefined),
      },
      5_000,
      () => now,
    );
    assert.deepEqual((await source.current())?.models, ['shapes']);
    await source.current();
    assert.equal(lives, 1, 'cached');
    now += 5_000;
    workers = [live('shapes-1'), live('gone-2')];
    assert.deepEqual((await source.current())?.models, ['shapes']);
    assert.deepEqual(fetched, ['shapes-1', 'gone-2'], 'a known lexicon is not fetched again');
    now += 5_000;
    workers = [live()];
    assert.equal(await source.current(), undefined, 'no worker declares one');
  });

  it('answers in time: a slow or failing Redis gives the last answer, or none', async () => {
    let now = 0;
    let mode: 'ok' | 'slow' | 'fail' = 'ok';
    const source = new ModelLexicons(
      {
        live: async () => {
          if (mode === 'slow') await new Promise((resolve) => setTimeout(resolve, 400));
          if (mode === 'fail') throw new Error('Connection is closed.');
          return [live('shapes-1')];
        },
        lexicon: async () => SHAPES,
      },
      1_000,
      () => now,
    );
    const fresh = new ModelLexicons({ live: () => new Promise(() => undefined), lexicon: async () => undefined });
    const started = performance.now();
    assert.equal(await fresh.current(50), undefined);
    assert.ok(performance.now() - started < 300);
    assert.ok(await source.current());
    now += 1_000;
    mode = 'slow';
    assert.deepEqual((await source.current(50))?.models, ['shapes'], 'the last answer while Redis is slow');
    now += 1_000;
    mode = 'fail';
    assert.deepEqual((await source.current(50))?.models, ['shapes'], 'the last answer when Redis fails');
  });
});

describe('board modal and result note', () => {
  const ids = new CustomIds('0123456789abcdef0123456789abcdef');
  const board = { id: 'b1', kind: 'morph', slots: [{ text: 'a red circle', userId: '1', viaModal: false }, undefined] } as unknown as Board;

  const placeholder = (modal: ReturnType<typeof boardModal>) => JSON.stringify(modal).match(/"placeholder":"([^"]*)"/)?.[1];

  it('a board modal suggests a prompt the model knows as its placeholder (modals have no autocomplete)', () => {
    assert.equal(placeholder(boardModal(ids, board, 500, 'a blue square')), 'e.g. a blue square');
    assert.equal(placeholder(boardModal(ids, board, 500)), 'e.g. a city skyline at night', 'the generic example without a model that declares any');
    assert.equal([...placeholder(boardModal(ids, board, 500, '🐶'.repeat(100)))!].length <= 100, true);
    const example = exampleSuggestion(shapes, ['a red circle'], () => 0);
    assert.equal(example, 'a blue square', 'not the board\'s own first prompt');
    assert.equal(exampleSuggestion(undefined), undefined);
    for (let k = 0; k < 50; k++) assert.ok(manifest.suggestions.slice(0, 25).includes(exampleSuggestion(shapes)!));
  });

  it('the result names the words its model did not know, escaped, within a field', () => {
    assert.equal(
      unknownWordsNote('shapes', ['dog', 'cat']),
      "This server's model **shapes** does not know “dog”, “cat”, so it drew them as noise. Type a prompt in /morph, /loop, /walk or /chain and pick one of the suggestions to see what it knows.",
    );
    const many = unknownWordsNote('shapes', Array.from({ length: 40 }, (_, k) => `w${k}_*${'x'.repeat(60)}`));
    assert.ok(many.length <= 1024, `${many.length}`);
    assert.match(many, /and 28 more/);
    assert.doesNotMatch(many, /(?<!\\)[_*]x/, 'markdown escaped');
  });
});

export type { LiveLexicon };
