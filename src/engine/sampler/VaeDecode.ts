/** Latents to RGB frames: SD3's un-scaling (z / scale + shift), the VAE decoder, then [-1, 1] to uint8. */
import type { RgbFrame } from '../frames.ts';
import type { ModelPack } from '../pack/ModelPack.ts';
import type { LatentShape } from './Denoiser.ts';

export async function decodeLatents(pack: ModelPack, latents: Float32Array, count: number, latent: LatentShape): Promise<RgbFrame[]> {
  const { vae } = pack;
  const z = new Float32Array(latents.length);
  for (let i = 0; i < z.length; i++) z[i] = latents[i]! / vae.scalingFactor + vae.shiftFactor;
  const out = await vae.session.run({ [vae.input]: { type: 'float32', data: z, dims: [count, latent.channels, latent.height, latent.width] } }, [vae.output]);
  const image = out[vae.output]!;
  const [n, c, h, w] = image.dims as [number, number, number, number];
  if (n !== count || c !== 3) throw new Error(`vae_decoder/model.onnx output '${vae.output}' has shape [${image.dims.join(', ')}]; expected [${count}, 3, H, W]`);
  return Array.from({ length: n }, (_, k) => toRgb(image.data.subarray(k * 3 * h * w, (k + 1) * 3 * h * w), w, h));
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
