/**
 * The device path (engine graphs, tensors kept where the provider keeps them) against the host path (the
 * reference), on the CPU provider so the GPU code cannot rot, and on webgpu where it starts (a GPU, or a
 * software Vulkan driver Dawn accepts; see bench/gpu/README.md).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { loadModel, render, type LoadedModel, type RgbFrame, type WalkSpec } from '../src/engine/index.ts';
import { prepareGraph, rgbGraph, stepGraph, unscaleGraph } from '../src/engine/gpu/graphs.ts';
import { encodeModel } from '../src/engine/gpu/onnxWriter.ts';
import { float16ToFloat32, float32ToFloat16 } from '../src/engine/onnx/float16.ts';
import { probeProvider } from '../src/engine/onnx/providers.ts';
import { toRgb } from '../src/engine/sampler/VaeDecode.ts';
import { TINY_FP16_PACK, TINY_PACK } from './harness/packs.ts';

function maxDiff(a: readonly RgbFrame[], b: readonly RgbFrame[]): number {
  assert.equal(a.length, b.length);
  let m = 0;
  a.forEach((f, i) => f.data.forEach((v, j) => (m = Math.max(m, Math.abs(v - b[i]!.data[j]!)))));
  return m;
}

/** Deterministic pseudo-random floats in [-r, r]. */
function values(n: number, seed: number, r = 1): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 * r - r;
  });
}

const run = async (bytes: Uint8Array, feeds: Record<string, ort.Tensor>) => (await ort.InferenceSession.create(bytes)).run(feeds);
const f32 = (data: Float32Array, dims: number[]) => new ort.Tensor('float32', data, dims);
const scalar = (v: number) => new ort.Tensor('float32', Float32Array.of(v), []);

describe('engine graphs (written by the engine, run by onnxruntime)', () => {
  it('guidance + Euler step equals the host formula in float32, and returns [x_next; x_next] in the I/O dtype', async () => {
    const b = 2;
    const n = b * 4 * 3 * 3;
    const x = values(n, 1);
    const v = values(2 * n, 2, 3);
    const g = 7;
    const dt = Math.fround(-0.0732);
    for (const io of ['float32', 'float16'] as const) {
      const vIn = io === 'float16' ? new ort.Tensor('float16', float32ToFloat16(v), [2 * b, 4, 3, 3]) : f32(v, [2 * b, 4, 3, 3]);
      const vHost = io === 'float16' ? float16ToFloat32(float32ToFloat16(v)) : v;
      const out = await run(stepGraph(io, true), { v: vIn, x: f32(x, [b, 4, 3, 3]), guidance: scalar(g), dt: scalar(dt) });
      const next = out['x_next']!.data as Float32Array;
      let err = 0;
      for (let i = 0; i < n; i++) {
        const vu = vHost[i]!;
        const expected = Math.fround(x[i]! + dt * (vu + g * (vHost[n + i]! - vu)));
        err = Math.max(err, Math.abs(next[i]! - expected) / Math.max(1, Math.abs(expected)));
      }
      assert.ok(err < 1e-6, `${io}: relative error ${err}`);
      const sample = out['sample']!;
      assert.equal(sample.type, io);
      assert.deepEqual(sample.dims, [2 * b, 4, 3, 3]);
      const rows = io === 'float16' ? float16ToFloat32(sample.data as Uint16Array) : (sample.data as Float32Array);
      const expectRows = io === 'float16' ? float16ToFloat32(float32ToFloat16(next)) : next;
      for (let i = 0; i < n; i++) {
        assert.equal(rows[i], expectRows[i]);
        assert.equal(rows[n + i], expectRows[i]);
      }
    }
  });

  it('without guidance the step is x + dt * v over the batch', async () => {
    const x = values(8, 3);
    const v = values(8, 4);
    const out = await run(stepGraph('float32', false), { v: f32(v, [2, 4, 1, 1]), x: f32(x, [2, 4, 1, 1]), guidance: scalar(1), dt: scalar(0.5) });
    const next = out['x_next']!.data as Float32Array;
    next.forEach((got, i) => assert.ok(Math.abs(got - (x[i]! + 0.5 * v[i]!)) < 1e-6));
    assert.deepEqual(out['sample']!.dims, [2, 4, 1, 1]);
  });

  it('prepare casts the conditioning and doubles the noise rows with guidance', async () => {
    const x = values(2 * 4, 5);
    const ctx = values(4 * 3 * 2, 6);
    const out = await run(prepareGraph('float16', true), { x_in: f32(x, [2, 4, 1, 1]), context_in: f32(ctx, [4, 3, 2]), pooled_in: f32(values(4 * 5, 7), [4, 5]) });
    assert.deepEqual(out['sample']!.dims, [4, 4, 1, 1]);
    assert.equal(out['context']!.type, 'float16');
    assert.deepEqual([...(out['context']!.data as Uint16Array)], [...float32ToFloat16(ctx)]);
    assert.deepEqual([...(out['x']!.data as Float32Array)], [...x]);
  });

  it('unscale and RGB packing match the host loops (RGB within 1: Round is half-to-even)', async () => {
    const x = values(2 * 4 * 2 * 2, 8, 2);
    const z = (await run(unscaleGraph('float32'), { x: f32(x, [2, 4, 2, 2]), scaling: scalar(1.5305), shift: scalar(0.0609) }))['z']!.data as Float32Array;
    z.forEach((got, i) => assert.ok(Math.abs(got - (x[i]! / 1.5305 + 0.0609)) < 1e-6));

    const [w, h] = [5, 3];
    const image = values(2 * 3 * w * h, 9, 1.3);
    const rgb = (await run(rgbGraph('float32'), { image: f32(image, [2, 3, h, w]) }))['rgb']!;
    assert.equal(rgb.type, 'uint8');
    assert.deepEqual(rgb.dims, [2, h, w, 3]);
    const bytes = rgb.data as Uint8Array;
    for (let k = 0; k < 2; k++) {
      const ref = toRgb(image.subarray(k * 3 * w * h, (k + 1) * 3 * w * h), w, h).data;
      ref.forEach((v, i) => assert.ok(Math.abs(v - bytes[k * w * h * 3 + i]!) <= 1));
    }
  });

  it('the protobuf writer encodes negative integers and int lists onnxruntime reads back', async () => {
    const bytes = encodeModel({
      name: 't',
      inputs: [{ name: 'a', type: 'float32', dims: [2, 3] }],
      outputs: [{ name: 'y', type: 'float32', dims: [3, 4] }],
      nodes: [
        { op: 'Concat', inputs: ['a', 'a'], outputs: ['c'], attrs: { axis: { i: -1 } } },
        { op: 'Reshape', inputs: ['c', 'shape'], outputs: ['r'] },
        { op: 'Transpose', inputs: ['r'], outputs: ['y'], attrs: { perm: { ints: [1, 0] } } },
      ],
      initializers: [{ name: 'shape', type: 'int64', dims: [2], raw: new Uint8Array(new BigInt64Array([4n, -1n]).buffer) }],
    });
    const a = Float32Array.from({ length: 6 }, (_, i) => i);
    const y = (await run(bytes, { a: f32(a, [2, 3]) }))['y']!;
    assert.deepEqual(y.dims, [3, 4]);
    // concat on the last axis: [[0,1,2,0,1,2],[3,4,5,3,4,5]] -> reshape [4,3] -> transpose
    assert.deepEqual([...(y.data as Float32Array)], [0, 0, 3, 3, 1, 1, 4, 4, 2, 2, 5, 5]);
  });
});

const specs: { name: string; spec: WalkSpec; settings: { seed: number; batchSize: number; guidance?: number; smooth?: 'off' | 'blend' } }[] = [
  { name: 'morph with guidance, batch 4', spec: { kind: 'morph', prompts: ['a dog', 'a cat'], frames: 6 }, settings: { seed: 3, batchSize: 4, smooth: 'off' } },
  { name: 'loop without guidance, batch 3', spec: { kind: 'loop', prompts: ['a red circle'], frames: 4 }, settings: { seed: 5, batchSize: 3, guidance: 1, smooth: 'off' } },
  // blend keeps latents for later branches: on the device path they come back through the engine's copy graph
  { name: 'blended morph, batch 2', spec: { kind: 'morph', prompts: ['a dog', 'a cat'], frames: 7 }, settings: { seed: 3, batchSize: 2, smooth: 'blend' } },
];

for (const [label, dir] of [['tiny (fp32)', TINY_PACK], ['tiny-fp16 (fp16 I/O)', TINY_FP16_PACK]] as const) {
  describe(`device path vs host path on ${label}, cpu`, () => {
    let host: LoadedModel;
    let device: LoadedModel;
    before(async () => {
      [host, device] = await Promise.all([loadModel(dir, { sampler: 'host' }), loadModel(dir, { sampler: 'device' })]);
    });
    after(async () => Promise.all([host.dispose(), device.dispose()]));

    for (const { name, spec, settings } of specs) {
      it(`${name}: frames equal within 1/255`, async () => {
        const [a, b] = [await render(host, spec, settings), await render(device, spec, settings)];
        const d = maxDiff(a.frames, b.frames);
        assert.ok(d <= 1, `max difference ${d}`);
      });
    }

    it('is the default, and cancels between steps', async () => {
      assert.equal(device.pack.sampler, 'device');
      const controller = new AbortController();
      let steps = 0;
      await assert.rejects(
        render(device, specs[0]!.spec, specs[0]!.settings, {
          signal: controller.signal,
          onProgress: (p) => {
            if (p.stage === 'denoise' && ++steps === 2) controller.abort();
          },
        }),
        /cancel|abort/i,
      );
      // the pack still renders after a cancelled batch (its device tensors were released, not left bound)
      const again = await render(device, specs[0]!.spec, specs[0]!.settings);
      assert.equal(again.frames.length, 6);
    });
  });
}

describe('device path on webgpu', async () => {
  const reason = await probeProvider('webgpu');
  it('renders the tiny packs within 1/255 of the cpu host path', { skip: reason ? `webgpu does not start here: ${reason}` : false }, async () => {
    for (const dir of [TINY_PACK, TINY_FP16_PACK]) {
      const [ref, gpu] = await Promise.all([loadModel(dir, { sampler: 'host' }), loadModel(dir, { provider: 'webgpu' })]);
      try {
        assert.equal(gpu.provider, 'webgpu');
        // the guide's morph, and a blended one (its kept latents come back from GPU buffers through the copy graph)
        for (const spec of [specs[0]!, specs[2]!]) {
          const d = maxDiff((await render(ref, spec.spec, spec.settings)).frames, (await render(gpu, spec.spec, spec.settings)).frames);
          assert.ok(d <= 1, `${dir}, ${spec.name}: max difference ${d}`);
        }
      } finally {
        await Promise.all([ref.dispose(), gpu.dispose()]);
      }
    }
  });
});
