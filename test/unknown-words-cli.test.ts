/**
 * `latentwalk render` names, in one line, the words of its prompts that the model does not know (models that
 * declare a vocabulary), and still renders; `--model` takes a bundled model's name.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { TINY_PACK } from './harness/packs.ts';

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
