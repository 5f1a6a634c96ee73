/**
 * SD3Transformer2DModel-like denoiser with the I/O of optimum's `sd3-transformer-2d` export:
 * `hidden_states` [B,C,h,w], `encoder_hidden_states` [B,S,J], `pooled_projections` [B,P], `timestep` [B]
 * (sigma * 1000) -> `out_hidden_states` [B,C,h,w]. Weights go to `model.onnx_data`.
 *
 * Strictly per-sample: a conditioning vector from a sinusoidal timestep embedding, the pooled projection
 * and the sequence mean of tanh(context) scales/shifts the features of a 3x3 conv stack.
 */
import { GraphBuilder, type EncodedModel } from './onnx-graph.ts';
import { Prng, initScale } from './prng.ts';

export interface TransformerSpec {
  latentChannels: number;
  jointAttentionDim: number;
  pooledDim: number;
  /** Feature width of the conv stack and the conditioning vector. */
  width: number;
  /** Sinusoidal frequencies (the embedding has 2x this many features). */
  freqs: number;
  outputName: string;
  sampleSize: number;
}

export function buildTransformer(spec: TransformerSpec, seed: number, fp16Io: boolean): EncodedModel {
  const rng = new Prng(seed, 'transformer');
  const g = new GraphBuilder('transformer_tiny_sd3', fp16Io);
  const { latentChannels: c, jointAttentionDim: j, pooledDim: p, width: f, freqs: k } = spec;
  const w = (name: string, dims: number[], scale: number): string =>
    g.weight(name, dims, rng.fill(dims.reduce((a, b) => a * b, 1), scale));

  const latentDims = ['batch_size', c, 'height', 'width'];
  const x = g.floatInput('hidden_states', latentDims);
  const ctx = g.floatInput('encoder_hidden_states', ['batch_size', 'sequence_length', j]);
  const pooled = g.floatInput('pooled_projections', ['batch_size', p]);
  const t = g.floatInput('timestep', ['step']);

  // Timestep: [sin, cos](t * 10000^(-i/k)), as diffusers' get_timestep_embedding (t in 0..1000).
  const freqs = g.weight(
    'time_text_embed.timestep_embedder.freqs',
    [1, k],
    Float32Array.from({ length: k }, (_, i) => Math.exp((-Math.log(10000) * i) / k)),
  );
  const phase = g.mul(g.unsqueeze(t, [1]), freqs);
  const tSin = g.op('Concat', [g.op('Sin', [phase]), g.op('Cos', [phase])], { axis: { i: 1 } });
  const tEmb = g.silu(
    g.add(g.matmul(tSin, w('time_text_embed.timestep_embedder.linear_1.weight', [2 * k, f], initScale(2 * k))), w('time_text_embed.timestep_embedder.linear_1.bias', [f], 0.1)),
  );
  const pEmb = g.add(
    g.matmul(pooled, w('time_text_embed.text_embedder.linear_1.weight', [p, f], initScale(p, 1.5))),
    w('time_text_embed.text_embedder.linear_1.bias', [f], 0.1),
  );
  // Context: one attention-pooling head over the sequence (softmax over S of a per-token score) of a
  // per-token nonlinearity. Zero (padding) rows still take part, with score 0 and features tanh(bias).
  const tokenFeat = g.tanh(
    g.add(g.matmul(ctx, w('context_embedder.weight', [j, f], initScale(j, 2))), w('context_embedder.bias', [f], 0.2)),
  );
  const score = g.matmul(ctx, w('context_pool.query', [j, 1], initScale(j, 4)));
  const attn = g.op('Softmax', [score], { axis: { i: 1 } });
  const cEmb = g.matmul(
    // ReduceSum takes its axes as an input since opset 13 (ReduceMean only from opset 18).
    g.op('ReduceSum', [g.mul(attn, tokenFeat), g.int64Const([1])], { keepdims: { i: 0 } }),
    w('context_pool.weight', [f, f], initScale(f, 3)),
  );
  const cond = g.silu(g.add(g.add(tEmb, pEmb), cEmb));
  // adaLN-style modulation: split cond @ W into per-channel scale and shift, broadcast over h, w.
  const mod = g.matmul(cond, w('norm_out.linear.weight', [f, 2 * f], initScale(f)));
  const scale = g.unsqueeze(g.op('Slice', [mod, g.int64Const([0]), g.int64Const([f]), g.int64Const([1])]), [2, 3]);
  const shift = g.unsqueeze(g.op('Slice', [mod, g.int64Const([f]), g.int64Const([2 * f]), g.int64Const([1])]), [2, 3]);

  const conv = (input: string, name: string, cin: number, cout: number, kernel: number, gain: number): string => {
    const weight = w(`${name}.weight`, [cout, cin, kernel, kernel], initScale(cin * kernel * kernel, gain));
    const bias = w(`${name}.bias`, [cout], 0.05);
    const pad = (kernel - 1) / 2;
    return g.op('Conv', [input, weight, bias], { kernel_shape: { ints: [kernel, kernel] }, pads: { ints: [pad, pad, pad, pad] } });
  };
  const h1 = conv(x, 'pos_embed.proj', c, f, 3, 1.2);
  const modulated = g.tanh(g.add(g.mul(h1, g.add(scale, g.floatConst([1], [1]))), shift));
  const h2 = g.tanh(conv(modulated, 'transformer_blocks.0.conv', f, f, 3, 1.2));
  // A per-channel offset from the pooled prompt alone (no bias, odd nonlinearity: little common offset; the
  // same at every step, so it accumulates): prompts visibly shift the image's colours.
  const prompt = g.tanh(g.matmul(pooled, w('proj_out.pooled_in', [p, f], initScale(p, 1.5))));
  const offset = g.unsqueeze(g.matmul(prompt, w('proj_out.pooled_out', [f, c], initScale(f, 1.5))), [2, 3]);
  // The conv path is centred per channel (a random net's output has an arbitrary mean that would tint every image alike).
  const local = conv(h2, 'proj_out', f, c, 1, 1.0);
  const centred = g.op('Sub', [local, g.op('ReduceMean', [local], { axes: { ints: [2, 3] }, keepdims: { i: 1 } })]);
  const out = g.add(centred, offset);
  g.floatOutput(out, spec.outputName, latentDims);
  return g.encode({ externalData: 'model.onnx_data', docString: 'tiny random-weight SD3-style transformer for latentwalk tests' });
}

/** diffusers SD3Transformer2DModel config.json keys. */
export function transformerConfig(spec: TransformerSpec): unknown {
  return {
    _class_name: 'SD3Transformer2DModel',
    _diffusers_version: '0.29.0',
    attention_head_dim: spec.width / 2,
    caption_projection_dim: spec.width,
    in_channels: spec.latentChannels,
    joint_attention_dim: spec.jointAttentionDim,
    num_attention_heads: 2,
    num_layers: 1,
    out_channels: spec.latentChannels,
    patch_size: 2,
    pooled_projection_dim: spec.pooledDim,
    pos_embed_max_size: spec.sampleSize * 2,
    sample_size: spec.sampleSize,
  };
}
