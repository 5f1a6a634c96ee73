import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { copyTinyPack, makeTinyPackVariant, removeTestPacks, TINY_PACK as TINY } from './harness/packs.ts';

const BIN = fileURLToPath(new URL('../bin/latentwalk.js', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'latentwalk-cli-'));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: work, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A user error is one readable line on stderr and a non-zero exit, never a stack trace. */
function assertOneLineError(r: { code: number | null; stderr: string }, pattern: RegExp): void {
  assert.notEqual(r.code, 0);
  const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('npm warn'));
  assert.equal(lines.length, 1, `one line, got:\n${r.stderr}`);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

describe('latentwalk render (CLI)', () => {
  after(() => {
    rmSync(work, { recursive: true, force: true });
    removeTestPacks();
  });

  it('morph --frames 5 writes an 8-frame ping-pong GIF that sharp decodes, and the JSON report', async () => {
    const r = cli('render', 'morph', 'a dog', 'a cat', '--frames', '5', '--out', 'm.gif', '--report', 'm.json');
    assert.equal(r.code, 0, r.stderr);
    const gif = readFileSync(join(work, 'm.gif'));
    const meta = await sharp(gif, { animated: true }).metadata();
    assert.equal(meta.format, 'gif');
    assert.equal(meta.pages, 8);
    assert.equal(meta.loop, 0);
    const report = JSON.parse(readFileSync(join(work, 'm.json'), 'utf8'));
    for (const key of ['kind', 'prompts', 'negative', 'seed', 'steps', 'guidance', 'width', 'height', 'frames', 'batchSize', 'provider', 'modelPath', 'sigmas', 'timesteps', 'timings', 'output']) {
      assert.ok(key in report, `report has ${key}`);
    }
    assert.equal(report.kind, 'morph');
    assert.deepEqual(report.prompts, ['a dog', 'a cat']);
    assert.equal(report.frames, 5);
    assert.equal(report.output.frameCount, 8);
    assert.equal(report.sigmas.length, report.steps + 1);
    assert.equal(report.output.bytes, gif.length);
    for (const stage of ['textEncodingMs', 'denoisingMs', 'decodingMs', 'outputEncodingMs']) assert.equal(typeof report.timings[stage], 'number');
    // the default smoothing, measured, in the report and the summary line
    assert.equal(report.smooth, 'blend');
    assert.equal(report.smoothness.steps.length, 4);
    assert.ok(report.smoothness.largestShare > 0 && report.smoothness.largestShare <= 1);
    assert.ok(report.transformerCalls > 0 && report.frameSteps >= report.transformerCalls);
    assert.equal(report.positions.length, 5);
    assert.match(r.stdout, /smooth blend: largest step [\d.]+ \(\d+% of all change\), [\d.]+x the median [\d.]+, \d+ transformer calls/);
    // frames are ping-pong 0 1 2 3 4 3 2 1: page 3 (frame 3) equals page 5 (frame 3 on the way back)
    const pages = await sharp(gif, { animated: true }).raw().toBuffer({ resolveWithObject: true });
    const pageBytes = pages.data.length / 8;
    const page = (k: number) => pages.data.subarray(k * pageBytes, (k + 1) * pageBytes);
    // (the encoder keeps an already displayed pixel where that is no worse, so equal frames decode nearly, not bit, equal)
    const mad = (a: Buffer, b: Buffer) => a.reduce((s, v, i) => s + Math.abs(v - b[i]!), 0) / a.length;
    assert.ok(mad(page(3), page(5)) < 0.5 && mad(page(1), page(7)) < 0.5, 'frames 3 and 1 come back on the way down');
    assert.ok(mad(page(3), page(4)) > 10 * mad(page(3), page(5)), 'neighbouring frames differ');
    assert.ok(mad(page(0), page(4)) > 1);
  });

  it('--smooth off renders the guide\'s evenly spaced frames; --threads sets onnxruntime\'s threads', () => {
    const r = cli('render', 'morph', 'a dog', 'a cat', '--frames', '5', '--smooth', 'off', '--threads', '1', '--out', 'o.gif', '--report', 'o.json');
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(readFileSync(join(work, 'o.json'), 'utf8'));
    assert.equal(report.smooth, 'off');
    assert.deepEqual(report.positions, [0, 0.25, 0.5, 0.75, 1]);
    assert.equal(report.transformerCalls, Math.ceil(5 / report.batchSize) * report.steps);
  });

  it('--format mp4 and --format webp (or the --out extension) write a video and an animated WebP', async () => {
    const r = cli('render', 'morph', 'a dog', 'a cat', '--frames', '5', '--format', 'mp4', '--out', 'm.mp4', '--report', 'mp4.json');
    assert.equal(r.code, 0, r.stderr);
    const { readMp4 } = await import('./harness/mp4.ts');
    const info = readMp4(readFileSync(join(work, 'm.mp4')));
    assert.equal(info.codec, 'avc1');
    assert.equal(info.sampleCount, 8, 'ping-pong frames in the video itself');
    assert.match(r.stdout, /m\.mp4: MP4 \d+x\d+, 8 frames at 10\.00 fps/);
    const report = JSON.parse(readFileSync(join(work, 'mp4.json'), 'utf8'));
    assert.equal(report.output.format, 'mp4');
    // The quantizer picked for the frames (mp4.ts AUTO_MP4_QPS).
    assert.ok([24, 22, 20].includes(report.output.quality), `quantizer ${report.output.quality}`);
    const w = cli('render', 'loop', 'a dog', '--frames', '4', '--out', 'l.webp');
    assert.equal(w.code, 0, w.stderr);
    const meta = await sharp(readFileSync(join(work, 'l.webp')), { animated: true }).metadata();
    assert.equal(meta.format, 'webp');
    assert.equal(meta.pages, 4);
    // --format alone picks the default file name's extension
    const d = cli('render', 'loop', 'a dog', '--frames', '4', '--format', 'webp');
    assert.equal(d.code, 0, d.stderr);
    assert.ok(readFileSync(join(work, 'out', 'loop.webp')).length > 0);
  });

  it('--from-image starts the walk from a picture: frame 0 near it at a low strength, the report says how', async () => {
    const raw = new Uint8Array(64 * 64 * 3);
    for (let i = 0; i < 64 * 64; i++) raw.set([40 + (i % 64) * 3, 200 - Math.floor(i / 64) * 2, 120], i * 3);
    await sharp(raw, { raw: { width: 64, height: 64, channels: 3 } }).png().toFile(join(work, 'photo.png'));
    const r = cli('render', 'morph', 'a cat', 'a dog', '--model', TINY, '--frames', '3', '--from-image', 'photo.png', '--strength', '0.25', '--out', 'img.gif', '--report', 'img.json');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /from image 64x64 png: strength 0\.25, 3 of 4 steps skipped/);
    const report = JSON.parse(readFileSync(join(work, 'img.json'), 'utf8'));
    assert.equal(report.image.strength, 0.25);
    assert.equal(report.image.startStep, 3);
    assert.match(report.image.path, /photo\.png$/);
    const first = await sharp(readFileSync(join(work, 'img.gif')), { page: 0 }).removeAlpha().raw().toBuffer();
    const diff = first.reduce((s, v, i) => s + Math.abs(v - raw[i]!), 0) / first.length;
    assert.ok(diff < 25, `frame 0 mean abs diff ${diff.toFixed(1)}`);
    // Bad input: one line each.
    assertOneLineError(cli('render', 'morph', 'a', 'b', '--from-image', 'nope.png', '--out', 'x.gif'), /cannot read --from-image .*nope\.png: ENOENT/);
    assertOneLineError(cli('render', 'morph', 'a', 'b', '--strength', '0.5', '--out', 'x.gif'), /--strength needs --from-image FILE/);
    assertOneLineError(cli('render', 'morph', 'a', 'b', '--model', TINY, '--from-image', 'photo.png', '--strength', '2', '--out', 'x.gif'), /--strength must be above 0 and at most 1, got 2/);
    writeFileSync(join(work, 'notes.png'), 'not a picture');
    assertOneLineError(cli('render', 'morph', 'a', 'b', '--model', TINY, '--from-image', 'notes.png', '--out', 'x.gif'), /not an image this bot can read/);
    const bare = copyTinyPack();
    rmSync(join(bare, 'vae_encoder'), { recursive: true });
    assertOneLineError(cli('render', 'morph', 'a', 'b', '--model', bare, '--from-image', 'photo.png', '--out', 'x.gif'), /has no vae_encoder; image input needs/);
  });

  it('the same command twice gives byte-identical output', () => {
    assert.equal(cli('render', 'loop', 'a dog', '--frames', '4', '--out', 'a.gif').code, 0);
    assert.equal(cli('render', 'loop', 'a dog', '--frames', '4', '--out', 'b.gif').code, 0);
    assert.ok(readFileSync(join(work, 'a.gif')).equals(readFileSync(join(work, 'b.gif'))));
  });

  it('renders grids to PNG and JPEG by extension', async () => {
    assert.equal(cli('render', 'grid', 'a', 'b', 'c', 'd', '--grid-size', '2', '--out', 'g.png').code, 0);
    const png = await sharp(readFileSync(join(work, 'g.png'))).metadata();
    assert.equal(png.format, 'png');
    assert.equal(cli('render', 'grid', 'a', 'b', 'c', 'd', '--grid-size', '2', '--out', 'g.jpg').code, 0);
    assert.equal((await sharp(readFileSync(join(work, 'g.jpg'))).metadata()).format, 'jpeg');
  });

  it('--max-bytes: a render that would exceed the budget comes out under it, and the report says how', () => {
    // shapes' prompts, so the shapes pack by name (not whichever pack is the default)
    const free = cli('render', 'morph', 'a red circle', 'a blue square', '--model', 'shapes', '--frames', '8', '--out', 'big.gif', '--report', 'big.json');
    assert.equal(free.code, 0, free.stderr);
    const size = readFileSync(join(work, 'big.gif')).length;
    const budget = Math.floor(size * 0.6);
    const r = cli('render', 'morph', 'a red circle', 'a blue square', '--model', 'shapes', '--frames', '8', '--max-bytes', String(budget), '--out', 'small.gif', '--report', 'small.json');
    assert.equal(r.code, 0, r.stderr);
    assert.ok(readFileSync(join(work, 'small.gif')).length <= budget);
    const report = JSON.parse(readFileSync(join(work, 'small.json'), 'utf8'));
    assert.ok(report.output.reductions.length > 0);
    assert.match(r.stdout, /reduced to fit --max-bytes/);
  });

  it('bad input: one line, non-zero exit', async () => {
    assertOneLineError(cli('render', 'morph', 'a', 'b', '--model', '/no/such/pack', '--out', 'x.gif'), /model pack not found: \/no\/such\/pack/);
    const broken = copyTinyPack();
    rmSync(join(broken, 'transformer', 'model.onnx_data'));
    assertOneLineError(cli('render', 'morph', 'a', 'b', '--model', broken, '--out', 'x.gif'), /transformer\/model\.onnx/);
    const renamed = await makeTinyPackVariant({ transformerOutput: 'out_sample' });
    rmSync(join(renamed, 'latentwalk.json'));
    assertOneLineError(cli('render', 'morph', 'a', 'b', '--model', renamed, '--out', 'x.gif'), /has no output 'out_hidden_states'/);
    assertOneLineError(cli('render', 'morph', 'a', 'b', '--width', '100', '--out', 'x.gif'), /width must be a multiple of 16/);
    // shapes' transformer takes a fixed 8x8 latent (another bundled default may render other sizes)
    assertOneLineError(cli('render', 'morph', 'a', 'b', '--model', 'shapes', '--width', '128', '--out', 'x.gif'), /this model renders 64x64 only \(its transformer takes a fixed 8x8 latent\), got 128x64/);
    assertOneLineError(cli('render', 'morph', 'a', 'b', '--frames', '1000', '--out', 'x.gif'), /frames must be an integer from 2 to 512/);
    assertOneLineError(cli('render', 'morph', 'a', 'b', '--frames', 'many', '--out', 'x.gif'), /--frames must be an integer/);
    assertOneLineError(cli('render', 'morph', 'a', 'b', '--frames', '0', '--out', 'x.gif'), /frames must be an integer from 2 to 512, got 0/);
    assertOneLineError(cli('render', 'grid', 'a', 'b', 'c', 'd', '--grid-size', '0', '--out', 'x.png'), /grid size must be an integer from 2 to 10, got 0/);
    assertOneLineError(cli('render', 'morph', 'a', 'b', '--smooth', 'wobbly', '--out', 'x.gif'), /--smooth must be off, even or blend, got 'wobbly'/);
    assertOneLineError(cli('render', 'morph', 'a', 'b', '--threads', '0', '--out', 'x.gif'), /--threads must be from 1 to 256, got 0/);
    assertOneLineError(cli('render', 'morph', 'a', 'b', '--provider', 'tpu', '--out', 'x.gif'), /--provider must be one of cpu, webgpu, cuda/);
    assertOneLineError(cli('render', 'morph', 'a', '--out', 'x.gif'), /morph takes 2 prompts/);
    assertOneLineError(cli('render', 'morph', 'a', 'b', '--out', 'x.png'), /written as \.gif, \.mp4 or \.webp/);
    assertOneLineError(cli('render', 'morph', 'a', 'b', '--format', 'avi', '--out', 'x.gif'), /--format must be gif, mp4 or webp, got 'avi'/);
    assertOneLineError(cli('render', 'morph', 'a', 'b', '--format', 'mp4', '--out', 'x.gif'), /--format mp4 writes a \.mp4 file, but --out is '\.gif'/);
    assertOneLineError(cli('render', 'grid', 'a', 'b', 'c', 'd', '--format', 'mp4', '--out', 'x.png'), /a grid is one still image/);
    assertOneLineError(cli('render', 'morph', 'a', 'b', '--format', 'mp4', '--max-bytes', '1100', '--out', 'x.mp4'), /the MP4 is still .* over the 1\.1 KiB limit/);
    // a parent that is a file cannot hold the output, for root too
    writeFileSync(join(work, 'a-file'), 'x');
    assertOneLineError(cli('render', 'morph', 'a', 'b', '--out', join(work, 'a-file', 'x.gif')), /cannot write the output to .*a-file\/x\.gif: ENOTDIR/);
    assertOneLineError(cli('render', 'morph', 'a', 'b', '--out', '/proc/latentwalk.gif'), /cannot write the output/);
  });
});
