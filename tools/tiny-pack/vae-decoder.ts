/**
 * VAE-decoder-like: `latent_sample` [B,C,h,w] -> `sample` [B,3,8h,8w] in [-1,1]:
 * 1x1 conv(tanh(1x1 conv z)) + 1x1 conv z, bilinear x8 upsample, tanh.
 * Gains are set so different latents give clearly different colours without saturating.
 */
import { GraphBuilder, type EncodedModel } from './onnx-graph.ts';
import { Prng, initScale } from './prng.ts';

export const VAE_SCALE_FACTOR = 8;

export interface VaeSpec {
  latentChannels: number;
  width: number;
  scalingFactor: number;
  shiftFactor: number;
  sampleSize: number;
}

/** The decoder's weights, drawn in a fixed order from its own stream (the encoder is fitted to them). */
export interface VaeDecoderWeights {
  w1: Float32Array;
  b1: Float32Array;
  w2: Float32Array;
  b2: Float32Array;
  skip: Float32Array;
}

export function vaeDecoderWeights(spec: VaeSpec, seed: number): VaeDecoderWeights {
  const rng = new Prng(seed, 'vae_decoder');
  const { latentChannels: c, width: f } = spec;
  const w1 = rng.fill(f * c, initScale(c, 1.5));
  const b1 = rng.fill(f, 0.2);
  const w2 = rng.fill(3 * f, initScale(f, 1.5));
  const b2 = rng.fill(3, 0.1);
  const skip = rng.fill(3 * c, initScale(c, 1.5));
  return { w1, b1, w2, b2, skip };
}

/** The decoder's colour before its final tanh, for one unscaled latent pixel `z` (length C). */
export function decoderPreTanh(spec: VaeSpec, w: VaeDecoderWeights, z: ArrayLike<number>): [number, number, number] {
  const { latentChannels: c, width: f } = spec;
  const out = [w.b2[0]!, w.b2[1]!, w.b2[2]!];
  for (let k = 0; k < f; k++) {
    let a = w.b1[k]!;
    for (let j = 0; j < c; j++) a += w.w1[k * c + j]! * z[j]!;
    const h = Math.tanh(a);
    for (let o = 0; o < 3; o++) out[o] = out[o]! + w.w2[o * f + k]! * h;
  }
  for (let o = 0; o < 3; o++) for (let j = 0; j < c; j++) out[o] = out[o]! + w.skip[o * c + j]! * z[j]!;
  return [out[0]!, out[1]!, out[2]!];
}

export function buildVaeDecoder(spec: VaeSpec, seed: number, fp16Io: boolean): EncodedModel {
  const weights = vaeDecoderWeights(spec, seed);
  const g = new GraphBuilder('vae_decoder_tiny', fp16Io);
  const { latentChannels: c, width: f } = spec;
  const z = g.floatInput('latent_sample', ['batch_size', c, 'latent_height', 'latent_width']);

  const w1 = g.weight('decoder.conv_in.weight', [f, c, 1, 1], weights.w1);
  const b1 = g.weight('decoder.conv_in.bias', [f], weights.b1);
  const h = g.tanh(g.op('Conv', [z, w1, b1], { kernel_shape: { ints: [1, 1] } }));
  const w2 = g.weight('decoder.conv_out.weight', [3, f, 1, 1], weights.w2);
  const b2 = g.weight('decoder.conv_out.bias', [3], weights.b2);
  // Plus a linear path from the latent itself, so the latent's channels map to distinct hues.
  const skip = g.weight('decoder.conv_skip.weight', [3, c, 1, 1], weights.skip);
  const colour = g.add(
    g.op('Conv', [h, w2, b2], { kernel_shape: { ints: [1, 1] } }),
    g.op('Conv', [z, skip], { kernel_shape: { ints: [1, 1] } }),
  );
  // Upsampling last is cheap and, with 1x1 convs only, leaves no zero-padding frame at the image border.
  const up = g.op('Resize', [colour, '', g.floatConst([1, 1, VAE_SCALE_FACTOR, VAE_SCALE_FACTOR])], {
    mode: { s: 'linear' },
    coordinate_transformation_mode: { s: 'half_pixel' },
  });
  const rgb = g.tanh(up);
  g.floatOutput(rgb, 'sample', ['batch_size', 3, 'height', 'width']);
  return g.encode({ docString: 'tiny random-weight VAE decoder for latentwalk tests' });
}

/** diffusers AutoencoderKL config.json; 4 block_out_channels -> scale factor 2^(4-1) = 8. */
export function vaeConfig(spec: VaeSpec): unknown {
  return {
    _class_name: 'AutoencoderKL',
    _diffusers_version: '0.29.0',
    act_fn: 'silu',
    block_out_channels: [8, 16, 16, 16],
    down_block_types: ['DownEncoderBlock2D', 'DownEncoderBlock2D', 'DownEncoderBlock2D', 'DownEncoderBlock2D'],
    force_upcast: true,
    in_channels: 3,
    latent_channels: spec.latentChannels,
    latents_mean: null,
    latents_std: null,
    layers_per_block: 1,
    norm_num_groups: 4,
    out_channels: 3,
    sample_size: spec.sampleSize,
    scaling_factor: spec.scalingFactor,
    shift_factor: spec.shiftFactor,
    up_block_types: ['UpDecoderBlock2D', 'UpDecoderBlock2D', 'UpDecoderBlock2D', 'UpDecoderBlock2D'],
    use_post_quant_conv: false,
    use_quant_conv: false,
  };
}
