/**
 * VAE-encoder-like, fitted to the tiny decoder so that decode(encode(image)) comes back near the image:
 * `sample` [B,3,H,W] in [-1,1] -> `latent_parameters` [B,2C,H/8,W/8] = mean || logvar, the layout optimum
 * exports (diffusers' AutoencoderKL encoder output before DiagonalGaussianDistribution).
 *
 * The decoder is tanh(up8(y(z))) with y(z) = S z + W2 tanh(W1 z + b1) + b2 per latent pixel. The encoder
 * averages 8x8 blocks, undoes the tanh (atanh, clipped), and maps the colour back with the pseudo-inverse of
 * y's least-squares linearisation around the latents the sampler produces (z = N(0,1) / scaling + shift):
 * z = z_mean + J+ (y - y_mean), the smallest latent step that gives the colour. logvar is a constant -6.
 * The fit draws its samples from the pack's seeded PRNG (Irwin-Hall normals, no transcendental functions) and
 * rounds the weights to 1e-4, so the bytes do not depend on the last bit of Math.tanh.
 */
import { GraphBuilder, type EncodedModel } from './onnx-graph.ts';
import { Prng } from './prng.ts';
import { VAE_SCALE_FACTOR, decoderPreTanh, vaeDecoderWeights, type VaeSpec } from './vae-decoder.ts';

const SAMPLES = 4096;
const LOGVAR = -6;
const CLIP = 0.995;

export interface VaeEncoderFit {
  /** [C, 3] row-major. */
  a: Float32Array;
  /** [C]. */
  bias: Float32Array;
}

/** Solves the small square system m x = v (Gaussian elimination with partial pivoting). */
function solve(m: number[][], v: number[]): number[] {
  const n = v.length;
  const a = m.map((row, i) => [...row, v[i]!]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(a[r]![col]!) > Math.abs(a[pivot]![col]!)) pivot = r;
    [a[col], a[pivot]] = [a[pivot]!, a[col]!];
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = a[r]![col]! / a[col]![col]!;
      for (let k = col; k <= n; k++) a[r]![k]! -= f * a[col]![k]!;
    }
  }
  return a.map((row, i) => row[n]! / row[i]!);
}

export function fitVaeEncoder(spec: VaeSpec, seed: number): VaeEncoderFit {
  const w = vaeDecoderWeights(spec, seed);
  const c = spec.latentChannels;
  const rng = new Prng(seed, 'vae_encoder');
  const normal = (): number => {
    let s = 0;
    for (let i = 0; i < 12; i++) s += rng.next();
    return s - 6;
  };
  const zs: number[][] = [];
  const ys: number[][] = [];
  for (let n = 0; n < SAMPLES; n++) {
    const z = Array.from({ length: c }, () => normal() / spec.scalingFactor + spec.shiftFactor);
    zs.push(z);
    ys.push(decoderPreTanh(spec, w, z));
  }
  const mean = (rows: number[][], j: number) => rows.reduce((s, r) => s + r[j]!, 0) / rows.length;
  const zMean = Array.from({ length: c }, (_, j) => mean(zs, j));
  const yMean = [0, 1, 2].map((o) => mean(ys, o));
  // Least squares y - yMean = J (z - zMean): J^T = (Z^T Z)^-1 Z^T Y, one column of J^T per colour.
  const ztz = Array.from({ length: c }, (_, i) => Array.from({ length: c }, (_, j) => zs.reduce((s, z) => s + (z[i]! - zMean[i]!) * (z[j]! - zMean[j]!), 0)));
  const J = [0, 1, 2].map((o) => solve(ztz, Array.from({ length: c }, (_, i) => zs.reduce((s, z, n) => s + (z[i]! - zMean[i]!) * (ys[n]![o]! - yMean[o]!), 0))));
  // Pseudo-inverse J+ = J^T (J J^T)^-1, [C, 3].
  const jjt = [0, 1, 2].map((p) => [0, 1, 2].map((q) => J[p]!.reduce((s, v, k) => s + v * J[q]![k]!, 0)));
  const inv = [0, 1, 2].map((col) => solve(jjt, [0, 1, 2].map((r) => (r === col ? 1 : 0))));
  const round = (v: number) => Math.round(v * 1e4) / 1e4;
  const a = new Float32Array(c * 3);
  for (let i = 0; i < c; i++) for (let o = 0; o < 3; o++) a[i * 3 + o] = round([0, 1, 2].reduce((s, p) => s + J[p]![i]! * inv[o]![p]!, 0));
  const bias = new Float32Array(c);
  for (let i = 0; i < c; i++) bias[i] = round(zMean[i]! - [0, 1, 2].reduce((s, o) => s + a[i * 3 + o]! * yMean[o]!, 0));
  return { a, bias };
}

export function buildVaeEncoder(spec: VaeSpec, seed: number, fp16Io: boolean): EncodedModel {
  const fit = fitVaeEncoder(spec, seed);
  const c = spec.latentChannels;
  const g = new GraphBuilder('vae_encoder_tiny', fp16Io);
  const x = g.floatInput('sample', ['batch_size', 3, 'height', 'width']);
  const k = VAE_SCALE_FACTOR;
  const pooled = g.op('AveragePool', [x], { kernel_shape: { ints: [k, k] }, strides: { ints: [k, k] } });
  const y = g.op('Atanh', [g.op('Clip', [pooled, g.floatConst([-CLIP], []), g.floatConst([CLIP], [])])]);
  const meanW = g.weight('encoder.conv_mean.weight', [c, 3, 1, 1], fit.a);
  const meanB = g.weight('encoder.conv_mean.bias', [c], fit.bias);
  const mean = g.op('Conv', [y, meanW, meanB], { kernel_shape: { ints: [1, 1] } });
  const logvarW = g.weight('encoder.conv_logvar.weight', [c, 3, 1, 1], new Float32Array(c * 3));
  const logvarB = g.weight('encoder.conv_logvar.bias', [c], new Float32Array(c).fill(LOGVAR));
  const logvar = g.op('Conv', [y, logvarW, logvarB], { kernel_shape: { ints: [1, 1] } });
  const params = g.op('Concat', [mean, logvar], { axis: { i: 1 } });
  g.floatOutput(params, 'latent_parameters', ['batch_size', 2 * c, 'latent_height', 'latent_width']);
  return g.encode({ docString: 'tiny VAE encoder fitted to the tiny decoder, for latentwalk tests' });
}
