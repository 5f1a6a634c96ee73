/**
 * Latents to RGB frames: SD3's un-scaling (z / scale + shift), the VAE decoder, then [-1, 1] to uint8.
 * Host latents take the reference path (JavaScript loops around the decoder); device latents stay on the
 * provider through the engine's un-scaling graph, the decoder and the RGB graph, and only the packed bytes
 * come back.
 */
import type { RgbFrame } from '../frames.ts';
import { EngineError } from '../errors.ts';
import { scalar } from '../gpu/EngineGraphs.ts';
import type { FloatIo } from '../gpu/graphs.ts';
import { hostBytes, type DeviceTensor } from '../onnx/OnnxSession.ts';
import type { ModelPack } from '../pack/ModelPack.ts';
import type { BatchLatents, LatentShape } from './Denoiser.ts';

export async function decodeLatents(pack: ModelPack, latents: BatchLatents, count: number, latent: LatentShape): Promise<RgbFrame[]> {
  return latents.where === 'host' ? decodeOnHost(pack, latents.data, count, latent) : decodeOnDevice(pack, latents.x, count);
}

function checkImageDims(dims: readonly number[], count: number, output: string): [number, number] {
  const [n, c, h, w] = dims as [number, number, number, number];
  if (n !== count || c !== 3) throw new Error(`vae_decoder/model.onnx output '${output}' has shape [${dims.join(', ')}]; expected [${count}, 3, H, W]`);
  return [h, w];
}

async function decodeOnHost(pack: ModelPack, latents: Float32Array, count: number, latent: LatentShape): Promise<RgbFrame[]> {
  const { vae } = pack;
  const z = new Float32Array(latents.length);
  for (let i = 0; i < z.length; i++) z[i] = latents[i]! / vae.scalingFactor + vae.shiftFactor;
  const out = await vae.session.run({ [vae.input]: { type: 'float32', data: z, dims: [count, latent.channels, latent.height, latent.width] } }, [vae.output]);
  const image = out[vae.output]!;
  const [h, w] = checkImageDims(image.dims, count, vae.output);
  return Array.from({ length: count }, (_, k) => toRgb(image.data.subarray(k * 3 * h * w, (k + 1) * 3 * h * w), w, h));
}

/** Consumes (disposes) `x`. */
async function decodeOnDevice(pack: ModelPack, x: DeviceTensor, count: number): Promise<RgbFrame[]> {
  const { vae } = pack;
  const inType = vae.session.input(vae.input)!.type as FloatIo;
  const outType = vae.session.output(vae.output)!.type as FloatIo;
  const [unscale, rgb] = await Promise.all([pack.graphs.unscale(inType), pack.graphs.rgb(outType)]);
  let z;
  try {
    z = (await unscale.runDevice({ x, scaling: scalar(vae.scalingFactor), shift: scalar(vae.shiftFactor) }))['z']!;
  } finally {
    x.dispose();
  }
  let images;
  try {
    images = await vae.session.runDevice({ [vae.input]: z });
  } finally {
    z.dispose();
  }
  const image = images[vae.output]!;
  let packed;
  try {
    for (const [name, tensor] of Object.entries(images)) if (name !== vae.output) tensor.dispose();
    const [h, w] = checkImageDims(image.dims, count, vae.output);
    packed = (await rgb.runDevice({ image }))['rgb']!;
    const bytes = hostBytes(packed, 'rgb graph');
    const frame = h * w * 3;
    if (bytes.length !== count * frame) throw new EngineError('TENSOR_MISMATCH', `rgb graph returned ${bytes.length} bytes for ${count} frames of ${w}x${h}`);
    return Array.from({ length: count }, (_, k) => ({ width: w, height: h, data: bytes.slice(k * frame, (k + 1) * frame) }));
  } finally {
    image.dispose();
    packed?.dispose();
  }
}

/** NCHW floats in [-1, 1] to packed RGB bytes: round(clip((x + 1) / 2, 0, 1) * 255). */
export function toRgb(planes: Float32Array, width: number, height: number): RgbFrame {
  const plane = width * height;
  const data = new Uint8Array(plane * 3);
  for (let p = 0; p < plane; p++) {
    for (let ch = 0; ch < 3; ch++) {
      const v = (planes[ch * plane + p]! + 1) / 2;
      data[p * 3 + ch] = Math.round((v < 0 ? 0 : v > 1 ? 1 : v) * 255);
    }
  }
  return { width, height, data };
}
