/**
 * The committed tiny packs: optimum's SD3 export layout and tensor names, loadable in onnxruntime-node,
 * per-sample and input-dependent as the engine's tests assume, and byte-for-byte reproducible.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { Tokenizer } from '@huggingface/tokenizers';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { ClipTokenizer } from '../src/engine/text/ClipTokenizer.ts';
import { float16ToFloat32 as fromHalfArray, float32ToFloat16 as toHalfArray } from '../src/engine/onnx/float16.ts';
import { buildTinyPack, DEFAULT_OPTIONS, writePack } from '../tools/tiny-pack/pack.ts';

const { onnx } = onnxProto;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TINY = join(ROOT, 'models/tiny');
const TINY_FP16 = join(ROOT, 'models/tiny-fp16');

const temps: string[] = [];
after(() => temps.forEach((d) => rmSync(d, { recursive: true, force: true })));
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'latentwalk-tiny-'));
  temps.push(dir);
  return dir;
}

function listFiles(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[])
    .filter((f) => statSync(join(dir, f)).isFile())
    .sort();
}

function readJson(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
}

type Meta = { name: string; type: string; shape: Array<number | string> };
function io(meta: readonly ort.InferenceSession.ValueMetadata[]): Meta[] {
  return meta.map((m) => {
    assert.ok(m.isTensor, `${m.name} is a tensor`);
    return { name: m.name, type: m.type, shape: [...m.shape] };
  });
}

async function session(pack: string, component: string): Promise<ort.InferenceSession> {
  // From the file path, so model.onnx_data resolves next to model.onnx.
  return ort.InferenceSession.create(join(pack, component, 'model.onnx'));
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs((a[i] ?? 0) - (b[i] ?? 0)));
  return d;
}

/** Deterministic test values in [-scale, scale]. */
function wave(count: number, phase: number, scale = 1): Float32Array {
  return Float32Array.from({ length: count }, (_, i) => Math.sin(i * 0.731 + phase) * scale);
}

function floats(t: ort.Tensor | undefined): Float32Array {
  assert.ok(t, 'output present');
  if (t.type === 'float16') return fromHalfArray(t.data as Uint16Array);
  assert.equal(t.type, 'float32');
  return t.data as Float32Array;
}

const clipOutputs = (width: number, proj: number, layers: number, type: string): Meta[] => [
  { name: 'text_embeds', type, shape: ['batch_size', proj] },
  { name: 'last_hidden_state', type, shape: ['batch_size', 77, width] },
  ...Array.from({ length: layers + 1 }, (_, i) => ({ name: `hidden_states.${i}`, type, shape: ['batch_size', 77, width] })),
];

describe('tiny pack layout', () => {
  it('has the optimum SD3 folder layout and diffusers configs', () => {
    assert.deepEqual(listFiles(TINY), [
      'README.md',
      'latentwalk.json',
      'model_index.json',
      'scheduler/scheduler_config.json',
      'text_encoder/config.json',
      'text_encoder/model.onnx',
      'text_encoder_2/config.json',
      'text_encoder_2/model.onnx',
      'tokenizer/merges.txt',
      'tokenizer/special_tokens_map.json',
      'tokenizer/tokenizer_config.json',
      'tokenizer/vocab.json',
      'tokenizer_2/merges.txt',
      'tokenizer_2/special_tokens_map.json',
      'tokenizer_2/tokenizer.json',
      'tokenizer_2/tokenizer_config.json',
      'tokenizer_2/vocab.json',
      'transformer/config.json',
      'transformer/model.onnx',
      'transformer/model.onnx_data',
      'vae_decoder/config.json',
      'vae_decoder/model.onnx',
      'vae_encoder/config.json',
      'vae_encoder/model.onnx',
    ]);
    const index = readJson(join(TINY, 'model_index.json'));
    assert.equal(index._class_name, 'StableDiffusion3Pipeline');
    assert.deepEqual(index.text_encoder, ['transformers', 'CLIPTextModelWithProjection']);
    assert.deepEqual(index.transformer, ['diffusers', 'SD3Transformer2DModel']);
    assert.deepEqual(index.text_encoder_3, [null, null]);
    assert.deepEqual(readJson(join(TINY, 'scheduler/scheduler_config.json')), {
      _class_name: 'FlowMatchEulerDiscreteScheduler',
      num_train_timesteps: 1000,
      shift: 3,
    });
    const transformer = readJson(join(TINY, 'transformer/config.json'));
    assert.deepEqual(
      [transformer.in_channels, transformer.out_channels, transformer.patch_size, transformer.joint_attention_dim, transformer.pooled_projection_dim],
      [4, 4, 2, 128, 80],
    );
    const vae = readJson(join(TINY, 'vae_decoder/config.json'));
    assert.deepEqual([vae.latent_channels, vae.scaling_factor, vae.shift_factor, (vae.block_out_channels as unknown[]).length], [4, 1.5305, 0.0609, 4]);
    const clipL = readJson(join(TINY, 'text_encoder/config.json'));
    const clipG = readJson(join(TINY, 'text_encoder_2/config.json'));
    assert.equal((clipL.projection_dim as number) + (clipG.projection_dim as number), transformer.pooled_projection_dim);
    assert.ok((clipL.hidden_size as number) + (clipG.hidden_size as number) < (transformer.joint_attention_dim as number));
    const vocabSize = Object.keys(readJson(join(TINY, 'tokenizer/vocab.json'))).length;
    assert.deepEqual([clipL.vocab_size, clipL.bos_token_id, clipL.eos_token_id, clipL.pad_token_id], [vocabSize, vocabSize - 2, vocabSize - 1, vocabSize - 1]);
    assert.deepEqual([clipG.eos_token_id, clipG.pad_token_id], [vocabSize - 1, 0]);
    assert.deepEqual(readJson(join(TINY, 'latentwalk.json')), {
      defaults: { width: 64, height: 64, steps: 4, guidance: 7, fps: 10, frames: 8, batchSize: 4 },
    });
    assert.equal(readFileSync(join(TINY, 'tokenizer/merges.txt'), 'utf8').split('\n')[0], '#version: 0.2');
  });

  it('keeps every transformer initializer in model.onnx_data', () => {
    const model = onnx.ModelProto.decode(readFileSync(join(TINY, 'transformer/model.onnx')));
    const dataSize = statSync(join(TINY, 'transformer/model.onnx_data')).size;
    const inits = model.graph?.initializer ?? [];
    assert.ok(inits.length > 10);
    let end = 0;
    for (const t of inits) {
      const name = t.name ?? '?';
      assert.equal(t.dataLocation, onnx.TensorProto.DataLocation.EXTERNAL, name);
      assert.equal(t.rawData?.length ?? 0, 0, name);
      const entry = Object.fromEntries((t.externalData ?? []).map((e) => [e.key, e.value]));
      assert.equal(entry.location, 'model.onnx_data');
      const offset = Number(entry.offset);
      const length = Number(entry.length);
      assert.ok(offset >= end && length > 0, name);
      end = offset + length;
    }
    assert.equal(end, dataSize);
  });

  it('keeps both packs well under 2 MB', () => {
    const size = (dir: string): number => listFiles(dir).reduce((s, f) => s + statSync(join(dir, f)).size, 0);
    assert.ok(size(TINY) + size(TINY_FP16) < 1.5 * 1024 * 1024);
  });
});

describe('tiny pack in onnxruntime-node', () => {
  for (const [pack, type] of [
    [TINY, 'float32'],
    [TINY_FP16, 'float16'],
  ] as const) {
    it(`exposes the exporter's tensor names and types (${type})`, async () => {
      const te = await session(pack, 'text_encoder');
      assert.deepEqual(io(te.inputMetadata), [{ name: 'input_ids', type: 'int64', shape: ['batch_size', 77] }]);
      assert.deepEqual(io(te.outputMetadata), clipOutputs(32, 32, 2, type));
      const te2 = await session(pack, 'text_encoder_2');
      assert.deepEqual(io(te2.inputMetadata), [{ name: 'input_ids', type: 'int64', shape: ['batch_size', 77] }]);
      assert.deepEqual(io(te2.outputMetadata), clipOutputs(48, 48, 3, type));
      const tr = await session(pack, 'transformer');
      assert.deepEqual(io(tr.inputMetadata), [
        { name: 'hidden_states', type, shape: ['batch_size', 4, 'height', 'width'] },
        { name: 'encoder_hidden_states', type, shape: ['batch_size', 'sequence_length', 128] },
        { name: 'pooled_projections', type, shape: ['batch_size', 80] },
        { name: 'timestep', type, shape: ['step'] },
      ]);
      assert.deepEqual(io(tr.outputMetadata), [{ name: 'out_hidden_states', type, shape: ['batch_size', 4, 'height', 'width'] }]);
      const vae = await session(pack, 'vae_decoder');
      assert.deepEqual(io(vae.inputMetadata), [{ name: 'latent_sample', type, shape: ['batch_size', 4, 'latent_height', 'latent_width'] }]);
      assert.deepEqual(io(vae.outputMetadata), [{ name: 'sample', type, shape: ['batch_size', 3, 'height', 'width'] }]);
      const enc = await session(pack, 'vae_encoder');
      assert.deepEqual(io(enc.inputMetadata), [{ name: 'sample', type, shape: ['batch_size', 3, 'height', 'width'] }]);
      assert.deepEqual(io(enc.outputMetadata), [{ name: 'latent_parameters', type, shape: ['batch_size', 8, 'latent_height', 'latent_width'] }]);
      await enc.release();
      await Promise.all([te, te2, tr, vae].map((s) => s.release()));
    });
  }

  describe('numerics', () => {
    let encL: ort.InferenceSession;
    let encG: ort.InferenceSession;
    let transformer: ort.InferenceSession;
    let transformer16: ort.InferenceSession;
    let vae: ort.InferenceSession;
    let tokG: ClipTokenizer;
    before(async () => {
      [encL, encG, transformer, transformer16, vae] = await Promise.all([
        session(TINY, 'text_encoder'),
        session(TINY, 'text_encoder_2'),
        session(TINY, 'transformer'),
        session(TINY_FP16, 'transformer'),
        session(TINY, 'vae_decoder'),
      ]);
      tokG = await ClipTokenizer.load(join(TINY, 'tokenizer_2'));
    });
    after(async () => {
      await Promise.all([encL, encG, transformer, transformer16, vae].map((s) => s.release()));
    });

    const encode = (s: ort.InferenceSession, rows: BigInt64Array[]): Promise<ort.InferenceSession.ReturnType> => {
      const ids = new BigInt64Array(rows.length * 77);
      rows.forEach((r, i) => ids.set(r, i * 77));
      return s.run({ input_ids: new ort.Tensor('int64', ids, [rows.length, 77]) });
    };

    const D = 48;
    it('text encoder: per-sample, pooled from the EOS row, pad rows depend on the pad id', async () => {
      const prompts = ['a red circle', 'a green frog in a spacesuit', 'a cat', 'sunset over the mountains'];
      const rows = prompts.map((p) => tokG.encode(p).ids);
      const batch = await encode(encG, rows);
      const single = await encode(encG, [rows[2]!]);
      assert.ok(maxAbsDiff(floats(batch['text_embeds']).subarray(2 * D, 3 * D), floats(single['text_embeds'])) < 1e-5);
      assert.ok(maxAbsDiff(floats(batch['text_embeds']).subarray(0, D), floats(batch['text_embeds']).subarray(D, 2 * D)) > 0.1, 'pooled depends on the prompt');

      // Same prompt, EOS padding instead of "!" padding: rows up to EOS and the pooled vector stay, later rows change.
      const bang = tokG.encode('a cat').ids;
      const eosPadded = bang.map((v, i) => (i > 3 ? BigInt(tokG.eosId) : v));
      const [a, b] = [await encode(encG, [bang]), await encode(encG, [eosPadded])];
      const last = (r: ort.InferenceSession.ReturnType): Float32Array => floats(r['hidden_states.3']);
      assert.ok(maxAbsDiff(last(a).subarray(0, 4 * D), last(b).subarray(0, 4 * D)) < 1e-6);
      assert.ok(maxAbsDiff(last(a).subarray(4 * D), last(b).subarray(4 * D)) > 0.1);
      assert.ok(maxAbsDiff(floats(a['text_embeds']), floats(b['text_embeds'])) < 1e-6);

      // last_hidden_state is the layer-normed last hidden state: zero mean per row.
      const lhs = floats(a['last_hidden_state']);
      const rowMean = lhs.subarray(0, D).reduce((s, v) => s + v, 0) / D;
      assert.ok(Math.abs(rowMean) < 0.05);
      const l = await encode(encL, [tokG.encode('a cat').ids]);
      assert.deepEqual(l['text_embeds']!.dims, [1, 32]);
    });

    const B = 4;
    const H = 6;
    const W = 10;
    const S = 154;
    const inputs = {
      x: wave(B * 4 * H * W, 0.1),
      ctx: wave(B * S * 128, 0.2, 0.5),
      pooled: wave(B * 80, 0.3),
      t: Float32Array.from([1000, 750, 400, 50]),
    };
    const runTransformer = async (
      s: ort.InferenceSession,
      x: Float32Array,
      ctx: Float32Array,
      pooled: Float32Array,
      t: Float32Array,
      seq = S,
    ): Promise<Float32Array> => {
      const b = t.length;
      const half = s === transformer16;
      const tensor = (v: Float32Array, dims: number[]): ort.Tensor => (half ? new ort.Tensor('float16', toHalfArray(v), dims) : new ort.Tensor('float32', v, dims));
      const out = await s.run({
        hidden_states: tensor(x, [b, 4, H, W]),
        encoder_hidden_states: tensor(ctx, [b, seq, 128]),
        pooled_projections: tensor(pooled, [b, 80]),
        timestep: tensor(t, [b]),
      });
      assert.deepEqual(out['out_hidden_states']!.dims, [b, 4, H, W]);
      return floats(out['out_hidden_states']);
    };
    const n = 4 * H * W;
    const sample = (i: number) =>
      [inputs.x.slice(i * n, (i + 1) * n), inputs.ctx.slice(i * S * 128, (i + 1) * S * 128), inputs.pooled.slice(i * 80, (i + 1) * 80), inputs.t.slice(i, i + 1)] as const;

    it('transformer: batch 4 equals four batch-1 runs', async () => {
      const batched = await runTransformer(transformer, inputs.x, inputs.ctx, inputs.pooled, inputs.t);
      for (let i = 0; i < B; i++) {
        const one = await runTransformer(transformer, ...sample(i));
        assert.ok(maxAbsDiff(batched.subarray(i * n, (i + 1) * n), one) < 1e-5, `sample ${i}`);
      }
    });

    it('transformer: depends on timestep, context (and its zero padding), pooled projections and the latent', async () => {
      const [x, ctx, pooled, t] = sample(0);
      const base = await runTransformer(transformer, x, ctx, pooled, t);
      const [x1, , pooled1] = sample(1);
      // Another prompt's context: different CLIP rows (the sine test waves average out over the sequence).
      const ctx1 = ctx.map((v, i) => (i < 77 * 128 && i % 128 < 80 ? v + 0.5 * Math.sign(Math.sin(i * 0.37)) : v));
      const changed = {
        timestep: await runTransformer(transformer, x, ctx, pooled, Float32Array.from([500])),
        context: await runTransformer(transformer, x, ctx1, pooled, t),
        pooled: await runTransformer(transformer, x, ctx, pooled1, t),
        latent: await runTransformer(transformer, x1, ctx, pooled, t),
      };
      for (const [what, out] of Object.entries(changed)) assert.ok(maxAbsDiff(base, out) > 0.05, `output depends on ${what}`);
      // 77 CLIP rows + 77 zero rows (no T5) differs from the 77 CLIP rows alone: the padding length matters.
      const clipRows = ctx.slice(0, 77 * 128);
      const zeroPadded = new Float32Array(S * 128);
      zeroPadded.set(clipRows);
      const short = await runTransformer(transformer, x, clipRows, pooled, t, 77);
      assert.ok(maxAbsDiff(await runTransformer(transformer, x, zeroPadded, pooled, t), short) > 0.05, 'output depends on the zero padding');
    });

    it('fp16 pack: same weights, float16 I/O', async () => {
      const full = await runTransformer(transformer, inputs.x, inputs.ctx, inputs.pooled, inputs.t);
      const half = await runTransformer(transformer16, inputs.x, inputs.ctx, inputs.pooled, inputs.t);
      assert.ok(maxAbsDiff(full, half) < 0.02);
    });

    it('vae decoder: x8 upsampling into [-1, 1]', async () => {
      const z = wave(2 * 4 * 3 * 5, 0.4, 1.2);
      const out = await vae.run({ latent_sample: new ort.Tensor('float32', z, [2, 4, 3, 5]) });
      assert.deepEqual(out['sample']!.dims, [2, 3, 24, 40]);
      const rgb = floats(out['sample']);
      assert.ok(rgb.every((v) => v >= -1 && v <= 1));
      assert.ok(Math.max(...rgb) - Math.min(...rgb) > 0.5, 'not flat');
    });
  });
});

describe('make-tiny-pack', () => {
  it('regenerates models/tiny byte for byte (CLI, into a temp dir) and models/tiny-fp16 (in memory)', async () => {
    const out = tempDir();
    await promisify(execFile)(process.execPath, ['--import', 'tsx', join(ROOT, 'tools/make-tiny-pack.ts'), '--out', out], { cwd: ROOT });
    assert.deepEqual(listFiles(out), listFiles(TINY));
    for (const f of listFiles(TINY)) assert.ok(readFileSync(join(out, f)).equals(readFileSync(join(TINY, f))), `${f} is identical`);

    const fp16 = buildTinyPack({ ...DEFAULT_OPTIONS, fp16: true });
    assert.deepEqual([...fp16.keys()].sort(), listFiles(TINY_FP16));
    for (const [f, content] of fp16) assert.ok(Buffer.from(content).equals(readFileSync(join(TINY_FP16, f))), `fp16 ${f} is identical`);
  });

  it('writes a T5 encoder and a renamed transformer output on request', async () => {
    const dir = tempDir();
    await writePack(dir, buildTinyPack({ ...DEFAULT_OPTIONS, t5: true, transformerOutput: 'out_sample' }));
    assert.deepEqual(readJson(join(dir, 'latentwalk.json')).transformer, { output: 'out_sample' });
    assert.deepEqual(readJson(join(dir, 'model_index.json')).text_encoder_3, ['transformers', 'T5EncoderModel']);
    assert.ok(existsSync(join(dir, 'text_encoder_3/model.onnx_data')));

    const tr = await session(dir, 'transformer');
    assert.deepEqual(tr.outputNames, ['out_sample']);
    const t5 = await session(dir, 'text_encoder_3');
    assert.deepEqual(io(t5.inputMetadata), [{ name: 'input_ids', type: 'int64', shape: ['batch_size', 'sequence_length'] }]);
    assert.deepEqual(io(t5.outputMetadata), [{ name: 'last_hidden_state', type: 'float32', shape: ['batch_size', 'sequence_length', 128] }]);

    const tokenizer = new Tokenizer(readJson(join(dir, 'tokenizer_3/tokenizer.json')), readJson(join(dir, 'tokenizer_3/tokenizer_config.json')));
    const ids = (tokenizer.encode('a red circle') as { ids: number[] }).ids;
    assert.equal(ids.at(-1), 1, 'ends with </s>');
    const out = await t5.run({ input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]) });
    assert.deepEqual(out['last_hidden_state']!.dims, [1, ids.length, 128]);
    await Promise.all([tr.release(), t5.release()]);
    assert.equal(relative(dir, join(dir, 'tokenizer_3')), 'tokenizer_3');
  });
});
