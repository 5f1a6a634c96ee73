/**
 * An RGB frame to the sampler's latent: [-1, 1] NCHW into the VAE encoder, the mean half of its
 * `latent_parameters` (mean || logvar; the mean, not a sample, so the same image always gives the same
 * latent), then SD3's scaling: (mean - shift) * scale, as diffusers' StableDiffusion3Img2ImgPipeline does.
 */
import { EngineError } from '../errors.ts';
import type { RgbFrame } from '../frames.ts';
import type { ModelPack } from '../pack/ModelPack.ts';
import type { LatentShape } from './Denoiser.ts';

export async function encodeImageLatent(pack: ModelPack, frame: RgbFrame, latent: LatentShape): Promise<Float32Array> {
  const encoder = pack.vaeEncoder;
  if (!encoder) throw noEncoder(pack);
  const { width, height } = frame;
  const plane = width * height;
  const x = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) x[c * plane + p] = (frame.data[p * 3 + c]! / 255) * 2 - 1;
  const out = await encoder.session.run({ [encoder.input]: { type: 'float32', data: x, dims: [1, 3, height, width] } }, [encoder.output]);
  const params = out[encoder.output]!;
  const [n, channels, h, w] = params.dims as [number, number, number, number];
  if (n !== 1 || channels !== 2 * latent.channels || h !== latent.height || w !== latent.width) {
    throw new EngineError(
      'TENSOR_MISMATCH',
      `vae_encoder/model.onnx output '${encoder.output}' has shape [${params.dims.join(', ')}]; expected [1, ${2 * latent.channels}, ${latent.height}, ${latent.width}]`,
    );
  }
  const size = latent.channels * h * w;
  const z = new Float32Array(size);
  const { scalingFactor, shiftFactor } = pack.vae;
  for (let i = 0; i < size; i++) z[i] = (params.data[i]! - shiftFactor) * scalingFactor;
  return z;
}

export function noEncoder(pack: ModelPack): EngineError {
  return new EngineError(
    'NO_VAE_ENCODER',
    `this model (${pack.name}) has no vae_encoder; image input needs a pack exported with its VAE encoder (optimum-cli export onnx writes vae_encoder/)`,
  );
}
