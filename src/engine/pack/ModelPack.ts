/**
 * A model pack: a directory in the layout Hugging Face's exporter writes for SD3 (`optimum-cli export onnx`),
 * optionally with a `latentwalk.json`. Loading checks every file and every tensor name, dtype and width up
 * front, so a bad pack fails at start with one line naming the file and the tensor, never mid-render.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { EngineError } from '../errors.ts';
import { EngineGraphs } from '../gpu/EngineGraphs.ts';
import { OnnxSession, type TensorInfo } from '../onnx/OnnxSession.ts';
import { chooseProvider } from '../onnx/providers.ts';
import type { SamplerPath } from '../sampler/Denoiser.ts';
import type { ProviderName } from '../types.ts';
import { ClipTokenizer } from '../text/ClipTokenizer.ts';
import { T5Tokenizer } from '../text/T5Tokenizer.ts';
import { Vocabulary } from '../text/Vocabulary.ts';
import { PackManifestSchema, describeZodIssue, type PackManifest } from './PackManifest.ts';

export interface RenderDefaults {
  width: number;
  height: number;
  steps: number;
  guidance: number;
  fps: number;
  frames: number;
  batchSize: number;
  displayScale: number;
}

/** The guide's settings for SD3 packs that declare none of their own. */
export const SD3_DEFAULTS: RenderDefaults = { width: 512, height: 512, steps: 28, guidance: 7, fps: 10, frames: 16, batchSize: 1, displayScale: 1 };

export interface ClipComponent {
  session: OnnxSession;
  tokenizer: ClipTokenizer;
  input: string;
  pooledOutput: string;
  hiddenOutput: string;
  width: number;
  pooledWidth: number;
}

export interface T5Component {
  session: OnnxSession;
  tokenizer: T5Tokenizer;
  input: string;
  output: string;
}

export interface TransformerComponent {
  session: OnnxSession;
  names: { sample: string; context: string; pooled: string; timestep: string; output: string };
  latentChannels: number;
  contextWidth: number;
  pooledWidth: number;
  patchSize: number;
  /** The latent height/width when the export fixed them (a graph with a fixed positional embedding). */
  fixedLatent?: { height: number; width: number };
}

export interface VaeComponent {
  session: OnnxSession;
  input: string;
  output: string;
  scalingFactor: number;
  shiftFactor: number;
  scaleFactor: number;
}

/** The VAE's encoder (image input): image [B,3,H,W] in [-1,1] -> mean || logvar [B,2C,H/f,W/f]. */
export interface VaeEncoderComponent {
  session: OnnxSession;
  input: string;
  output: string;
}

export interface ModelPack {
  readonly dir: string;
  readonly name: string;
  readonly provider: ProviderName;
  /** Which provider loaded and why any earlier candidate did not. */
  readonly providerLine: string;
  /** 'device': tensors stay on the provider between steps (engine graphs); 'host': the reference path. */
  readonly sampler: SamplerPath;
  /** @internal the engine's own small graphs, opened on `provider`. */
  readonly graphs: EngineGraphs;
  readonly defaults: RenderDefaults;
  readonly shift: number;
  readonly trainTimesteps: number;
  readonly zeroRowsWithoutT5: number;
  readonly clipL: ClipComponent;
  readonly clipG: ClipComponent;
  readonly t5?: T5Component;
  readonly transformer: TransformerComponent;
  readonly vae: VaeComponent;
  /** The words the model's captions used, when latentwalk.json declares them (small models only). */
  readonly vocabulary?: Vocabulary;
  /** Prompts to suggest, most common first, when latentwalk.json declares them. */
  readonly suggestions?: readonly string[];
  /** Present when the pack has `vae_encoder/` (optimum exports it); image input needs it. */
  readonly vaeEncoder?: VaeEncoderComponent;
  dispose(): Promise<void>;
}

export interface LoadPackOptions {
  provider?: ProviderName;
  /** Tried in order; the first that starts is used. Overrides `provider` (a list of one). */
  providers?: readonly ProviderName[];
  /** Default 'device'. */
  sampler?: SamplerPath;
  /** onnxruntime intra-op threads per session; default: onnxruntime's (one per core). */
  threads?: number;
  log?: (line: string) => void;
}

type Json = Record<string, unknown>;

function readJson(dir: string, rel: string, required: true): Json;
function readJson(dir: string, rel: string, required: false): Json | undefined;
function readJson(dir: string, rel: string, required: boolean): Json | undefined {
  const path = join(dir, rel);
  if (!existsSync(path)) {
    if (!required) return undefined;
    throw new EngineError('PACK_FILE_MISSING', `${rel} is missing in model pack ${dir}`);
  }
  try {
    const value: unknown = JSON.parse(readFileSync(path, 'utf8'));
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not a JSON object');
    return value as Json;
  } catch (error) {
    throw new EngineError('PACK_INVALID', `${rel} in model pack ${dir} is not valid JSON: ${(error as Error).message}`);
  }
}

function requireFile(dir: string, rel: string): string {
  const path = join(dir, rel);
  if (!existsSync(path)) throw new EngineError('PACK_FILE_MISSING', `${rel} is missing in model pack ${dir}`);
  return path;
}

function numberFrom(config: Json, keys: readonly string[]): number | undefined {
  for (const key of keys) {
    const v = config[key];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
  }
  return undefined;
}

function requireTensor(session: OnnxSession, kind: 'input' | 'output', name: string, types: readonly string[]): TensorInfo {
  const info = kind === 'input' ? session.input(name) : session.output(name);
  const list = (kind === 'input' ? session.inputs : session.outputs).map((t) => t.name);
  if (!info) {
    throw new EngineError(
      'TENSOR_MISMATCH',
      `${session.label}/model.onnx has no ${kind} '${name}' (it has: ${list.join(', ') || 'none'}); name it in latentwalk.json if this pack uses another layout`,
    );
  }
  if (!types.includes(info.type)) {
    throw new EngineError('TENSOR_MISMATCH', `${session.label}/model.onnx ${kind} '${name}' is ${info.type}; expected ${types.join(' or ')}`);
  }
  return info;
}

function lastDim(info: TensorInfo): number | undefined {
  const d = info.shape[info.shape.length - 1];
  return typeof d === 'number' && d > 0 ? d : undefined;
}

const FLOAT = ['float32', 'float16'] as const;
const IDS = ['int64', 'int32'] as const;

export async function loadModelPack(dirArg: string, options: LoadPackOptions = {}): Promise<ModelPack> {
  const dir = resolve(dirArg);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new EngineError('PACK_NOT_FOUND', `model pack not found: ${dir} is not a directory (pass --model DIR with an SD3 ONNX export, or a bundled model's name such as shapes)`);
  }
  readJson(dir, 'model_index.json', true);
  const rawManifest = readJson(dir, 'latentwalk.json', false) ?? {};
  const parsed = PackManifestSchema.safeParse(rawManifest);
  if (!parsed.success) throw new EngineError('PACK_INVALID', `latentwalk.json in ${dir}: ${describeZodIssue(parsed.error)}`);
  const manifest: PackManifest = parsed.data;

  const scheduler = readJson(dir, 'scheduler/scheduler_config.json', true);
  const shift = manifest.scheduler?.shift ?? numberFrom(scheduler, ['shift']) ?? 1;
  const trainTimesteps = numberFrom(scheduler, ['num_train_timesteps']) ?? 1000;

  const threads = options.threads;
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1 && threads <= 256)) {
    throw new EngineError('BAD_OPTION', `threads must be an integer from 1 to 256, got ${threads}`);
  }
  const choice = await chooseProvider(options.providers ?? [options.provider ?? 'cpu']);
  const provider = choice.provider;
  // A fallback from a GPU provider is worth a line even when the caller passed no logger.
  if (options.log) options.log(choice.line);
  else if (choice.skipped.length > 0) process.stderr.write(`latentwalk: ${choice.line}\n`);
  const sampler: SamplerPath = options.sampler ?? 'device';

  const hasT5 = existsSync(join(dir, 'text_encoder_3'));
  for (const rel of ['tokenizer', 'tokenizer_2', 'text_encoder', 'text_encoder_2', 'transformer', 'vae_decoder', ...(hasT5 ? ['tokenizer_3', 'text_encoder_3'] : [])]) {
    requireFile(dir, rel);
  }
  // On the device path the transformer's and the decoder's outputs stay on the GPU (webgpu) for the engine graphs.
  const onDevice = (component: string) => sampler === 'device' && (component === 'transformer' || component === 'vae_decoder');
  const open = (component: string) =>
    OnnxSession.open(requireFile(dir, `${component}/model.onnx`), { provider, label: component, outputsOnDevice: onDevice(component), ...(threads ? { intraOpThreads: threads } : {}) });
  const graphs = new EngineGraphs(provider, threads);

  const opened: OnnxSession[] = [];
  const track = async (component: string) => {
    const s = await open(component);
    opened.push(s);
    return s;
  };
  try {
    const clipL = await loadClip(dir, 'text_encoder', 'tokenizer', manifest.textEncoder, track);
    const clipG = await loadClip(dir, 'text_encoder_2', 'tokenizer_2', manifest.textEncoder2, track);
    let t5: T5Component | undefined;
    if (hasT5) {
      const session = await track('text_encoder_3');
      const input = manifest.textEncoder3?.input ?? 'input_ids';
      const output = manifest.textEncoder3?.output ?? 'last_hidden_state';
      requireTensor(session, 'input', input, IDS);
      requireTensor(session, 'output', output, FLOAT);
      const tokenizer = await T5Tokenizer.load(join(dir, 'tokenizer_3'), { maxLength: manifest.text?.t5MaxLength ?? 77 });
      t5 = { session, tokenizer, input, output };
    }

    const transformerConfig = readJson(dir, 'transformer/config.json', true);
    const tSession = await track('transformer');
    const names = {
      sample: manifest.transformer?.sample ?? 'hidden_states',
      context: manifest.transformer?.context ?? 'encoder_hidden_states',
      pooled: manifest.transformer?.pooled ?? 'pooled_projections',
      timestep: manifest.transformer?.timestep ?? 'timestep',
      output: manifest.transformer?.output ?? 'out_hidden_states',
    };
    const sampleInfo = requireTensor(tSession, 'input', names.sample, FLOAT);
    const contextInfo = requireTensor(tSession, 'input', names.context, FLOAT);
    const pooledInfo = requireTensor(tSession, 'input', names.pooled, FLOAT);
    requireTensor(tSession, 'input', names.timestep, FLOAT);
    requireTensor(tSession, 'output', names.output, FLOAT);
    const contextWidth = numberFrom(transformerConfig, ['joint_attention_dim']) ?? lastDim(contextInfo);
    const pooledWidth = numberFrom(transformerConfig, ['pooled_projection_dim']) ?? lastDim(pooledInfo);
    const latentChannels = numberFrom(transformerConfig, ['in_channels']) ?? (typeof sampleInfo.shape[1] === 'number' ? sampleInfo.shape[1] : undefined);
    const patchSize = numberFrom(transformerConfig, ['patch_size']) ?? 2;
    const [fixedH, fixedW] = [sampleInfo.shape[2], sampleInfo.shape[3]];
    const fixedLatent = typeof fixedH === 'number' && typeof fixedW === 'number' && fixedH > 0 && fixedW > 0 ? { height: fixedH, width: fixedW } : undefined;
    if (!contextWidth || !pooledWidth || !latentChannels) {
      throw new EngineError('PACK_INVALID', `transformer/config.json in ${dir} lacks joint_attention_dim, pooled_projection_dim or in_channels, and the graph does not fix them`);
    }
    checkWidth(contextInfo, contextWidth, 'transformer/config.json joint_attention_dim');
    checkWidth(pooledInfo, pooledWidth, 'transformer/config.json pooled_projection_dim');
    if (clipL.pooledWidth + clipG.pooledWidth !== pooledWidth) {
      throw new EngineError(
        'TENSOR_MISMATCH',
        `transformer/model.onnx input '${names.pooled}' is ${pooledWidth} wide but text_encoder + text_encoder_2 '${clipL.pooledOutput}' give ${clipL.pooledWidth} + ${clipG.pooledWidth}`,
      );
    }
    if (clipL.width + clipG.width > contextWidth) {
      throw new EngineError(
        'TENSOR_MISMATCH',
        `transformer/model.onnx input '${names.context}' is ${contextWidth} wide, narrower than the CLIP hidden states (${clipL.width} + ${clipG.width})`,
      );
    }

    const vaeConfig = readJson(dir, 'vae_decoder/config.json', true);
    const vSession = await track('vae_decoder');
    const vaeInput = manifest.vaeDecoder?.input ?? 'latent_sample';
    const vaeOutput = manifest.vaeDecoder?.output ?? 'sample';
    const vaeInputInfo = requireTensor(vSession, 'input', vaeInput, FLOAT);
    requireTensor(vSession, 'output', vaeOutput, FLOAT);
    const vaeChannels = numberFrom(vaeConfig, ['latent_channels']) ?? (typeof vaeInputInfo.shape[1] === 'number' ? vaeInputInfo.shape[1] : undefined);
    if (vaeChannels !== undefined && vaeChannels !== latentChannels) {
      throw new EngineError('TENSOR_MISMATCH', `vae_decoder/model.onnx input '${vaeInput}' takes ${vaeChannels} latent channels but the transformer makes ${latentChannels}`);
    }
    const blocks = Array.isArray(vaeConfig['block_out_channels']) ? (vaeConfig['block_out_channels'] as unknown[]).length : 4;
    const vae: VaeComponent = {
      session: vSession,
      input: vaeInput,
      output: vaeOutput,
      scalingFactor: manifest.vae?.scalingFactor ?? numberFrom(vaeConfig, ['scaling_factor']) ?? 1.5305,
      shiftFactor: manifest.vae?.shiftFactor ?? numberFrom(vaeConfig, ['shift_factor']) ?? 0.0609,
      scaleFactor: manifest.vae?.scaleFactor ?? 2 ** Math.max(0, blocks - 1),
    };

    const vaeEncoder = existsSync(join(dir, 'vae_encoder', 'model.onnx')) ? await loadVaeEncoder(manifest, latentChannels, track) : undefined;

    const defaults: RenderDefaults = { ...SD3_DEFAULTS, ...stripUndefined(manifest.defaults ?? {}) };
    const pack: ModelPack = {
      dir,
      name: manifest.name ?? basename(dir),
      provider,
      providerLine: choice.line,
      sampler,
      graphs,
      defaults,
      shift,
      trainTimesteps,
      zeroRowsWithoutT5: manifest.text?.zeroRowsWithoutT5 ?? 77,
      clipL,
      clipG,
      ...(t5 ? { t5 } : {}),
      transformer: { session: tSession, names, latentChannels, contextWidth, pooledWidth, patchSize, ...(fixedLatent ? { fixedLatent } : {}) },
      vae,
      ...(manifest.vocabulary ? { vocabulary: Vocabulary.from(manifest.vocabulary) } : {}),
      ...(manifest.suggestions ? { suggestions: manifest.suggestions.map((p) => p.trim()) } : {}),
      ...(vaeEncoder ? { vaeEncoder } : {}),
      dispose: async () => {
        await Promise.all([...opened.map((s) => s.dispose()), graphs.dispose()]);
      },
    };
    options.log?.(`loaded model pack '${pack.name}' from ${dir} on ${provider}${t5 ? ' (with T5)' : ''}`);
    return pack;
  } catch (error) {
    await Promise.allSettled(opened.map((s) => s.dispose()));
    throw error;
  }
}

/**
 * optimum names the encoder's tensors `sample` and `latent_parameters`; a graph with one input and one output
 * is taken whatever they are called; latentwalk.json's vaeEncoder names others.
 */
async function loadVaeEncoder(
  manifest: PackManifest,
  latentChannels: number,
  open: (component: string) => Promise<OnnxSession>,
): Promise<VaeEncoderComponent> {
  const session = await open('vae_encoder');
  const pick = (kind: 'input' | 'output', named: string | undefined, usual: string): string => {
    const list = kind === 'input' ? session.inputs : session.outputs;
    if (named) return named;
    if (list.some((t) => t.name === usual)) return usual;
    return list.length === 1 ? list[0]!.name : usual;
  };
  const input = pick('input', manifest.vaeEncoder?.input, 'sample');
  const output = pick('output', manifest.vaeEncoder?.output, 'latent_parameters');
  requireTensor(session, 'input', input, FLOAT);
  const outInfo = requireTensor(session, 'output', output, FLOAT);
  const channels = outInfo.shape[1];
  if (typeof channels === 'number' && channels > 0 && channels !== 2 * latentChannels) {
    throw new EngineError(
      'TENSOR_MISMATCH',
      `vae_encoder/model.onnx output '${output}' has ${channels} channels; expected ${2 * latentChannels} (mean and logvar of the transformer's ${latentChannels} latent channels)`,
    );
  }
  return { session, input, output };
}

async function loadClip(
  dir: string,
  component: string,
  tokenizerDir: string,
  names: { input?: string | undefined; pooled?: string | undefined; hiddenState?: string | undefined } | undefined,
  open: (component: string) => Promise<OnnxSession>,
): Promise<ClipComponent> {
  readJson(dir, `${component}/config.json`, true);
  const tokenizer = await ClipTokenizer.load(join(dir, tokenizerDir));
  const session = await open(component);
  const input = names?.input ?? 'input_ids';
  const pooledOutput = names?.pooled ?? 'text_embeds';
  requireTensor(session, 'input', input, IDS);
  const pooledInfo = requireTensor(session, 'output', pooledOutput, FLOAT);
  let hiddenOutput = names?.hiddenState;
  if (!hiddenOutput) {
    // hidden_states.0 is the embedding output and hidden_states.N the last layer: SD3 takes N - 1.
    const indices = session.outputs
      .map((o) => /^hidden_states\.(\d+)$/.exec(o.name)?.[1])
      .filter((v): v is string => v !== undefined)
      .map(Number);
    if (indices.length < 2) {
      throw new EngineError(
        'TENSOR_MISMATCH',
        `${component}/model.onnx has no 'hidden_states.N' outputs (export CLIP with output_hidden_states, or name the penultimate layer in latentwalk.json)`,
      );
    }
    hiddenOutput = `hidden_states.${Math.max(...indices) - 1}`;
  }
  const hiddenInfo = requireTensor(session, 'output', hiddenOutput, FLOAT);
  const config = readJson(dir, `${component}/config.json`, true);
  const width = lastDim(hiddenInfo) ?? numberFrom(config, ['hidden_size', 'd_model']);
  const pooledWidth = lastDim(pooledInfo) ?? numberFrom(config, ['projection_dim', 'hidden_size']);
  if (!width || !pooledWidth) throw new EngineError('PACK_INVALID', `${component}/config.json lacks hidden_size / projection_dim and the graph does not fix them`);
  return { session, tokenizer, input, pooledOutput, hiddenOutput, width, pooledWidth };
}

function checkWidth(info: TensorInfo, expected: number, source: string): void {
  const d = lastDim(info);
  if (d !== undefined && d !== expected) {
    throw new EngineError('TENSOR_MISMATCH', `input '${info.name}' is ${d} wide but ${source} says ${expected}`);
  }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
