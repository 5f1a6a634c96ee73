/**
 * Assembles the tiny SD3-family pack in the folder layout `optimum-cli export onnx` writes for SD3,
 * as an in-memory file map (relative path -> bytes/text), then writes it out.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buildClipTextEncoder, buildT5Encoder, clipConfig, t5Config, type ClipSpec, type T5Spec } from './text-encoder.ts';
import { addClipTokenizer, addT5Tokenizer, CLIP_MAX_LENGTH, json, t5Vocab, type PackFiles } from './tokenizer-files.ts';
import { buildTransformer, transformerConfig, type TransformerSpec } from './transformer.ts';
import { buildVaeDecoder, vaeConfig, type VaeSpec } from './vae-decoder.ts';
import { buildVaeEncoder } from './vae-encoder.ts';
import { buildClipVocab } from './vocab.ts';

export interface TinyPackOptions {
  /** float16 graph inputs/outputs (weights and maths stay float32). */
  fp16: boolean;
  /** Also write text_encoder_3 + tokenizer_3 (T5-like). */
  t5: boolean;
  /** Name of the transformer's output; anything but the exporter's `out_hidden_states` is recorded in latentwalk.json. */
  transformerOutput: string;
  seed: number;
}

export const DEFAULT_SEED = 20240613;
export const EXPORTER_TRANSFORMER_OUTPUT = 'out_hidden_states';

export const DEFAULT_OPTIONS: TinyPackOptions = {
  fp16: false,
  t5: false,
  transformerOutput: EXPORTER_TRANSFORMER_OUTPUT,
  seed: DEFAULT_SEED,
};

/** Render defaults that keep a tiny-pack render well under a second on two CPU cores. */
export const TINY_DEFAULTS = { width: 64, height: 64, steps: 4, guidance: 7, fps: 10, frames: 8, batchSize: 4 };

const LATENT_CHANNELS = 4;
const JOINT_ATTENTION_DIM = 128;

/** Entries the generator owns at a pack root; only these are removed before rewriting a pack. */
const OWNED = [
  'model_index.json',
  'latentwalk.json',
  'README.md',
  'scheduler',
  'tokenizer',
  'tokenizer_2',
  'tokenizer_3',
  'text_encoder',
  'text_encoder_2',
  'text_encoder_3',
  'transformer',
  'vae_decoder',
  'vae_encoder',
];

export function buildTinyPack(opts: TinyPackOptions): PackFiles {
  const files: PackFiles = new Map();
  const clip = buildClipVocab();
  const vocabSize = clip.vocab.size;
  const clipL: ClipSpec = { name: 'text_encoder', hidden: 32, layers: 2, projection: 32, embedRank: 12, vocabSize, seqLen: CLIP_MAX_LENGTH };
  const clipG: ClipSpec = { name: 'text_encoder_2', hidden: 48, layers: 3, projection: 48, embedRank: 12, vocabSize, seqLen: CLIP_MAX_LENGTH };
  const transformer: TransformerSpec = {
    latentChannels: LATENT_CHANNELS,
    jointAttentionDim: JOINT_ATTENTION_DIM,
    pooledDim: clipL.projection + clipG.projection,
    width: 32,
    freqs: 16,
    outputName: opts.transformerOutput,
    sampleSize: TINY_DEFAULTS.height / 8,
  };
  const vae: VaeSpec = { latentChannels: LATENT_CHANNELS, width: 16, scalingFactor: 1.5305, shiftFactor: 0.0609, sampleSize: TINY_DEFAULTS.height };

  files.set('model_index.json', json(modelIndex(opts.t5)));
  files.set('scheduler/scheduler_config.json', json({ _class_name: 'FlowMatchEulerDiscreteScheduler', num_train_timesteps: 1000, shift: 3.0 }));

  addClipTokenizer(files, 'tokenizer', clip, 'eos', false);
  addClipTokenizer(files, 'tokenizer_2', clip, 'bang', true);
  const bang = clip.vocab.get('!') ?? 0;

  addModel(files, 'text_encoder', buildClipTextEncoder(clipL, opts.seed, opts.fp16));
  files.set('text_encoder/config.json', json(clipConfig(clipL, { bos: clip.bosId, eos: clip.eosId, pad: clip.eosId }, opts.fp16)));
  addModel(files, 'text_encoder_2', buildClipTextEncoder(clipG, opts.seed, opts.fp16));
  files.set('text_encoder_2/config.json', json(clipConfig(clipG, { bos: clip.bosId, eos: clip.eosId, pad: bang }, opts.fp16)));

  if (opts.t5) {
    const t5: T5Spec = { vocabSize: t5Vocab().length, dModel: JOINT_ATTENTION_DIM, dFf: 64, embed: 16 };
    addT5Tokenizer(files, 'tokenizer_3');
    addModel(files, 'text_encoder_3', buildT5Encoder(t5, opts.seed, opts.fp16));
    files.set('text_encoder_3/config.json', json(t5Config(t5, opts.fp16)));
  }

  addModel(files, 'transformer', buildTransformer(transformer, opts.seed, opts.fp16));
  files.set('transformer/config.json', json(transformerConfig(transformer)));
  addModel(files, 'vae_decoder', buildVaeDecoder(vae, opts.seed, opts.fp16));
  files.set('vae_decoder/config.json', json(vaeConfig(vae)));
  // The encoder, for image input (img2img); optimum writes it beside the decoder with the same config.
  addModel(files, 'vae_encoder', buildVaeEncoder(vae, opts.seed, opts.fp16));
  files.set('vae_encoder/config.json', json(vaeConfig(vae)));

  const latentwalk: Record<string, unknown> = { defaults: TINY_DEFAULTS };
  if (opts.transformerOutput !== EXPORTER_TRANSFORMER_OUTPUT) latentwalk.transformer = { output: opts.transformerOutput };
  files.set('latentwalk.json', json(latentwalk));
  files.set('README.md', readme(opts));
  return files;
}

function addModel(files: PackFiles, dir: string, encoded: { model: Uint8Array; data?: Uint8Array }): void {
  files.set(`${dir}/model.onnx`, encoded.model);
  if (encoded.data) files.set(`${dir}/model.onnx_data`, encoded.data);
}

function modelIndex(t5: boolean): unknown {
  const none = [null, null];
  return {
    _class_name: 'StableDiffusion3Pipeline',
    _diffusers_version: '0.29.0',
    scheduler: ['diffusers', 'FlowMatchEulerDiscreteScheduler'],
    text_encoder: ['transformers', 'CLIPTextModelWithProjection'],
    text_encoder_2: ['transformers', 'CLIPTextModelWithProjection'],
    text_encoder_3: t5 ? ['transformers', 'T5EncoderModel'] : none,
    tokenizer: ['transformers', 'CLIPTokenizer'],
    tokenizer_2: ['transformers', 'CLIPTokenizer'],
    tokenizer_3: t5 ? ['transformers', 'T5TokenizerFast'] : none,
    transformer: ['diffusers', 'SD3Transformer2DModel'],
    vae: ['diffusers', 'AutoencoderKL'],
  };
}

function readme(opts: TinyPackOptions): string {
  const flags = [opts.fp16 ? '--fp16' : '', opts.t5 ? '--t5' : '', opts.transformerOutput !== EXPORTER_TRANSFORMER_OUTPUT ? `--transformer-output ${opts.transformerOutput}` : '', opts.seed !== DEFAULT_SEED ? `--seed ${opts.seed}` : '']
    .filter(Boolean)
    .join(' ');
  return `# Tiny SD3-family test pack${opts.fp16 ? ' (float16 I/O)' : ''}

**Random weights. It draws colourful noise, not pictures.** This pack exists so the engine, CLI and bot
can be tested end to end in seconds on a CPU, without downloading Stable Diffusion 3.

It has exactly the folder layout and tensor names \`optimum-cli export onnx\` writes for SD3
(\`model_index.json\`, \`scheduler/\`, \`tokenizer/\` (CLIP-L, slow files, pads with EOS),
\`tokenizer_2/\` (CLIP-G, also \`tokenizer.json\`, pads with "!" = id 0), \`text_encoder/\`, \`text_encoder_2/\`,
\`transformer/\` (with external weights in \`model.onnx_data\`), \`vae_decoder/\`, \`vae_encoder/\` (fitted to invert the
decoder, for image input)${opts.t5 ? ', `text_encoder_3/`, `tokenizer_3/`' : ''}),
but tiny widths: CLIP-L 32 wide / 2 layers, CLIP-G 48 wide / 3 layers, 4 latent channels,
joint_attention_dim 128, pooled_projection_dim 80, a few hundred whole-word tokens.
${opts.fp16 ? '\nEvery float input and output is float16 (the graphs Cast at the edges); token ids stay int64.\n' : ''}
\`latentwalk.json\` holds render defaults sized for it (64x64, 4 steps, 8 frames).

Regenerate (deterministic: the same command always writes the same bytes):

    npm run make-tiny-pack                      # models/tiny and models/tiny-fp16
    node --import tsx tools/make-tiny-pack.ts --out DIR${flags ? ` ${flags}` : ' [--fp16] [--t5] [--transformer-output NAME] [--seed N]'}
`;
}

/** Writes `files` under `outDir`, first removing the entries a previous run of the generator left there. */
export async function writePack(outDir: string, files: PackFiles): Promise<void> {
  await mkdir(outDir, { recursive: true });
  for (const entry of OWNED) await rm(path.join(outDir, entry), { recursive: true, force: true });
  for (const [rel, content] of files) {
    const target = path.join(outDir, rel);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, content);
  }
}
