/**
 * The bundled "emoji" pack (models/emoji, trained by tools/train-emoji) draws the emoji it is asked for,
 * measured with no human eye: "a <short name>" for each of the common emoji of tools/train-emoji/eval-emoji.json
 * is rendered through the engine at seed 42, and the render's 32x32 thumbnail (mean of each 2x2 block) must find
 * the named emoji nearest among the thumbnails of all 1,911 training images by mean squared error over the
 * 32x32x3 RGB values (tools/train-emoji/emojiMeasure.ts), for >= 80% of them, and among the nearest 5 for >= 95%.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { after, before, describe, it } from 'node:test';
import { loadModel, render, type LoadedModel } from '../src/engine/index.ts';
import { OnnxSession } from '../src/engine/onnx/OnnxSession.ts';
import { toRgb } from '../src/engine/sampler/VaeDecode.ts';
import {
  EMOJI_PACK_DIR,
  TOKEN_FIXTURES_FILE,
  checkMorph,
  distances,
  formatRecognition,
  loadEvalSpec,
  loadReference,
  nearestIndex,
  renderPrompts,
  scoreRecognition,
  thumbnail,
  type Reference,
} from '../tools/train-emoji/emojiMeasure.ts';

// LATENTWALK_EMOJI_PACK: run the same checks on a retrained pack.
const PACK = process.env.LATENTWALK_EMOJI_PACK ?? EMOJI_PACK_DIR;
const spec = loadEvalSpec();

function packBytes(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const s = statSync(p);
    total += s.isDirectory() ? packBytes(p) : s.size;
  }
  return total;
}

// models/emoji is made by tools/train-emoji (not yet trained to its thresholds, so not bundled yet).
const NO_PACK = existsSync(join(PACK, 'latentwalk.json')) ? false : `no emoji pack at ${PACK} (train it: tools/train-emoji/README.md)`;

describe('the emoji pack draws the emoji it is asked for', { skip: NO_PACK }, () => {
  let model: LoadedModel;
  let ref: Reference;
  before(async () => {
    model = await loadModel(PACK, { threads: 2 });
    ref = await loadReference();
  });
  after(async () => {
    await model.dispose();
  });

  it('is an SD3-layout pack of at most 30 MB with 64x64 defaults, a vocabulary, suggestions and a VAE encoder', () => {
    assert.equal(model.name, 'emoji');
    for (const part of ['model_index.json', 'scheduler', 'tokenizer', 'tokenizer_2', 'text_encoder', 'text_encoder_2', 'transformer', 'vae_decoder', 'vae_encoder']) {
      assert.ok(existsSync(join(PACK, part)), `${part} in ${PACK}`);
    }
    assert.ok(!existsSync(join(PACK, 'text_encoder_3')), 'no T5');
    const bytes = packBytes(PACK);
    assert.ok(bytes <= 30 * 1024 * 1024, `pack is ${bytes} bytes`);
    assert.equal(model.defaults.width, 64);
    assert.equal(model.defaults.height, 64);
    const manifest = JSON.parse(readFileSync(join(PACK, 'latentwalk.json'), 'utf8')) as { vocabulary: string[]; suggestions: string[] };
    assert.ok(manifest.vocabulary.length > 1000);
    assert.deepEqual(manifest.vocabulary, [...new Set(manifest.vocabulary)].sort(), 'vocabulary: sorted, no repeats');
    assert.ok(manifest.vocabulary.every((w) => /^[a-z0-9]+$/.test(w)), 'vocabulary: lowercase words');
    for (const w of ['dog', 'cat', 'pizza', 'a', 'an']) assert.ok(manifest.vocabulary.includes(w), w);
    assert.ok(manifest.suggestions.length >= 150 && manifest.suggestions.length <= 300);
    assert.deepEqual(manifest.suggestions.slice(0, 3), ['a dog', 'a cat', 'a mouse']);
    assert.ok(spec.items.length >= 150);
  });

  it("the engine's tokenizers reproduce token-fixtures.json and give every vocabulary word one token", () => {
    const fixtures = JSON.parse(readFileSync(TOKEN_FIXTURES_FILE, 'utf8')) as {
      bos: number;
      eos: number;
      prompts: { prompt: string; tokenizer: number[]; tokenizer_2: number[] }[];
    };
    for (const f of fixtures.prompts) {
      assert.deepEqual(Array.from(model.pack.clipL.tokenizer.encode(f.prompt).ids, Number), f.tokenizer, `tokenizer: ${JSON.stringify(f.prompt)}`);
      assert.deepEqual(Array.from(model.pack.clipG.tokenizer.encode(f.prompt).ids, Number), f.tokenizer_2, `tokenizer_2: ${JSON.stringify(f.prompt)}`);
    }
    const { vocabulary } = JSON.parse(readFileSync(join(PACK, 'latentwalk.json'), 'utf8')) as { vocabulary: string[] };
    for (const word of vocabulary.filter((w) => /^[a-z]+$/.test(w))) {
      const ids = Array.from(model.pack.clipL.tokenizer.encode(word).ids, Number);
      assert.equal(ids[0], fixtures.bos);
      assert.equal(ids[2], fixtures.eos, `"${word}" is one token`);
    }
  });

  it('a grid corner is the same frame as a one-prompt render (how the measure batches its renders)', async () => {
    const [fromGrid] = await renderPrompts(model, ['a dog', 'a cat', 'a pizza', 'a rocket'], spec.seed);
    const { frames } = await render(model, { kind: 'walk', prompts: ['a dog'], frames: 2, stepSize: 0 }, { seed: spec.seed, batchSize: 2, smooth: 'off' });
    let worst = 0;
    for (let i = 0; i < fromGrid!.data.length; i++) worst = Math.max(worst, Math.abs(fromGrid!.data[i]! - frames[0]!.data[i]!));
    assert.ok(worst <= 1, `grid corner vs one-prompt render: max difference ${worst}/255`);
  });

  it(`"a <short name>" at seed ${spec.seed}: the named emoji is nearest for >= ${spec.targets.top1 * 100}% and among the nearest 5 for >= ${spec.targets.top5 * 100}% of ${spec.items.length} prompts`, async () => {
    const r = await scoreRecognition(model, spec, ref);
    const misses = r.items.filter((x) => x.rank > 0).map((x) => `${x.prompt} [rank ${x.rank}, nearest ${x.nearestShort}]`);
    const line = `${formatRecognition(r)}; not nearest: ${misses.join('; ')}`;
    console.log(`# emoji recognition: ${line}`);
    assert.ok(r.top1 >= spec.targets.top1, `top-1: ${line}`);
    assert.ok(r.top5 >= spec.targets.top5, `top-5: ${line}`);
  });

  it(`a morph "${spec.morph.prompts[0]}" -> "${spec.morph.prompts[1]}" starts nearest the dog emoji and ends nearest the cat`, async () => {
    const m = await checkMorph(model, spec, ref);
    const line = m.nearest.join(' | ');
    console.log(`# emoji morph: ${line}`);
    assert.equal(m.rankFirst[0], 0, `first frame: ${line}`);
    assert.equal(m.rankLast.at(-1), 0, `last frame: ${line}`);
  });

  it('vae_encoder: latent_parameters [B, 2C, 8, 8] whose mean decodes back to the same emoji', async () => {
    const enc = await OnnxSession.open(join(PACK, 'vae_encoder', 'model.onnx'), { provider: 'cpu', label: 'vae_encoder', intraOpThreads: 2 });
    try {
      assert.deepEqual(enc.inputs.map((t) => t.name), ['sample']);
      assert.deepEqual(enc.outputs.map((t) => t.name), ['latent_parameters']);
      const config = JSON.parse(readFileSync(join(PACK, 'vae_encoder', 'config.json'), 'utf8')) as Record<string, unknown>;
      const decoderConfig = JSON.parse(readFileSync(join(PACK, 'vae_decoder', 'config.json'), 'utf8')) as Record<string, unknown>;
      assert.equal(config['scaling_factor'], decoderConfig['scaling_factor']);
      assert.equal(config['shift_factor'], decoderConfig['shift_factor']);
      const [dog] = await renderPrompts(model, ['a dog'], spec.seed);
      // packed RGB rows -> NCHW in [-1, 1]
      const sample = new Float32Array(3 * 64 * 64);
      for (let p = 0; p < 64 * 64; p++) for (let c = 0; c < 3; c++) sample[c * 64 * 64 + p] = (dog!.data[p * 3 + c]! / 255) * 2 - 1;
      const out = await enc.run({ sample: { type: 'float32', data: sample, dims: [1, 3, 64, 64] } }, ['latent_parameters']);
      const params = out['latent_parameters']!;
      const C = model.pack.transformer.latentChannels;
      assert.deepEqual([...params.dims], [1, 2 * C, 8, 8]);
      const mean = params.data.slice(0, C * 64);
      const decoded = await model.pack.vae.session.run({ latent_sample: { type: 'float32', data: mean, dims: [1, C, 8, 8] } }, [model.pack.vae.output]);
      const frame = toRgb(decoded[model.pack.vae.output]!.data, 64, 64);
      assert.equal(ref.short[nearestIndex(distances(thumbnail(frame), ref))], 'dog');
    } finally {
      await enc.dispose();
    }
  });

  it('starts from a picture: a morph from a picture of a dog towards "a pizza" keeps the dog in frame 0 at a low strength, and strength redraws more of it', async () => {
    const [dog] = await renderPrompts(model, ['a dog'], spec.seed);
    const image = await sharp(Buffer.from(dog!.data), { raw: { width: 64, height: 64, channels: 3 } }).png().toBuffer();
    const walk = { kind: 'morph', prompts: ['a pizza', 'a rocket'], frames: 4 } as const;
    const meanAbs = (a: Uint8Array) => a.reduce((sum, v, i) => sum + Math.abs(v - dog!.data[i]!), 0) / a.length;
    const low = await render(model, walk, { seed: 7, image, strength: 0.1, smooth: 'off' });
    const high = await render(model, walk, { seed: 7, image, strength: 0.4, smooth: 'off' });
    const plain = await render(model, walk, { seed: 7, smooth: 'off' });
    const near = meanAbs(low.frames[0]!.data);
    const figures = `frame 0 vs the picture, mean abs diff: strength 0.1 ${near.toFixed(1)}, 0.4 ${meanAbs(high.frames[0]!.data).toFixed(1)}, no picture ${meanAbs(plain.frames[0]!.data).toFixed(1)} (0..255)`;
    console.log(`# emoji img2img: ${figures}`);
    assert.equal(ref.short[nearestIndex(distances(thumbnail(low.frames[0]!), ref))], 'dog', figures);
    assert.ok(near < 8, figures);
    // This small model follows its caption hard: from 0.3 or so frame 0 is the caption's emoji, not the picture.
    assert.ok(meanAbs(high.frames[0]!.data) > 4 * near && meanAbs(plain.frames[0]!.data) > 4 * near, figures);
  });
});
