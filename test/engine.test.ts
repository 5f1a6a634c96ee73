import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EngineError, RenderAbortedError, loadModel, render, type LoadedModel, type RgbFrame, type RenderProgress } from '../src/engine/index.ts';
import { TINY_FP16_PACK, TINY_PACK, copyTinyPack, makeTinyPackVariant, removeTestPacks, writeJson } from './harness/packs.ts';

function maxDiff(a: RgbFrame, b: RgbFrame): number {
  assert.equal(a.width, b.width);
  let m = 0;
  for (let i = 0; i < a.data.length; i++) m = Math.max(m, Math.abs(a.data[i]! - b.data[i]!));
  return m;
}

async function rejectsWith(p: Promise<unknown>, code: string, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof EngineError, `expected EngineError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
}

describe('engine on the tiny pack', () => {
  let model: LoadedModel;
  const single = async (prompt: string, seed = 11) =>
    (await render(model, { kind: 'walk', prompts: [prompt], frames: 2, stepSize: 0 }, { seed, batchSize: 1, smooth: 'off' })).frames[0]!;

  before(async () => {
    model = await loadModel(TINY_PACK);
  });
  after(async () => {
    await model.dispose();
    removeTestPacks();
  });

  it('loads the exporter layout, external data included, with widths from the graphs', () => {
    assert.ok(existsSync(join(TINY_PACK, 'transformer', 'model.onnx_data')));
    assert.equal(model.pack.transformer.contextWidth, 128);
    assert.equal(model.pack.clipL.hiddenOutput, 'hidden_states.1');
    assert.equal(model.pack.clipG.hiddenOutput, 'hidden_states.2');
    assert.equal(model.pack.shift, 3);
  });

  it('encodes SD3 conditioning: [L | G | zero pad] x 77 rows + 77 zero rows, pooled = L ++ G', async () => {
    const e = await model.prompts.encode('a red circle');
    const width = 128;
    assert.equal(e.rows, 154);
    assert.equal(e.embedding.context.length, 154 * width);
    assert.equal(e.embedding.pooled.length, 32 + 48);
    const row0 = e.embedding.context.subarray(0, width);
    assert.ok(row0.subarray(0, 80).some((v) => v !== 0));
    assert.ok(row0.subarray(80).every((v) => v === 0), 'feature padding is zero');
    assert.ok(e.embedding.context.subarray(77 * width).every((v) => v === 0), 'rows of the missing T5 are zero');
  });

  it('encodes each prompt once (LRU cache)', async () => {
    const before = model.prompts.encodedCount;
    await model.prompts.encode('a cached prompt');
    await model.prompts.encode('a cached prompt');
    assert.equal(model.prompts.encodedCount, before + 1);
  });

  for (const smooth of ['off', 'blend'] as const) {
    it(`morph (${smooth}): frame 0 equals a single render of A, the last frame equals B`, async () => {
      const { frames } = await render(model, { kind: 'morph', prompts: ['a dog', 'a cat'], frames: 5 }, { seed: 11, batchSize: 1, smooth });
      assert.equal(frames.length, 5);
      assert.equal(maxDiff(frames[0]!, await single('a dog')), 0);
      assert.equal(maxDiff(frames[4]!, await single('a cat')), 0);
      assert.ok(maxDiff(frames[0]!, frames[4]!) > 10, 'A and B differ');
    });

    it(`grid (${smooth}): the four corners equal the four prompts rendered alone (fixed noise)`, async () => {
      const prompts = ['a red circle', 'a blue square', 'a green star', 'a yellow ring'] as const;
      const { frames } = await render(model, { kind: 'grid', prompts, gridSize: 3 }, { seed: 11, batchSize: 1, smooth });
      assert.equal(frames.length, 9);
      const corners = [0, 2, 6, 8];
      for (let k = 0; k < 4; k++) assert.equal(maxDiff(frames[corners[k]!]!, await single(prompts[k]!)), 0, `corner ${k}`);
    });

    it(`loop (${smooth}): frame 0 is the single render, no two consecutive frames (seam included) are equal`, async () => {
      const { frames } = await render(model, { kind: 'loop', prompts: ['a dog'], frames: 6 }, { seed: 11, batchSize: 1, smooth });
      assert.equal(maxDiff(frames[0]!, await single('a dog')), 0);
      for (let k = 0; k < frames.length; k++) assert.ok(maxDiff(frames[k]!, frames[(k + 1) % frames.length]!) > 0, `frames ${k} and ${k + 1} differ`);
    });
  }

  it('is deterministic, and batch sizes 1 and 4 give the same frames within 2/255 (off)', async () => {
    const spec = { kind: 'morph', prompts: ['a dog', 'a cat'], frames: 6 } as const;
    const a = await render(model, spec, { seed: 3, batchSize: 4, smooth: 'off' });
    const b = await render(model, spec, { seed: 3, batchSize: 4, smooth: 'off' });
    const c = await render(model, spec, { seed: 3, batchSize: 1, smooth: 'off' });
    a.frames.forEach((f, i) => assert.equal(maxDiff(f, b.frames[i]!), 0));
    a.frames.forEach((f, i) => assert.ok(maxDiff(f, c.frames[i]!) <= 2, `frame ${i}: ${maxDiff(f, c.frames[i]!)}`));
    const other = await render(model, spec, { seed: 4, batchSize: 4, smooth: 'off' });
    assert.ok(maxDiff(a.frames[0]!, other.frames[0]!) > 0, 'another seed gives other noise');
  });

  it('reports progress per batch and hands each decoded batch out; reuses checkpointed frames (off)', async () => {
    const events: RenderProgress[] = [];
    const batches: number[][] = [];
    const spec = { kind: 'morph', prompts: ['a dog', 'a cat'], frames: 6 } as const;
    const full = await render(model, spec, { seed: 5, batchSize: 2, smooth: 'off' }, { onProgress: (p) => events.push(p), onBatch: (b) => void batches.push(b.indices) });
    assert.deepEqual(batches, [[0, 1], [2, 3], [4, 5]]);
    const doneCounts = events.filter((e) => e.stage === 'decode').map((e) => e.framesDone);
    assert.ok(doneCounts.includes(2) && doneCounts.includes(4) && doneCounts.includes(6));
    assert.ok(events.some((e) => e.etaSeconds !== undefined));
    const completed = new Map([[0, full.frames[0]!], [1, full.frames[1]!], [2, full.frames[2]!]]);
    const rendered: number[] = [];
    const resumed = await render(model, spec, { seed: 5, batchSize: 2, smooth: 'off' }, { completedFrames: completed, onBatch: (b) => void rendered.push(...b.indices) });
    assert.deepEqual(rendered, [3, 4, 5]);
    assert.equal(resumed.report.resumedFrames, 3);
    resumed.frames.forEach((f, i) => assert.ok(maxDiff(f, full.frames[i]!) <= 2));
  });

  it('stops within one batch when aborted, with RenderAbortedError', async () => {
    const controller = new AbortController();
    let batches = 0;
    await assert.rejects(
      render(model, { kind: 'morph', prompts: ['a dog', 'a cat'], frames: 8 }, { seed: 5, batchSize: 2 }, {
        onBatch: () => {
          batches++;
          controller.abort();
        },
        signal: controller.signal,
      }),
      RenderAbortedError,
    );
    assert.equal(batches, 1);
  });

  it('reports a prompt cut at 77 tokens with the dropped words', async () => {
    const words: string[] = Array.from({ length: 90 }, (_, i) => (i % 2 ? 'red' : 'dog'));
    words.push('finalword');
    const { report } = await render(model, { kind: 'walk', prompts: [words.join(' ')], frames: 2 }, { seed: 1 });
    assert.equal(report.truncations.length, 1);
    assert.equal(report.truncations[0]!.droppedWords.at(-1), 'finalword');
    assert.equal(report.truncations[0]!.droppedWords.length, 91 - 75);
  });

  it('refuses bad settings with one line naming the option', async () => {
    await rejectsWith(render(model, { kind: 'morph', prompts: ['a', 'b'], frames: 4 }, { seed: 1, width: 72 }), 'BAD_OPTION', /width must be a multiple of 16/);
    await rejectsWith(render(model, { kind: 'morph', prompts: ['a', 'b'], frames: 1 }, { seed: 1 }), 'BAD_OPTION', /frames must be an integer from 2 to 512/);
    await rejectsWith(render(model, { kind: 'grid', prompts: ['a', 'b', 'c', 'd'], gridSize: 11 }, { seed: 1 }), 'BAD_OPTION', /grid size/);
    await rejectsWith(render(model, { kind: 'morph', prompts: ['a', 'b'], frames: 4 }, { seed: -1 }), 'BAD_OPTION', /seed/);
    await rejectsWith(render(model, { kind: 'morph', prompts: ['a', 'b'], frames: 4 }, { seed: 1, steps: 0 }), 'BAD_OPTION', /steps/);
  });
});

describe('model packs', () => {
  after(removeTestPacks);

  it('loads the fp16-I/O variant; its frames match fp32 within fp16 precision', async () => {
    const [m32, m16] = [await loadModel(TINY_PACK), await loadModel(TINY_FP16_PACK)];
    try {
      assert.equal(m16.pack.transformer.session.input('hidden_states')?.type, 'float16');
      const spec = { kind: 'morph', prompts: ['a dog', 'a cat'], frames: 3 } as const;
      const [a, b] = [await render(m32, spec, { seed: 2 }), await render(m16, spec, { seed: 2 })];
      a.frames.forEach((f, i) => assert.ok(maxDiff(f, b.frames[i]!) <= 24, `frame ${i}: ${maxDiff(f, b.frames[i]!)}`));
    } finally {
      await Promise.all([m32.dispose(), m16.dispose()]);
    }
  });

  it('appends T5 rows when the pack has text_encoder_3, and honours zeroRowsWithoutT5', async () => {
    const withT5 = await loadModel(await makeTinyPackVariant({ t5: true }));
    try {
      const e = await withT5.prompts.encode('a dog');
      assert.equal(e.rows, 77 + withT5.pack.t5!.tokenizer.maxLength);
      assert.ok(e.embedding.context.subarray(77 * 128).some((v) => v !== 0), 'T5 rows are not zero');
      await render(withT5, { kind: 'morph', prompts: ['a dog', 'a cat'], frames: 2 }, { seed: 1 });
    } finally {
      await withT5.dispose();
    }
    const dir = copyTinyPack();
    writeJson(join(dir, 'latentwalk.json'), { text: { zeroRowsWithoutT5: 256 } });
    const m = await loadModel(dir);
    try {
      assert.equal((await m.prompts.encode('a dog')).rows, 333);
    } finally {
      await m.dispose();
    }
  });

  it('names the missing pack, file and tensor in one line', async () => {
    await rejectsWith(loadModel('/nonexistent/pack'), 'PACK_NOT_FOUND', /\/nonexistent\/pack/);
    const noVae = copyTinyPack();
    rmSync(join(noVae, 'vae_decoder', 'model.onnx'));
    await rejectsWith(loadModel(noVae), 'PACK_FILE_MISSING', /vae_decoder\/model\.onnx is missing/);
    const noMerges = copyTinyPack();
    rmSync(join(noMerges, 'tokenizer', 'merges.txt'));
    await rejectsWith(loadModel(noMerges), 'PACK_FILE_MISSING', /tokenizer\/merges\.txt/);
    const badManifest = copyTinyPack();
    writeJson(join(badManifest, 'latentwalk.json'), { defaults: { width: 'big' } });
    await rejectsWith(loadModel(badManifest), 'PACK_INVALID', /latentwalk\.json.*defaults\.width/);
  });

  it('a transformer output named out_sample needs latentwalk.json, and loads with it', async () => {
    const dir = await makeTinyPackVariant({ transformerOutput: 'out_sample' });
    const m = await loadModel(dir);
    await m.dispose();
    rmSync(join(dir, 'latentwalk.json'));
    await rejectsWith(loadModel(dir), 'TENSOR_MISMATCH', /transformer\/model\.onnx has no output 'out_hidden_states' \(it has: out_sample\)/);
  });
});
