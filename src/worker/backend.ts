/**
 * What the render worker needs from the engine, as a small interface: the real engine in production, a no-op
 * renderer for the queue bench and the queue-mechanics tests.
 */
import type { RgbFrame } from '../engine/frames.ts';
import type { ProviderName, RenderOptions, RenderReport, RenderSettings, WalkSpec } from '../engine/types.ts';
import type { ArtifactBytes } from '../jobs/artifacts.ts';
import type { ModelLexicon } from '../jobs/workers.ts';
import type { OutputFormat } from '../jobs/contract.ts';

export interface EncodeRequest {
  format: OutputFormat;
  fps?: number;
  rubberBand?: boolean;
  maxBytes?: number;
  displayScale?: number;
  signal?: AbortSignal;
}

export interface BackendDefaults {
  fps: number;
  frames: number;
  displayScale: number;
}

export interface RenderBackend {
  /** Model name and provider; also fingerprints checkpoints so frames from another model are never reused. */
  readonly name: string;
  /** The model's own name (announced to the bot with the size it is fixed to, if any). */
  readonly modelName?: string;
  /** The only size the model renders, when its transformer graph fixes it. */
  readonly fixedSize?: { width: number; height: number };
  /** What the model knows (vocabulary, suggestions), when its pack declares it; announced for autocomplete. */
  readonly lexicon?: ModelLexicon;
  readonly defaults: BackendDefaults;
  /** The engine's report carries the walk figures (smoothness, cost); a stand-in renderer may leave them out. */
  render(spec: WalkSpec, settings: RenderSettings, options: RenderOptions): Promise<{ frames: RgbFrame[]; report: RenderReport }>;
  encode(frames: RgbFrame[], options: EncodeRequest): Promise<ArtifactBytes>;
  composeGrid(cells: RgbFrame[], columns: number, rows: number): RgbFrame;
  dispose(): Promise<void>;
}

export interface EngineBackendOptions {
  /** Model pack directory; the engine's bundled pack when absent. */
  modelDir?: string;
  /** One provider, or AUTO_PROVIDERS when absent. */
  provider?: ProviderName;
  /** onnxruntime intra-op threads per session (LATENTWALK_THREADS). */
  threads?: number;
  log?: (line: string) => void;
}

/**
 * What a worker tries when no provider is named: cuda where it starts, else cpu (the engine logs one line with
 * the reason). webgpu only when named: Dawn also takes software Vulkan drivers (Mesa's lavapipe), which render
 * slower than the cpu provider.
 */
export const AUTO_PROVIDERS: readonly ProviderName[] = ['cuda', 'cpu'];

/** Loads the model once. The engine (and onnxruntime) is imported here, lazily, so only workers load it. */
export async function loadEngineBackend(options: EngineBackendOptions = {}): Promise<RenderBackend> {
  const engine = await import('../engine/index.ts');
  const model = await engine.loadModel(options.modelDir, {
    providers: options.provider ? [options.provider] : AUTO_PROVIDERS,
    ...(options.threads ? { threads: options.threads } : {}),
    ...(options.log ? { log: options.log } : {}),
  });
  const fixedSize = engine.fixedRenderSize(model.pack);
  const lexicon: ModelLexicon | undefined =
    model.vocabulary || model.suggestions
      ? {
          model: model.name,
          ...(model.vocabulary ? { vocabulary: [...model.vocabulary.entries] } : {}),
          ...(model.suggestions ? { suggestions: [...model.suggestions] } : {}),
        }
      : undefined;
  return {
    name: `${model.name} on ${model.provider}`,
    modelName: model.name,
    ...(fixedSize ? { fixedSize } : {}),
    ...(lexicon ? { lexicon } : {}),
    defaults: { fps: model.defaults.fps, frames: model.defaults.frames, displayScale: model.defaults.displayScale },
    render: (spec, settings, renderOptions) => engine.render(model, spec, settings, renderOptions),
    encode: (frames, encodeOptions) => engine.encodeArtifact(frames, encodeOptions),
    composeGrid: (cells, columns, rows) => engine.composeGrid(cells, columns, rows),
    dispose: () => model.dispose(),
  };
}
