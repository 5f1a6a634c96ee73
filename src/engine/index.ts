/**
 * The engine's public API: load a model pack once, render any walk with progress and an AbortSignal,
 * and encode the frames into the artifact the bot posts. Nothing here knows about Discord or Redis.
 *
 *   const model = await loadModel();                       // the bundled pack
 *   const { frames, report } = await render(model, { kind: 'morph', prompts: ['a dog', 'a cat'], frames: 8 }, { seed: 1 });
 *   const gif = await encodeArtifact(frames, { format: 'gif', fps: 10, rubberBand: true, maxBytes: 10 * 1024 * 1024 });
 */
import { EngineError } from './errors.ts';
import { bundledPackDir, defaultPackDir, installedBundledPacks, isBundledPackName, resolveModelDir } from './pack/bundled.ts';
import { loadModelPack, type ModelPack, type RenderDefaults } from './pack/ModelPack.ts';
import { renderWith } from './render.ts';
import { PromptEncoder } from './text/PromptEncoder.ts';
import type { SamplerPath } from './sampler/Denoiser.ts';
import type { Vocabulary } from './text/Vocabulary.ts';
import type { ProviderName, RenderOptions, RenderResult, RenderSettings, WalkSpec } from './types.ts';

export type * from './types.ts';
export { DEFAULT_STRENGTH } from './types.ts';
export { INIT_IMAGE_LIMITS } from './image/InitImage.ts';
export type { RgbFrame } from './frames.ts';
export type { RenderDefaults } from './pack/ModelPack.ts';
export { EngineError, RenderAbortedError, type EngineErrorCode } from './errors.ts';
export { encodeArtifact, composeGrid, ANIMATION_FORMATS, type Artifact, type ArtifactOptions, type ArtifactFormat, type AnimationFormat } from './output/index.ts';
export { ENGINE_LIMITS, fixedRenderSize } from './RenderLimits.ts';
export { parseProviderList, PROVIDER_NAMES } from './onnx/providers.ts';
export type { SamplerPath } from './sampler/Denoiser.ts';
export { SMOOTH_MODES, DEFAULT_SMOOTH_MODE } from './walks/Refinement.ts';
export { describeSmoothness, measureSequence, measureGrid, frameChange } from './walks/Smoothness.ts';

export { BUNDLED_PACKS, DEFAULT_BUNDLED_PACK, bundledPackDir, defaultPackDir, installedBundledPacks, isBundledPackName, resolveModelDir, type BundledPackName } from './pack/bundled.ts';
export { Vocabulary, promptWords, unknownWords } from './text/Vocabulary.ts';

/** The pack the CLI, the demo and the worker use when none is named (pack/bundled.ts DEFAULT_BUNDLED_PACK). */
export const BUNDLED_MODEL_DIR = defaultPackDir();

export interface LoadModelOptions {
  /** One provider; shorthand for `providers: [provider]`. Default 'cpu'. */
  provider?: ProviderName;
  /** Providers to try in order (e.g. ['cuda', 'webgpu', 'cpu']); the first that starts is used and logged. */
  providers?: readonly ProviderName[];
  /** 'device' (default): latents stay on the provider between steps; 'host': the reference path. */
  sampler?: SamplerPath;
  /**
   * onnxruntime intra-op threads per session (default: one per core). On a busy host fewer threads can be
   * faster: threads that wait for a core slow every operator down.
   */
  threads?: number;
  log?: (line: string) => void;
  /** Prompts kept encoded in memory (LRU). */
  promptCacheSize?: number;
}

export interface LoadedModel {
  readonly name: string;
  readonly dir: string;
  readonly provider: ProviderName;
  /** "execution provider: webgpu (cuda: ...)": which provider loaded and why earlier candidates did not. */
  readonly providerLine: string;
  readonly defaults: RenderDefaults;
  /** The words the model knows, when its latentwalk.json declares them (small models; SD3 declares none). */
  readonly vocabulary?: Vocabulary;
  /** Prompts to suggest, most common first, when its latentwalk.json declares them. */
  readonly suggestions?: readonly string[];
  /** @internal */
  readonly pack: ModelPack;
  /** @internal */
  readonly prompts: PromptEncoder;
  dispose(): Promise<void>;
}

/** `nameOrDir`: a pack directory, a bundled pack's name (`shapes`, `emoji`), or nothing for the default pack. */
export async function loadModel(nameOrDir?: string, options: LoadModelOptions = {}): Promise<LoadedModel> {
  const given = nameOrDir?.trim();
  if (given && isBundledPackName(given) && !installedBundledPacks().includes(given)) {
    const installed = installedBundledPacks();
    throw new EngineError('PACK_NOT_FOUND', `the bundled model '${given}' is not installed here (${bundledPackDir(given)} is missing); bundled models here: ${installed.join(', ') || 'none'}`);
  }
  const pack = await loadModelPack(resolveModelDir(nameOrDir), options);
  const prompts = new PromptEncoder(pack, options.promptCacheSize ?? 64);
  return {
    name: pack.name,
    dir: pack.dir,
    provider: pack.provider,
    providerLine: pack.providerLine,
    defaults: pack.defaults,
    ...(pack.vocabulary ? { vocabulary: pack.vocabulary } : {}),
    ...(pack.suggestions ? { suggestions: pack.suggestions } : {}),
    pack,
    prompts,
    dispose: () => pack.dispose(),
  };
}

export function render(model: LoadedModel, spec: WalkSpec, settings: RenderSettings, options?: RenderOptions): Promise<RenderResult> {
  return renderWith(model.pack, model.prompts, spec, settings, options);
}
