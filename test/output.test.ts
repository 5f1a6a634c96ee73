import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import sharp, { type Metadata } from 'sharp';
import { EngineError } from '../src/engine/errors.ts';
import type { RgbFrame } from '../src/engine/frames.ts';
import { composeGrid, encodeArtifact, encodeGif, encodeImage, pingPongOrder } from '../src/engine/output/index.ts';
import { seededRandom } from './harness/random.ts';

// ---------- helpers ----------


function solid(width: number, height: number, rgb: readonly [number, number, number]): RgbFrame {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i += 3) data.set(rgb, i);
  return { width, height, data };
}

/** Smooth gradients cross-fading with a little texture: every pixel changes a little every frame. */
function walkFrames(count: number, width: number, height: number, seed = 7): RgbFrame[] {
  const rnd = seededRandom(seed);
  const texture = Float32Array.from({ length: width * height }, () => (rnd() - 0.5) * 16);
  return Array.from({ length: count }, (_, k) => {
    const t = k / Math.max(1, count - 1);
    const data = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = y * width + x;
        const a = [200 * (x / width), 180 * (y / height), 90];
        const b = [60, 220 * (1 - x / width), 240 * (y / height)];
        for (let c = 0; c < 3; c++) {
          const v = a[c]! * (1 - t) + b[c]! * t + texture[i]!;
          data[i * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
        }
      }
    }
    return { width, height, data };
  });
}

/** Few exact colours (multiples of 8, so each lands in its own palette bin) and a square that moves. */
function movingSquareFrames(count: number, size: number): RgbFrame[] {
  return Array.from({ length: count }, (_, k) => {
    const data = new Uint8Array(size * size * 3);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const i = (y * size + x) * 3;
        const inSquare = x >= k * 3 && x < k * 3 + 10 && y >= 8 && y < 18;
        const rgb = inSquare ? [248, 32, 64] : (x >> 3) % 2 === (y >> 3) % 2 ? [16, 96, 160] : [200, 200, 120];
        data.set(rgb, i);
      }
    }
    return { width: size, height: size, data };
  });
}

/** Decodes an animated GIF into composited RGB frames with sharp (libvips' loader, not ours). */
async function decodeGif(bytes: Uint8Array): Promise<{ frames: RgbFrame[]; meta: Metadata }> {
  const meta = await sharp(bytes, { animated: true }).metadata();
  const { data, info } = await sharp(bytes, { animated: true }).raw().toBuffer({ resolveWithObject: true });
  const pages = meta.pages ?? 1;
  const width = info.width;
  const height = info.height / pages;
  const ch = info.channels;
  const frames = Array.from({ length: pages }, (_, k) => {
    const out = new Uint8Array(width * height * 3);
    for (let i = 0; i < width * height; i++) {
      const s = (k * width * height + i) * ch;
      out[i * 3] = data[s]!;
      out[i * 3 + 1] = data[s + 1]!;
      out[i * 3 + 2] = data[s + 2]!;
    }
    return { width, height, data: out };
  });
  return { frames, meta };
}

function psnr(a: readonly RgbFrame[], b: readonly RgbFrame[]): number {
  assert.equal(a.length, b.length);
  let se = 0;
  let count = 0;
  a.forEach((fa, k) => {
    const fb = b[k]!;
    assert.equal(fa.data.length, fb.data.length);
    for (let i = 0; i < fa.data.length; i++) {
      const d = fa.data[i]! - fb.data[i]!;
      se += d * d;
    }
    count += fa.data.length;
  });
  return se === 0 ? Infinity : 10 * Math.log10((255 * 255) / (se / count));
}

function pixel(f: RgbFrame, x: number, y: number): number[] {
  const i = (y * f.width + x) * 3;
  return [f.data[i]!, f.data[i + 1]!, f.data[i + 2]!];
}

// ---------- frame order ----------

describe('pingPongOrder', () => {
  test('n = 1, 2, 5', () => {
    assert.deepEqual(pingPongOrder(1), [0]);
    assert.deepEqual(pingPongOrder(2), [0, 1]);
    assert.deepEqual(pingPongOrder(5), [0, 1, 2, 3, 4, 3, 2, 1]);
  });

  test('2n-2 frames, every frame, steps of one including the wrap', () => {
    for (let n = 2; n <= 9; n++) {
      const order = pingPongOrder(n);
      assert.equal(order.length, 2 * n - 2);
      assert.deepEqual([...new Set(order)].sort((a, b) => a - b), [...Array(n).keys()]);
      for (let i = 0; i < order.length; i++) {
        const step = Math.abs(order[(i + 1) % order.length]! - order[i]!);
        assert.equal(step, 1, `n=${n}: step ${order[i]} -> ${order[(i + 1) % order.length]}`);
      }
    }
  });
});

// ---------- GIF ----------

describe('encodeGif', () => {
  test('decodes elsewhere with the right pages, delays and infinite loop', async () => {
    const frames = walkFrames(6, 40, 32);
    const gif = encodeGif(frames, { fps: 12.5 });
    assert.equal(gif.delayCs, 8);
    assert.equal(gif.effectiveFps, 12.5);
    assert.equal(gif.frameCount, 6);
    const meta = await sharp(gif.bytes, { animated: true }).metadata();
    assert.equal(meta.format, 'gif');
    assert.equal(meta.pages, 6);
    assert.deepEqual(meta.delay, [80, 80, 80, 80, 80, 80]); // sharp reports ms
    assert.equal(meta.loop, 0);
    assert.equal(meta.width, 40);
    assert.equal(meta.pageHeight, 32);
  });

  test('reports the delay GIF really stores', () => {
    const frames = walkFrames(2, 8, 8);
    const gif = encodeGif(frames, { fps: 30 });
    assert.equal(gif.delayCs, 3);
    assert.ok(Math.abs(gif.effectiveFps - 100 / 3) < 1e-9);
    assert.equal(encodeGif(frames, { fps: 200 }).delayCs, 2, 'delays under 2 cs play slower in browsers');
  });

  test('decoded frames reproduce the source closely (transparency composited over earlier frames)', async () => {
    const frames = walkFrames(8, 48, 40);
    const gif = encodeGif(frames, { fps: 10 });
    assert.ok(gif.transparentShare > 0.1, `expected differencing to leave pixels transparent, got ${gif.transparentShare}`);
    const { frames: decoded } = await decodeGif(gif.bytes);
    const db = psnr(decoded, frames);
    assert.ok(db > 30, `PSNR ${db.toFixed(2)} dB`);
  });

  test('content the palette holds exactly round-trips exactly through transparent frames', async () => {
    const frames = movingSquareFrames(6, 40);
    const gif = encodeGif(frames, { fps: 10 });
    assert.ok(gif.transparentShare > 0.8, `a static background should stay transparent, got ${gif.transparentShare}`);
    const { frames: decoded } = await decodeGif(gif.bytes);
    decoded.forEach((f, k) => assert.deepEqual(f.data, frames[k]!.data, `frame ${k}`));
  });

  test('a single frame is a still GIF without transparency', async () => {
    const gif = encodeGif([solid(10, 10, [10, 20, 30])], { fps: 10 });
    const { frames: decoded, meta } = await decodeGif(gif.bytes);
    assert.equal(meta.pages, 1);
    assert.deepEqual(pixel(decoded[0]!, 5, 5), [10, 20, 30]);
  });

  test('rejects frames of different sizes', () => {
    assert.throws(
      () => encodeGif([solid(8, 8, [0, 0, 0]), solid(8, 9, [0, 0, 0])], { fps: 10 }),
      (e: unknown) => e instanceof EngineError && e.code === 'BAD_OPTION',
    );
  });
});

// ---------- artifacts and the byte budget ----------

describe('encodeArtifact', () => {
  test('gif with rubberBand plays ping-pong', async () => {
    const frames = walkFrames(5, 32, 32);
    const art = await encodeArtifact(frames, { format: 'gif', fps: 10, rubberBand: true });
    assert.equal(art.mimeType, 'image/gif');
    assert.equal(art.extension, 'gif');
    assert.equal(art.frameCount, 8);
    assert.equal(art.delayCs, 10);
    assert.equal(art.fps, 10);
    assert.deepEqual(art.reductions, []);
    const { frames: decoded } = await decodeGif(art.bytes);
    assert.equal(decoded.length, 8);
    const order = pingPongOrder(5);
    // Each decoded page is closer to its own source frame than to the next frame in the order.
    order.forEach((src, k) => {
      const own = psnr([decoded[k]!], [frames[src]!]);
      const other = psnr([decoded[k]!], [frames[order[(k + 1) % order.length]!]!]);
      assert.ok(own > other, `page ${k} should show frame ${src}`);
    });
  });

  test('displayScale upscales before encoding', async () => {
    const art = await encodeArtifact(walkFrames(3, 20, 16), { format: 'gif', displayScale: 3 });
    assert.equal(art.width, 60);
    assert.equal(art.height, 48);
    const meta = await sharp(art.bytes, { animated: true }).metadata();
    assert.equal(meta.width, 60);
    assert.equal(meta.pageHeight, 48);
  });

  test('a GIF over maxBytes is reduced until it fits, and says how', async () => {
    const frames = walkFrames(12, 160, 160, 3);
    const full = await encodeArtifact(frames, { format: 'gif', fps: 10 });
    const maxBytes = Math.floor(full.bytes.length * 0.4);
    const art = await encodeArtifact(frames, { format: 'gif', fps: 10, maxBytes });
    assert.ok(art.bytes.length <= maxBytes, `${art.bytes.length} > ${maxBytes}`);
    assert.ok(art.reductions.length > 0);
    assert.equal(art.reductions[0], 'differencing tolerance 0.75 -> 1.5');
    // Whatever was reduced shows in the metadata too.
    const meta = await sharp(art.bytes, { animated: true }).metadata();
    assert.equal(meta.pages, art.frameCount);
    assert.equal(meta.width, art.width);
    assert.equal(meta.pageHeight, art.height);
    if (art.reductions.some((r) => r.startsWith('frames scaled'))) assert.ok(art.width < 160);
    if (art.reductions.some((r) => r.startsWith('every 2nd frame'))) {
      assert.ok(art.frameCount < 12);
      assert.ok(art.delayCs! > 10);
    }
  });

  test('a tight budget walks the ladder in its documented order', async () => {
    const frames = walkFrames(9, 128, 128, 5);
    const art = await encodeArtifact(frames, { format: 'gif', fps: 10, maxBytes: 6000 });
    assert.ok(art.bytes.length <= 6000);
    const kinds = art.reductions.map((r) => r.split(' ')[0]);
    assert.deepEqual(kinds.slice(0, 5), ['differencing', 'differencing', 'colours', 'frames', 'every']);
    assert.equal(art.reductions[2], 'colours 256 -> 128');
    assert.equal(art.reductions[3], 'frames scaled 128x128 -> 96x96');
    assert.equal(art.reductions[4], 'every 2nd frame dropped (9 -> 5 frames, fps 10 -> 5)');
    assert.ok(art.width >= 64 && art.height >= 64);
  });

  test('an unreachable budget throws BUDGET_UNREACHABLE with a readable line', async () => {
    const frames = walkFrames(4, 64, 64);
    await assert.rejects(
      encodeArtifact(frames, { format: 'gif', maxBytes: 200 }),
      (e: unknown) =>
        e instanceof EngineError &&
        e.code === 'BUDGET_UNREACHABLE' &&
        /GIF is still .* over the 200 B limit/.test(e.message) &&
        !e.message.includes('\n'),
    );
    await assert.rejects(
      encodeArtifact([walkFrames(1, 96, 96)[0]!], { format: 'jpeg', maxBytes: 50 }),
      (e: unknown) => e instanceof EngineError && e.code === 'BUDGET_UNREACHABLE',
    );
  });

  test('an aborted signal stops the encode', async () => {
    const controller = new AbortController();
    controller.abort('user cancelled');
    await assert.rejects(
      encodeArtifact(walkFrames(2, 16, 16), { format: 'gif', signal: controller.signal }),
      (e: unknown) => e instanceof EngineError && e.code === 'ABORTED',
    );
  });

  test('png / jpeg take exactly one frame', async () => {
    await assert.rejects(encodeArtifact(walkFrames(2, 8, 8), { format: 'png' }), (e: unknown) => e instanceof EngineError && e.code === 'BAD_OPTION');
  });
});

// ---------- grids ----------

describe('grids', () => {
  const colours: [number, number, number][] = [
    [255, 0, 0],
    [0, 255, 0],
    [0, 0, 255],
    [255, 255, 0],
  ];
  const cells = colours.map((c) => solid(8, 6, c));

  test('composeGrid puts cells row-major: 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right', () => {
    const grid = composeGrid(cells, 2, 2);
    assert.equal(grid.width, 16);
    assert.equal(grid.height, 12);
    assert.deepEqual(pixel(grid, 0, 0), colours[0]);
    assert.deepEqual(pixel(grid, 7, 5), colours[0]);
    assert.deepEqual(pixel(grid, 8, 0), colours[1]);
    assert.deepEqual(pixel(grid, 15, 5), colours[1]);
    assert.deepEqual(pixel(grid, 0, 6), colours[2]);
    assert.deepEqual(pixel(grid, 7, 11), colours[2]);
    assert.deepEqual(pixel(grid, 8, 6), colours[3]);
    assert.deepEqual(pixel(grid, 15, 11), colours[3]);
  });

  test('composeGrid rejects a wrong cell count', () => {
    assert.throws(() => composeGrid(cells.slice(0, 3), 2, 2), (e: unknown) => e instanceof EngineError && e.code === 'BAD_OPTION');
  });

  test('PNG and JPEG decode to the right size and colours', async () => {
    const grid = composeGrid(cells, 2, 2);
    const png = await encodeArtifact([grid], { format: 'png' });
    assert.equal(png.mimeType, 'image/png');
    assert.equal(png.extension, 'png');
    const pngMeta = await sharp(png.bytes).metadata();
    assert.equal(pngMeta.format, 'png');
    assert.deepEqual([pngMeta.width, pngMeta.height], [16, 12]);
    const decoded = await sharp(png.bytes).removeAlpha().raw().toBuffer();
    assert.deepEqual(new Uint8Array(decoded), grid.data, 'PNG is lossless');

    const jpeg = await encodeArtifact([grid], { format: 'jpeg', displayScale: 2 });
    assert.equal(jpeg.mimeType, 'image/jpeg');
    assert.equal(jpeg.extension, 'jpg');
    const jpegMeta = await sharp(jpeg.bytes).metadata();
    assert.equal(jpegMeta.format, 'jpeg');
    assert.deepEqual([jpegMeta.width, jpegMeta.height, jpeg.width, jpeg.height], [32, 24, 32, 24]);
    const { data } = await sharp(jpeg.bytes).raw().toBuffer({ resolveWithObject: true });
    const topLeft = [data[(2 * 32 + 2) * 3]!, data[(2 * 32 + 2) * 3 + 1]!, data[(2 * 32 + 2) * 3 + 2]!];
    assert.ok(topLeft[0]! > 200 && topLeft[1]! < 60 && topLeft[2]! < 60, `top-left should be red, got ${topLeft}`);
  });

  test('a PNG over budget becomes a palette PNG', async () => {
    const grid = composeGrid(walkFrames(4, 96, 96, 11), 2, 2);
    const full = await encodeArtifact([grid], { format: 'png' });
    const art = await encodeArtifact([grid], { format: 'png', maxBytes: Math.floor(full.bytes.length * 0.8) });
    assert.ok(art.bytes.length <= full.bytes.length * 0.8);
    assert.equal(art.reductions[0], 'PNG truecolour -> 256-colour palette');
    assert.ok(art.colors !== undefined && art.colors <= 256);
    const meta = await sharp(art.bytes).metadata();
    assert.deepEqual([meta.width, meta.height], [art.width, art.height]);
  });

  test('a JPEG over budget lowers quality first, then scales', async () => {
    const grid = composeGrid(walkFrames(4, 96, 96, 13), 2, 2);
    const full = await encodeArtifact([grid], { format: 'jpeg' });
    const lower = await encodeArtifact([grid], { format: 'jpeg', maxBytes: Math.floor(full.bytes.length * 0.8) });
    assert.ok(lower.bytes.length <= full.bytes.length * 0.8);
    assert.equal(lower.reductions[0], 'JPEG quality 90 -> 80');
    // Just under what quality 50 gives at full size: every quality step, then a size step.
    const q50 = (await encodeImage(grid, 'jpeg', { quality: 50 })).length;
    const tiny = await encodeArtifact([grid], { format: 'jpeg', maxBytes: q50 - 1 });
    assert.ok(tiny.bytes.length < q50);
    assert.deepEqual(tiny.reductions.slice(0, 4), ['JPEG quality 90 -> 80', 'JPEG quality 80 -> 70', 'JPEG quality 70 -> 60', 'JPEG quality 60 -> 50']);
    assert.equal(tiny.reductions[4], 'image scaled 192x192 -> 144x144');
    const meta = await sharp(tiny.bytes).metadata();
    assert.deepEqual([meta.width, meta.height], [tiny.width, tiny.height]);
  });
});
