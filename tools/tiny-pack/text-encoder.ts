/**
 * CLIP-like text encoders with the I/O of optimum's `clip-text-with-projection` export (SD3 flavour,
 * output_hidden_states=True): input `input_ids` int64 [batch_size, 77]; outputs `text_embeds`,
 * `last_hidden_state`, `hidden_states.0` .. `hidden_states.N`.
 *
 * Each layer is causal (x + tanh(x W1 + cummean(x) W2 + b)), like CLIP's causal attention: rows up to
 * EOS ignore the padding, rows after it depend on the pad id, and the EOS row (pooled) sees the whole prompt.
 */
import { GraphBuilder, type EncodedModel } from './onnx-graph.ts';
import { Prng, initScale } from './prng.ts';

// Init gains. The context path dominates so the pooled EOS row depends strongly on the prompt's words
// (random weights otherwise give nearly parallel pooled vectors for all prompts).
const SELF_GAIN = 0.4;
const CONTEXT_GAIN = 3.5;
const POS_SCALE = 0.1;

export interface ClipSpec {
  /** Folder name; also the PRNG stream. */
  name: string;
  hidden: number;
  layers: number;
  projection: number;
  /** Rank of the factored token embedding (keeps the pack small: V x rank + rank x hidden). */
  embedRank: number;
  vocabSize: number;
  seqLen: number;
}

export function buildClipTextEncoder(spec: ClipSpec, seed: number, fp16Io: boolean): EncodedModel {
  const { hidden: d, seqLen: s } = spec;
  const rng = new Prng(seed, spec.name);
  const g = new GraphBuilder(`${spec.name}_tiny_clip`, fp16Io);
  const batch = 'batch_size';

  const ids = g.intInput('input_ids', [batch, s]);
  const tokLow = g.weight('text_model.embeddings.token_embedding.low', [spec.vocabSize, spec.embedRank], rng.fill(spec.vocabSize * spec.embedRank, 1.7));
  const tokUp = g.weight('text_model.embeddings.token_embedding.up', [spec.embedRank, d], rng.fill(spec.embedRank * d, initScale(spec.embedRank)));
  const pos = g.weight('text_model.embeddings.position_embedding.weight', [s, d], rng.fill(s * d, POS_SCALE));

  const tok = g.matmul(g.op('Gather', [tokLow, ids], { axis: { i: 0 } }), tokUp);
  let x = g.add(tok, pos);
  const hidden: string[] = [x];

  // 1 / (position + 1) turns the running sum into a running mean.
  const invCount = g.floatConst(Array.from({ length: s }, (_, i) => 1 / (i + 1)), [s, 1]);
  const seqAxis = g.int64Const([1], []);
  for (let l = 0; l < spec.layers; l++) {
    const p = `text_model.encoder.layers.${l}`;
    const w1 = g.weight(`${p}.w_self`, [d, d], rng.fill(d * d, initScale(d, SELF_GAIN)));
    const w2 = g.weight(`${p}.w_context`, [d, d], rng.fill(d * d, initScale(d, CONTEXT_GAIN)));
    const b = g.weight(`${p}.bias`, [d], rng.fill(d, 0.1));
    const ctx = g.mul(g.op('CumSum', [x, seqAxis]), invCount);
    const pre = g.add(g.add(g.matmul(x, w1), g.matmul(ctx, w2)), b);
    x = g.add(x, g.tanh(pre));
    hidden.push(x);
  }

  const gamma = g.weight('text_model.final_layer_norm.weight', [d], Float32Array.from({ length: d }, () => 1 + rng.symmetric(0.1)));
  const beta = g.weight('text_model.final_layer_norm.bias', [d], rng.fill(d, 0.05));
  const last = g.op('LayerNormalization', [x, gamma, beta], { axis: { i: -1 }, epsilon: { f: 1e-5 } });

  // Pool the row of the highest id (EOS) per batch item; ArgMax runs on int32 as in transformers' CLIP export.
  const eosPos = g.op('ArgMax', [g.op('Cast', [ids], { to: { i: 6 } })], { axis: { i: 1 }, keepdims: { i: 1 } });
  const pooled = g.op('GatherND', [last, eosPos], { batch_dims: { i: 1 } });
  const proj = g.weight('text_projection.weight', [d, spec.projection], rng.fill(d * spec.projection, initScale(d)));
  const embeds = g.matmul(pooled, proj);

  g.floatOutput(embeds, 'text_embeds', [batch, spec.projection]);
  g.floatOutput(last, 'last_hidden_state', [batch, s, d]);
  hidden.forEach((h, i) => g.floatOutput(h, `hidden_states.${i}`, [batch, s, d]));
  return g.encode({ docString: `tiny random-weight CLIP text encoder (${spec.name}) for latentwalk tests` });
}

/** transformers CLIPTextConfig-style config.json. */
export function clipConfig(spec: ClipSpec, ids: { bos: number; eos: number; pad: number }, fp16: boolean): unknown {
  return {
    architectures: ['CLIPTextModelWithProjection'],
    model_type: 'clip_text_model',
    hidden_size: spec.hidden,
    intermediate_size: spec.hidden * 2,
    num_hidden_layers: spec.layers,
    num_attention_heads: 2,
    projection_dim: spec.projection,
    max_position_embeddings: spec.seqLen,
    vocab_size: spec.vocabSize,
    bos_token_id: ids.bos,
    eos_token_id: ids.eos,
    pad_token_id: ids.pad,
    hidden_act: 'quick_gelu',
    layer_norm_eps: 1e-5,
    torch_dtype: fp16 ? 'float16' : 'float32',
  };
}

export interface T5Spec {
  vocabSize: number;
  dModel: number;
  dFf: number;
  embed: number;
}

/** T5-encoder-like: `input_ids` int64 [batch_size, sequence_length] -> `last_hidden_state` [.., d_model]. Per-token MLP. */
export function buildT5Encoder(spec: T5Spec, seed: number, fp16Io: boolean): EncodedModel {
  const rng = new Prng(seed, 'text_encoder_3');
  const g = new GraphBuilder('text_encoder_3_tiny_t5', fp16Io);
  const dims = ['batch_size', 'sequence_length'];
  const ids = g.intInput('input_ids', dims);
  const emb = g.weight('shared.weight', [spec.vocabSize, spec.embed], rng.fill(spec.vocabSize * spec.embed, 1.7));
  const wi = g.weight('encoder.block.0.layer.1.DenseReluDense.wi.weight', [spec.embed, spec.dFf], rng.fill(spec.embed * spec.dFf, initScale(spec.embed, 1.5)));
  const wo = g.weight('encoder.block.0.layer.1.DenseReluDense.wo.weight', [spec.dFf, spec.dModel], rng.fill(spec.dFf * spec.dModel, initScale(spec.dFf)));
  const h = g.tanh(g.matmul(g.op('Gather', [emb, ids], { axis: { i: 0 } }), wi));
  g.floatOutput(g.matmul(h, wo), 'last_hidden_state', [...dims, spec.dModel]);
  return g.encode({ externalData: 'model.onnx_data', docString: 'tiny random-weight T5 encoder for latentwalk tests' });
}

export function t5Config(spec: T5Spec, fp16: boolean): unknown {
  return {
    architectures: ['T5EncoderModel'],
    model_type: 't5',
    d_model: spec.dModel,
    d_ff: spec.dFf,
    d_kv: 16,
    num_heads: 2,
    num_layers: 1,
    vocab_size: spec.vocabSize,
    pad_token_id: 0,
    eos_token_id: 1,
    decoder_start_token_id: 0,
    feed_forward_proj: 'gated-gelu',
    torch_dtype: fp16 ? 'float16' : 'float32',
  };
}
