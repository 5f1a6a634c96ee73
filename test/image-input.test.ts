/**
 * Image input (img2img) in the engine, on the tiny pack (whose vae_encoder is fitted to invert its decoder):
 * frame 0 starts near the image at a low strength and drifts away as strength grows; a pack without an encoder,
 * bad images and bad strengths are refused with one readable line.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { EngineError, loadModel, render, type LoadedModel } from '../src/engine/index.ts';
import { prepareInitImage } from '../src/engine/image/InitImage.ts';
import { copyTinyPack, removeTestPacks, TINY_PACK } from './harness/packs.ts';

const W = 64;
/** A smooth picture: gradients in every channel. */
function picture(width = W, height = W): Uint8Array {
  const raw = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      raw[o] = 40 + Math.round((3 * x * W) / width);
      raw[o + 1] = 200 - Math.round((2 * y * W) / height);
      raw[o + 2] = 90 + Math.round(((x + y) * W) / width);
    }
  }
  return raw;
}
const png = (raw: Uint8Array, width = W, height = W) => sharp(raw, { raw: { width, height, channels: 3 } }).png().toBuffer();
const meanAbsDiff = (a: Uint8Array, b: Uint8Array) => a.reduce((s, v, i) => s + Math.abs(v - b[i]!), 0) / a.length;
const psnr = (a: Uint8Array, b: Uint8Array) => {
  const mse = a.reduce((s, v, i) => s + (v - b[i]!) ** 2, 0) / a.length;
  return 10 * Math.log10((255 * 255) / mse);
};

let model: LoadedModel;
before(async () => {
  model = await loadModel(TINY_PACK);
});
after(async () => {
  await model?.dispose();
  removeTestPacks();
});

function refusal(code: string, pattern: RegExp) {
  return (e: unknown) => e instanceof EngineError && e.code === code && pattern.test(e.message) && !e.message.includes('\n');
}

describe('image input (engine)', () => {
  it('frame 0 is close to the image at a low strength, and strength redraws more of it', async () => {
    const raw = picture();
    const image = await png(raw);
    const spec = { kind: 'morph', prompts: ['a cat', 'a dog'], frames: 4 } as const;
    const low = await render(model, spec, { seed: 1, image, strength: 0.25, smooth: 'off' });
    const full = await render(model, spec, { seed: 1, image, strength: 1, smooth: 'off' });
    const none = await render(model, spec, { seed: 1, smooth: 'off' });
    const near = meanAbsDiff(low.frames[0]!.data, raw);
    const far = meanAbsDiff(none.frames[0]!.data, raw);
    // Measured: 12.6 of 255 (PSNR about 21 dB) at 0.25, against 121 from noise; 4 steps, 1 of them run.
    assert.ok(near < 20, `frame 0 at strength 0.25: mean abs diff ${near.toFixed(2)}, PSNR ${psnr(low.frames[0]!.data, raw).toFixed(1)} dB`);
    assert.ok(near < far / 4, `${near.toFixed(2)} vs ${far.toFixed(2)} without the image`);
    assert.ok(meanAbsDiff(full.frames[0]!.data, raw) > 4 * near, 'strength 1 redraws the whole picture');
    assert.deepEqual(
      { strength: low.report.image?.strength, startStep: low.report.image?.startStep, source: low.report.image?.source },
      { strength: 0.25, startStep: 3, source: { width: 64, height: 64, format: 'png', bytes: image.length } },
    );
    assert.equal(low.report.image!.startSigma, low.report.sigmas[3]);
    assert.equal(low.report.transformerCalls, 1, 'only the steps after the start run');
    assert.equal(full.report.image!.startStep, 0);
  });

  it('smooth blend walks from the image too, and the same settings give the same frames', async () => {
    const image = await png(picture());
    const spec = { kind: 'loop', prompts: ['a cat'], frames: 4 } as const;
    const a = await render(model, spec, { seed: 3, image, strength: 0.5, smooth: 'blend' });
    const b = await render(model, spec, { seed: 3, image, strength: 0.5, smooth: 'blend' });
    assert.equal(a.frames.length, 4);
    a.frames.forEach((f, i) => assert.deepEqual(f.data, b.frames[i]!.data));
    assert.equal(a.report.image!.startStep, 2);
  });

  it('a chain passes through an image stop: that stop\'s frame is close to the picture, prompt-only stops are untouched', async () => {
    const raw = picture();
    const image = await png(raw);
    const prompts = ['a cat', 'a dog', 'a bird'];
    const plain = await render(model, { kind: 'chain', prompts, frames: 6 }, { seed: 5, smooth: 'off' });
    const spec = { kind: 'chain', prompts, frames: 6, images: [undefined, { image, strength: 0.25 }, undefined] } as const;
    const withImage = await render(model, spec, { seed: 5, smooth: 'off' });
    // Frames sit at 0, 0.5, 1 (the image stop), 1.5, 2, 2.5.
    assert.deepEqual(withImage.report.positions, [0, 0.5, 1, 1.5, 2, 2.5]);
    const atStop = meanAbsDiff(withImage.frames[2]!.data, raw);
    const plainAtStop = meanAbsDiff(plain.frames[2]!.data, raw);
    // Measured on the tiny pack: 12.9 of 255 at the stop against 129.6 without its image; 115 half way (125.8).
    assert.ok(atStop < 20 && atStop < plainAtStop / 4, `image stop frame: mean abs diff ${atStop.toFixed(2)} (without the image ${plainAtStop.toFixed(2)}), PSNR ${psnr(withImage.frames[2]!.data, raw).toFixed(1)} dB`);
    // Frames half way to it keep some of it; the prompt-only stops and the leg between them are as without it.
    const half = meanAbsDiff(withImage.frames[1]!.data, raw);
    assert.ok(half < meanAbsDiff(plain.frames[1]!.data, raw), `half way: ${half.toFixed(2)}`);
    for (const i of [0, 4, 5]) assert.deepEqual(withImage.frames[i]!.data, plain.frames[i]!.data, `frame ${i}`);
    assert.deepEqual(withImage.report.stopImages?.map((r) => r && { strength: r.strength, startStep: r.startStep }), [null, { strength: 0.25, startStep: 3 }, null]);
    // Steps run: 4 for each of the 4 frames away from the image, 2 for each of the two half way, 1 at the stop.
    assert.equal(withImage.report.frameSteps, 4 * 3 + 2 * 2 + 1);

    // 'blend' becomes 'even' (frames start at different steps); the stop is still a frame and close to the picture.
    const even = await render(model, spec, { seed: 5, smooth: 'blend' });
    assert.equal(even.report.smooth, 'even');
    const stop = even.report.positions.indexOf(1);
    assert.ok(stop >= 0, `positions ${even.report.positions.join(', ')}`);
    assert.ok(meanAbsDiff(even.frames[stop]!.data, raw) < 20);
  });

  it('refuses a chain with stop images and one image for every frame, and names the stop whose picture is bad', async () => {
    const image = await png(picture());
    const prompts = ['a cat', 'a dog'];
    await assert.rejects(
      render(model, { kind: 'chain', prompts, frames: 2, images: [{ image }, undefined] }, { seed: 1, image }),
      refusal('BAD_OPTION', /stops or from one image for every frame, not both/),
    );
    const text = new TextEncoder().encode('not a picture');
    await assert.rejects(render(model, { kind: 'chain', prompts, frames: 2, images: [undefined, { image: text }] }, { seed: 1 }), refusal('BAD_IMAGE', /^stop 2: that file is not an image/));
    await assert.rejects(render(model, { kind: 'chain', prompts, frames: 2, images: [undefined] }, { seed: 1 }), refusal('BAD_OPTION', /one per prompt/));
  });

  it('centre-crops an image within 5:4 of the render and refuses one further off', async () => {
    const wide = await png(picture(80, 64), 80, 64);
    const prepared = await prepareInitImage(wide, 64, 64);
    assert.deepEqual(prepared.crop, { left: 8, top: 0, width: 64, height: 64 });
    assert.equal(prepared.frame.data.length, 64 * 64 * 3);
    const panorama = await png(picture(128, 64), 128, 64);
    await assert.rejects(prepareInitImage(panorama, 64, 64), refusal('BAD_IMAGE', /the image is 128x64 \(2:1\) and this render is 64x64 \(1:1\); crop it to about 1:1 first/));
  });

  it('refuses what is not a still image within the limits, in one line', async () => {
    await assert.rejects(prepareInitImage(new TextEncoder().encode('hello, not a picture'), 64, 64), refusal('BAD_IMAGE', /not an image this bot can read/));
    await assert.rejects(prepareInitImage(new Uint8Array(0), 64, 64), refusal('BAD_IMAGE', /empty/));
    await assert.rejects(prepareInitImage(new Uint8Array(11 * 1024 * 1024), 64, 64), refusal('BAD_IMAGE', /11\.0 MiB; the limit is 10 MiB/));
    const frames = Buffer.concat([picture(), picture().reverse()]);
    const gif = await sharp(frames, { raw: { width: W, height: 2 * W, channels: 3, pageHeight: W } }).gif({ delay: [100, 100] }).toBuffer();
    await assert.rejects(prepareInitImage(gif, 64, 64), refusal('BAD_IMAGE', /animated \(2 frames\); use a still image/));
    const tiff = await sharp(picture(), { raw: { width: W, height: W, channels: 3 } }).tiff().toBuffer();
    await assert.rejects(prepareInitImage(tiff, 64, 64), refusal('BAD_IMAGE', /TIFF image is not supported/));
  });

  it('refuses a bad strength and a pack without vae_encoder', async () => {
    const image = await png(picture());
    const spec = { kind: 'morph', prompts: ['a cat', 'a dog'], frames: 2 } as const;
    await assert.rejects(render(model, spec, { seed: 1, image, strength: 0 }), refusal('BAD_OPTION', /strength must be above 0 and at most 1, got 0/));
    await assert.rejects(render(model, spec, { seed: 1, image, strength: 1.5 }), refusal('BAD_OPTION', /at most 1, got 1\.5/));
    // As diffusers: int(steps - steps * strength), so any strength above 0 runs at least the last step.
    assert.equal((await render(model, spec, { seed: 1, image, strength: 0.1 })).report.image!.startStep, 3);
    const bare = copyTinyPack();
    rmSync(join(bare, 'vae_encoder'), { recursive: true });
    const without = await loadModel(bare);
    try {
      const plain = await render(without, spec, { seed: 1 });
      assert.equal(plain.frames.length, 2, 'a pack without an encoder still renders from text');
      await assert.rejects(render(without, spec, { seed: 1, image }), refusal('NO_VAE_ENCODER', /has no vae_encoder; image input needs a pack exported with its VAE encoder/));
    } finally {
      await without.dispose();
    }
  });
});
