/**
 * `latentwalk render chain "p1" "p2" ... [--frames N]` with the bundled shapes model (named, as the prompts are
 * shapes'): a looping GIF of exactly N frames (no ping-pong), the report with the seam counted in its smoothness
 * figure and every stop a frame; bad input is one readable line and a non-zero exit.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

const BIN = fileURLToPath(new URL('../bin/latentwalk.js', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'latentwalk-chain-cli-'));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: work, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function assertOneLineError(r: { code: number | null; stderr: string }, pattern: RegExp): void {
  assert.notEqual(r.code, 0);
  const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('npm warn'));
  assert.equal(lines.length, 1, `one line, got:\n${r.stderr}`);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

describe('latentwalk render chain', () => {
  after(() => rmSync(work, { recursive: true, force: true }));

  it('writes a looping GIF through every prompt and back, and the report counts the seam', async () => {
    const r = cli('render', 'chain', 'a red circle', 'a blue square', 'a green triangle', '--model', 'shapes', '--frames', '12', '--out', 'c.gif', '--report', 'c.json');
    assert.equal(r.code, 0, r.stderr);
    const meta = await sharp(readFileSync(join(work, 'c.gif')), { animated: true }).metadata();
    assert.equal(meta.format, 'gif');
    assert.equal(meta.pages, 12, 'a loop: no ping-pong');
    assert.equal(meta.loop, 0);
    const report = JSON.parse(readFileSync(join(work, 'c.json'), 'utf8'));
    assert.equal(report.kind, 'chain');
    assert.deepEqual(report.prompts, ['a red circle', 'a blue square', 'a green triangle']);
    assert.equal(report.frames, 12);
    assert.equal(report.smooth, 'blend');
    assert.equal(report.smoothness.steps.length, 12, 'the step from the last frame back to the first counts');
    for (const stop of [0, 1, 2]) assert.ok(report.positions.includes(stop), `stop ${stop} is a frame`);
    assert.equal(report.output.rubberBand, false);
    assert.match(r.stdout, /c\.gif: GIF \d+x\d+, 12 frames .* smooth blend: largest step [\d.]+/);
  });

  it('without --frames: the pack\'s frames for each leg', async () => {
    const r = cli('render', 'chain', 'a red circle', 'a blue square', '--model', 'shapes', '--smooth', 'off', '--steps', '2', '--out', 'd.gif', '--report', 'd.json');
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(readFileSync(join(work, 'd.json'), 'utf8'));
    assert.equal(report.frames % 2, 0);
    assert.equal(report.positions.filter((p: number) => p < 1).length, report.frames / 2, 'the frames are split between the two legs');
  });

  it('refuses bad input in one line', () => {
    assertOneLineError(cli('render', 'chain', 'a red circle', '--out', 'x.gif'), /chain takes 2 to 8 prompts in quotes, got 1/);
    assertOneLineError(cli('render', 'chain', ...Array.from({ length: 9 }, (_, i) => `p${i}`), '--out', 'x.gif'), /chain takes 2 to 8 prompts in quotes, got 9/);
    assertOneLineError(cli('render', 'chain', 'a', 'b', 'c', '--frames', '2', '--out', 'x.gif'), /a chain of 3 prompts needs at least 3 frames, got 2/);
    assertOneLineError(cli('render', 'chain', 'a', 'b', '--out', 'x.png'), /a chain is written as \.gif/);
    assertOneLineError(cli('render', 'chains', 'a', 'b', '--out', 'x.gif'), /render needs a kind: morph, grid, walk, loop or chain \(got 'chains'\)/);
  });
});
