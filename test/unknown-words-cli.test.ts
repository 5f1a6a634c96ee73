/**
 * `latentwalk render` names, in one line, the words of its prompts that the model does not know (models that
 * declare a vocabulary), and still renders; `--model` and LATENTWALK_MODEL_DIR take a bundled model's name; the
 * demo renders prompts its model knows.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { validateStackConfig } from '../src/app/config.ts';
import { DEMO_JOBS, demoJobsFor } from '../src/cli/demo.ts';
import { Vocabulary } from '../src/engine/index.ts';
import { DEFAULT_PACK, SHAPES_PACK, TINY_PACK, packModelName, readPackManifest } from './harness/packs.ts';

/** A well-formed (fake) bot token: the stack's config checks its shape. */
const STACK_TOKEN = 'ship-test-bot-token.0123456789abcdefXYZ';

const BIN = fileURLToPath(new URL('../bin/latentwalk.js', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'latentwalk-words-'));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: work, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const noteLines = (stdout: string) => stdout.split('\n').filter((line) => line.includes('does not know'));

describe('render: words the model does not know', () => {
  after(() => rmSync(work, { recursive: true, force: true }));

  it('--model shapes: one line names the unknown words, and the render still runs', () => {
    const r = cli('render', 'morph', 'a Dog!', 'a red circle on a 🐶 background', '--model', 'shapes', '--frames', '2', '--steps', '2', '--out', 'dog.gif');
    assert.equal(r.code, 0, r.stderr);
    const notes = noteLines(r.stdout);
    assert.equal(notes.length, 1, r.stdout);
    assert.equal(notes[0], `note: the model 'shapes' does not know these words: dog, 🐶; it renders them as noise (it knows prompts like "a red circle")`);
    assert.ok(existsSync(join(work, 'dog.gif')));
  });

  it('says nothing when the model knows every word', () => {
    const r = cli('render', 'walk', 'A big RED circle, top left', '--model', 'shapes', '--frames', '2', '--steps', '2', '--out', 'ok.gif');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(noteLines(r.stdout), []);
  });

  it('a pack that declares no vocabulary (as real SD3 packs) gets no note', () => {
    const r = cli('render', 'walk', 'a dog', '--model', TINY_PACK, '--frames', '2', '--out', 'tiny.gif');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(noteLines(r.stdout), []);
  });

  it('a bundled name that is not installed is one readable line', { skip: existsSync(fileURLToPath(new URL('../models/emoji', import.meta.url))) }, () => {
    const r = cli('render', 'walk', 'a dog', '--model', 'emoji', '--out', 'e.gif');
    assert.equal(r.code, 1);
    assert.match(r.stderr.trim(), /^latentwalk: the bundled model 'emoji' is not installed here \(.*models\/emoji is missing\); bundled models here: shapes$/);
  });
});

describe('choosing a model by name', () => {
  it('LATENTWALK_MODEL_DIR takes a bundled name or a path; a missing one names what it accepts', () => {
    const env = { DISCORD_TOKEN: STACK_TOKEN };
    assert.equal(validateStackConfig({ ...env, LATENTWALK_MODEL_DIR: 'shapes' }, { cwd: work }).jobs.worker.modelDir, SHAPES_PACK);
    assert.equal(validateStackConfig({ ...env, LATENTWALK_MODEL_DIR: TINY_PACK }, { cwd: work }).jobs.worker.modelDir, TINY_PACK);
    assert.throws(
      () => validateStackConfig({ ...env, LATENTWALK_MODEL_DIR: 'nowhere' }, { cwd: work }),
      (e: Error) => /LATENTWALK_MODEL_DIR must be a model pack directory; .*\/nowhere is missing \(or name a bundled model: shapes, emoji; unset it for the default, \w+\)/.test(e.message),
    );
  });

  it('`latentwalk demo` with no --model renders the default bundled pack, on prompts it knows', () => {
    // Its own folder: the describe above removes `work` when it ends.
    const demoWork = mkdtempSync(join(tmpdir(), 'latentwalk-demo-'));
    const outDir = join(demoWork, 'out');
    const r = spawnSync(process.execPath, [BIN, 'demo', '--out-dir', outDir], { cwd: demoWork, encoding: 'utf8', timeout: 300_000 });
    const written = ['morph.gif', 'grid.png', 'walk.gif', 'loop.gif'].filter((file) => existsSync(join(outDir, file)));
    rmSync(demoWork, { recursive: true, force: true });
    assert.equal(r.status, 0, r.error?.message ?? r.stderr);
    assert.ok(r.stdout.startsWith(`demo: model '${packModelName(DEFAULT_PACK.dir)}' (${DEFAULT_PACK.dir}), writing to ${outDir}\n`), r.stdout);
    assert.deepEqual(written, ['morph.gif', 'grid.png', 'walk.gif', 'loop.gif']);
    assert.deepEqual(noteLines(r.stdout), []);
    // Each job's line names its prompts: every word of them is in the default pack's vocabulary.
    const prompts = [...r.stdout.matchAll(/^ {2}(?:morph|grid|walk|loop): (".*") in [\d.]+ s$/gm)].flatMap((m) => m[1]!.slice(1, -1).split('" | "'));
    assert.equal(prompts.length, 2 + 4 + 1 + 1, r.stdout);
    const vocabulary = readPackManifest(DEFAULT_PACK.dir).vocabulary;
    if (vocabulary) assert.deepEqual(Vocabulary.from(vocabulary).unknownWords(prompts), [], prompts.join(' | '));
  });

  it('the demo renders its shapes prompts where the model knows them, else the model\'s own suggestions', () => {
    assert.equal(demoJobsFor({}), DEMO_JOBS, 'no vocabulary (real SD3): the fixed prompts');
    assert.equal(demoJobsFor({ vocabulary: Vocabulary.from(['red', 'circle', 'blue', 'square', 'green', 'triangle', 'yellow', 'star', 'purple', 'ring', 'white', 'black', 'background']) }), DEMO_JOBS);
    const suggestions = ['a dog', 'a cat', 'a pizza', 'a sun', 'a rocket', 'a tree'];
    const jobs = demoJobsFor({ vocabulary: Vocabulary.from(['dog', 'cat', 'pizza', 'sun', 'rocket', 'tree']), suggestions });
    assert.deepEqual(jobs.map((j) => [j.file, j.spec.prompts]), [
      ['morph.gif', ['a dog', 'a cat']],
      ['grid.png', ['a dog', 'a cat', 'a pizza', 'a sun']],
      ['walk.gif', ['a rocket']],
      ['loop.gif', ['a tree']],
    ]);
  });
});
