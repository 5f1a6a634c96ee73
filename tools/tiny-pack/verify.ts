/**
 * Loads every ONNX component of a pack in onnxruntime-node (from the file path, so `model.onnx_data`
 * resolves), prints its I/O metadata and runs one forward pass with plausible inputs.
 *
 *   node --import tsx tools/tiny-pack/verify.ts [PACK_DIR ...]     (default: models/tiny models/tiny-fp16)
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { ClipTokenizer } from '../../src/engine/text/ClipTokenizer.ts';
import { float32ToFloat16 as toHalfArray } from '../../src/engine/onnx/float16.ts';

type Meta = ort.InferenceSession.ValueMetadata;

function describe(meta: readonly Meta[]): string {
  return meta.map((m) => (m.isTensor ? `${m.name}: ${m.type}[${m.shape.join(', ')}]` : `${m.name}: (non-tensor)`)).join('; ');
}

/** A float tensor of the session input's dtype (float32 or float16) with the given values. */
function floatTensor(meta: Meta | undefined, values: Float32Array, dims: number[]): ort.Tensor {
  if (meta?.isTensor && meta.type === 'float16') return new ort.Tensor('float16', toHalfArray(values), dims);
  return new ort.Tensor('float32', values, dims);
}

function ramp(count: number, scale: number): Float32Array {
  return Float32Array.from({ length: count }, (_, i) => Math.sin(i * 0.37) * scale);
}

export async function verifyPack(pack: string): Promise<void> {
  console.log(`\n== ${pack}`);
  const batch = 2;
  const prompts = ['a red circle', 'a green frog in a spacesuit'];
  for (const component of ['text_encoder', 'text_encoder_2', 'text_encoder_3', 'transformer', 'vae_decoder']) {
    const file = path.join(pack, component, 'model.onnx');
    if (!existsSync(file)) continue;
    const session = await ort.InferenceSession.create(file);
    console.log(`${component}\n  inputs:  ${describe(session.inputMetadata)}\n  outputs: ${describe(session.outputMetadata)}`);
    const meta = (name: string): Meta | undefined => session.inputMetadata.find((m) => m.name === name);
    let feeds: Record<string, ort.Tensor>;
    if (component.startsWith('text_encoder') && component !== 'text_encoder_3') {
      const tok = await ClipTokenizer.load(path.join(pack, component.replace('text_encoder', 'tokenizer')));
      const ids = new BigInt64Array(batch * tok.maxLength);
      prompts.forEach((p, i) => ids.set(tok.encode(p).ids, i * tok.maxLength));
      feeds = { input_ids: new ort.Tensor('int64', ids, [batch, tok.maxLength]) };
    } else if (component === 'text_encoder_3') {
      feeds = { input_ids: new ort.Tensor('int64', BigInt64Array.from([5n, 6n, 7n, 1n, 0n, 0n]), [1, 6]) };
    } else if (component === 'transformer') {
      feeds = {
        hidden_states: floatTensor(meta('hidden_states'), ramp(batch * 4 * 8 * 8, 1), [batch, 4, 8, 8]),
        encoder_hidden_states: floatTensor(meta('encoder_hidden_states'), ramp(batch * 154 * 128, 0.5), [batch, 154, 128]),
        pooled_projections: floatTensor(meta('pooled_projections'), ramp(batch * 80, 1), [batch, 80]),
        timestep: floatTensor(meta('timestep'), Float32Array.from([1000, 750]), [batch]),
      };
    } else {
      feeds = { latent_sample: floatTensor(meta('latent_sample'), ramp(batch * 4 * 8 * 8, 1), [batch, 4, 8, 8]) };
    }
    const started = performance.now();
    const out = await session.run(feeds);
    const ms = (performance.now() - started).toFixed(1);
    const shapes = Object.entries(out).map(([k, v]) => `${k} ${v.type}[${v.dims.join(',')}]`);
    console.log(`  run (${ms} ms): ${shapes.join('; ')}`);
    await session.release();
  }
}

const packs = process.argv.slice(2);
for (const pack of packs.length ? packs : ['models/tiny', 'models/tiny-fp16']) await verifyPack(path.resolve(pack));
