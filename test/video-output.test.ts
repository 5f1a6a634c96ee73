/**
 * MP4 and animated WebP output: the files are what they claim (H.264 Baseline in an MP4 with its index in front,
 * a looping WebP), decode back close to their frames, and fit a byte budget the way the GIF does.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { encodeArtifact, type RgbFrame } from '../src/engine/index.ts';
import { EngineError } from '../src/engine/errors.ts';
import { AUTO_MP4_MAX_BITS_PER_PIXEL, DEFAULT_MP4_QP, encodeMp4, encodeMp4Auto, toYuv420 } from '../src/engine/output/mp4.ts';
import { faststartMp4 } from '../src/engine/output/mp4Faststart.ts';
import { decodeMp4, framesPsnr, readMp4 } from './harness/mp4.ts';

/** Smooth moving gradients: what a walk's frames look like to an encoder. */
function gradientFrames(count: number, width: number, height: number): RgbFrame[] {
  return Array.from({ length: count }, (_, k) => {
    const data = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const o = (y * width + x) * 3;
        data[o] = Math.round(128 + 100 * Math.sin((x + 4 * k) / 19));
        data[o + 1] = Math.round(128 + 100 * Math.cos((y - 3 * k) / 23));
        data[o + 2] = Math.round(((x + y + 6 * k) * 255) / (width + height + 6 * count));
      }
    }
    return { width, height, data };
  });
}

describe('MP4 output', () => {
  it('writes H.264 Baseline in an MP4 with moov before mdat, one sample per frame at the asked rate', async () => {
    const frames = gradientFrames(12, 96, 64);
    const artifact = await encodeArtifact(frames, { format: 'mp4', fps: 8 });
    assert.equal(artifact.mimeType, 'video/mp4');
    assert.equal(artifact.extension, 'mp4');
    const info = readMp4(artifact.bytes);
    const boxes = info.topLevel.filter((t) => t !== 'free');
    assert.deepEqual(boxes.slice(0, 3), ['ftyp', 'moov', 'mdat'], `boxes: ${info.topLevel.join(' ')}`);
    assert.equal(info.codec, 'avc1');
    assert.equal(info.profile, 66, 'Baseline profile');
    assert.equal(info.width, 96);
    assert.equal(info.height, 64);
    assert.equal(info.sampleCount, 12);
    assert.ok(Math.abs(info.durationS - 12 / 8) < 0.01, `duration ${info.durationS}`);
    assert.equal(artifact.frameCount, 12);
    assert.equal(artifact.fps, 8);
  });

  it('decodes back to its frames (PSNR) and ping-pongs with rubberBand', async () => {
    const frames = gradientFrames(6, 64, 64);
    const artifact = await encodeArtifact(frames, { format: 'mp4', fps: 10, rubberBand: true });
    assert.equal(artifact.frameCount, 10); // 0..5 and back down to 1
    const decoded = await decodeMp4(artifact.bytes);
    assert.equal(decoded.length, 10);
    const order = [0, 1, 2, 3, 4, 5, 4, 3, 2, 1].map((i) => frames[i]!);
    const psnr = framesPsnr(decoded, order);
    assert.ok(psnr > 30, `PSNR ${psnr.toFixed(2)} dB`);
  });

  it('crops an odd side to even (4:2:0) and refuses what it cannot encode', async () => {
    const r = await encodeMp4(gradientFrames(2, 33, 31), { fps: 10 });
    assert.equal(r.width, 32);
    assert.equal(r.height, 30);
    assert.equal(readMp4(r.bytes).width, 32);
    await assert.rejects(encodeMp4(gradientFrames(2, 8, 8), { fps: 10 }), (e: unknown) => e instanceof EngineError && /at least 16x16/.test(e.message));
    await assert.rejects(encodeMp4(gradientFrames(2, 32, 32), { fps: 10, qp: 5 }), /qp must be an integer in 10..51/);
  });

  it('fits a byte budget: quantizer first, then size, listing each reduction', async () => {
    const frames = gradientFrames(16, 128, 128);
    const full = await encodeArtifact(frames, { format: 'mp4', fps: 10 });
    const budget = Math.floor(full.bytes.length * 0.5);
    const fitted = await encodeArtifact(frames, { format: 'mp4', fps: 10, maxBytes: budget });
    assert.ok(fitted.bytes.length <= budget, `${fitted.bytes.length} > ${budget}`);
    assert.ok(fitted.reductions.length > 0);
    // The ladder starts from the quantizer picked for the frames (smooth gradients: a fine one) and goes to 27.
    assert.ok(full.quality! <= DEFAULT_MP4_QP);
    assert.equal(fitted.reductions[0], `H.264 quantizer ${full.quality} -> 27`);
    assert.ok(fitted.quality! >= 27);
    await assert.rejects(
      encodeArtifact(frames, { format: 'mp4', fps: 10, maxBytes: 1200 }),
      (e: unknown) => e instanceof EngineError && e.code === 'BUDGET_UNREACHABLE' && /the MP4 is still/.test(e.message),
    );
  });

  it('picks a fine quantizer for flat frames and keeps the default for busy ones', async () => {
    const flat = await encodeMp4Auto(gradientFrames(16, 128, 128), { fps: 10 });
    assert.equal(flat.qp, 20);
    assert.ok(flat.bytes.length * 8 <= AUTO_MP4_MAX_BITS_PER_PIXEL * 128 * 128 * 16);
    // Deterministic noise: every quantizer is far over the bits-per-pixel cap, so the first (coarsest) stays.
    let seed = 7;
    const noise: RgbFrame[] = Array.from({ length: 8 }, () => ({
      width: 64,
      height: 64,
      data: Uint8Array.from({ length: 64 * 64 * 3 }, () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 24)),
    }));
    const busy = await encodeMp4Auto(noise, { fps: 10 });
    assert.equal(busy.qp, DEFAULT_MP4_QP);
    assert.deepEqual(busy.bytes, (await encodeMp4(noise, { fps: 10, qp: DEFAULT_MP4_QP })).bytes);
  });

  it('converts to BT.601 limited-range 4:2:0 with rounding and each 2x2 block\'s mean chroma', () => {
    // Block 1: white; block 2: a hard red / blue edge through the block (left column red, right blue).
    const px = [
      [255, 255, 255], [255, 255, 255], [255, 0, 0], [0, 0, 255],
      [255, 255, 255], [255, 255, 255], [255, 0, 0], [0, 0, 255],
    ];
    const frame: RgbFrame = { width: 4, height: 2, data: Uint8Array.from(px.flat()) };
    const out = new Uint8Array(4 * 2 * 1.5);
    toYuv420(frame, 4, 2, out);
    assert.deepEqual([...out.subarray(0, 8)], [235, 235, 81, 41, 235, 235, 81, 41], 'luma, rounded (blue is 40.97: truncating gives 40)');
    assert.deepEqual([out[8], out[10]], [128, 128], 'white: neutral chroma');
    // Mean of red and blue: U = 128 + (-0.148223 * 255 + 0.439216 * 255) / 2, V = 128 + (0.439216 - 0.071427) * 255 / 2.
    assert.deepEqual([out[9], out[11]], [165, 175], 'the edge block gets the mean colour, not its top-left pixel\'s');
  });

  it('faststart moves moov in front and keeps the samples where the index says', async () => {
    const raw = await encodeMp4(gradientFrames(3, 32, 32), { fps: 10, faststart: false });
    const before = readMp4(raw.bytes);
    assert.ok(before.topLevel.indexOf('moov') > before.topLevel.indexOf('mdat'), 'the muxer writes moov last');
    const moved = faststartMp4(raw.bytes);
    assert.equal(moved.length, raw.bytes.length);
    const after = readMp4(moved);
    assert.ok(after.topLevel.indexOf('moov') < after.topLevel.indexOf('mdat'));
    assert.deepEqual(after.samples, before.samples, 'chunk offsets follow the media data');
    assert.deepEqual(faststartMp4(moved), moved, 'already fast-start: unchanged');
  });
});

describe('animated WebP output', () => {
  it('writes a looping animation with one page per frame at the asked delay', async () => {
    const frames = gradientFrames(5, 64, 48);
    const artifact = await encodeArtifact(frames, { format: 'webp', fps: 10, rubberBand: true });
    assert.equal(artifact.mimeType, 'image/webp');
    assert.equal(artifact.frameCount, 8);
    const meta = await sharp(artifact.bytes, { animated: true }).metadata();
    assert.equal(meta.format, 'webp');
    assert.equal(meta.pages, 8);
    assert.equal(meta.loop, 0);
    assert.deepEqual(meta.delay, Array(8).fill(100));
    assert.equal(meta.width, 64);
    assert.equal(meta.pageHeight, 48);
    const { data, info } = await sharp(artifact.bytes, { animated: true }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const n = 64 * 48 * 3;
    const decoded = [0, 1, 2, 3, 4, 3, 2, 1].map((_, k) => ({ width: 64, height: 48, data: new Uint8Array(data.buffer, data.byteOffset + k * n, n) }));
    assert.equal(info.channels, 3);
    const psnr = framesPsnr(decoded, [0, 1, 2, 3, 4, 3, 2, 1].map((i) => frames[i]!));
    assert.ok(psnr > 30, `PSNR ${psnr.toFixed(2)} dB`);
  });

  it('fits a byte budget by size and frames, keeping quality 80 (lower qualities drift frame to frame)', async () => {
    const frames = gradientFrames(8, 128, 128);
    const full = await encodeArtifact(frames, { format: 'webp', fps: 10 });
    const budget = Math.floor(full.bytes.length * 0.7);
    const fitted = await encodeArtifact(frames, { format: 'webp', fps: 10, maxBytes: budget });
    assert.ok(fitted.bytes.length <= budget);
    assert.match(fitted.reductions[0]!, /^frames scaled 128x128 -> 96x96$/);
    assert.equal(fitted.quality, 80);
  });
});
