import type { RgbFrame } from './frames.ts';
import type { SmoothMode } from './walks/Refinement.ts';
import type { Smoothness } from './walks/Smoothness.ts';

export type { SmoothMode } from './walks/Refinement.ts';
export type { Smoothness } from './walks/Smoothness.ts';

/** Execution providers onnxruntime-node can run the engine on. */
export type ProviderName = 'cpu' | 'webgpu' | 'cuda';

/** The four kinds of walk of the Keras SD3 latent-walk guide, and a chain (a closed morph through several prompts). */
export type WalkKind = 'morph' | 'grid' | 'walk' | 'loop' | 'chain';

export type WalkSpec =
  /** Slerp of the prompt embeddings from A to B with fixed noise; `frames` images. */
  | { kind: 'morph'; prompts: readonly [string, string]; frames: number }
  /** 4-way slerp grid: p1 top-left, p2 top-right, p3 bottom-left, p4 bottom-right; gridSize x gridSize cells. */
  | { kind: 'grid'; prompts: readonly [string, string, string, string]; gridSize: number; varyLatents?: boolean }
  /** Walk around one prompt: frame k adds k * stepSize to the embeddings. */
  | { kind: 'walk'; prompts: readonly [string]; frames: number; stepSize?: number }
  /** Seamless circular noise walk around one prompt. */
  | { kind: 'loop'; prompts: readonly [string]; frames: number }
  /**
   * A seamless loop through 2 to 8 prompts and back to the first (A -> B -> ... -> A) with fixed noise; the
   * `frames` images are split between the legs, every stop is one of them.
   */
  | { kind: 'chain'; prompts: readonly string[]; frames: number; images?: readonly (StopImage | undefined)[] };

/**
 * A chain stop that starts from a picture (parallel to the chain's prompts; the prompt says what it shows): the
 * stop's frame is img2img of it at `strength` (as RenderSettings.image), and the frames towards a neighbouring
 * stop start from it with less and less of it kept (engine/image/StopImages.ts).
 */
export interface StopImage {
  image: Uint8Array;
  /** As RenderSettings.strength; DEFAULT_STRENGTH when absent. */
  strength?: number;
}

/** Sampler settings; anything left out comes from the pack's defaults. */
export interface RenderSettings {
  seed: number;
  steps?: number;
  guidance?: number;
  width?: number;
  height?: number;
  negative?: string;
  /** Frames per transformer call (each call carries 2x this many rows with guidance). */
  batchSize?: number;
  /**
   * How frames are placed and sampled: 'off' is the guide's walk (evenly spaced positions, every frame from
   * noise); 'even' places the positions so consecutive frames change by about the same amount; 'blend'
   * (default) also branches in-between frames from their neighbours' partially denoised latents.
   */
  smooth?: SmoothMode;
  /**
   * Image input (img2img): a still PNG / JPEG / WebP / GIF file. Every frame starts from it, encoded by the
   * pack's vae_encoder and noised to `strength`, instead of from pure noise (see engine/image/InitImage.ts for
   * what is accepted and how it is fitted to the render's size).
   */
  image?: Uint8Array;
  /**
   * How much of the image is redrawn, 0..1 (with `image`): the sampler starts `round-down(steps * strength)`
   * steps before the end, as diffusers' SD3 img2img does. Default DEFAULT_STRENGTH.
   */
  strength?: number;
}

/** Image input's default strength: the image's layout and colours stay, the prompt redraws the rest. */
export const DEFAULT_STRENGTH = 0.6;

/** What an image input did, in the report. */
export interface InitImageReport {
  strength: number;
  /** Sampler steps skipped: frames start at this step's sigma. */
  startStep: number;
  /** sigmas[startStep]: the share of noise in each frame's start. */
  startSigma: number;
  source: { width: number; height: number; format: string; bytes: number };
  crop?: { left: number; top: number; width: number; height: number };
}

export type RenderStage = 'encode' | 'denoise' | 'decode' | 'output';

export interface RenderProgress {
  stage: RenderStage;
  framesDone: number;
  framesTotal: number;
  /** Denoising step within the current batch (1-based), when stage is 'denoise'. */
  step?: number;
  steps?: number;
  /** Seconds left, estimated from the batches done so far; absent until one batch is done. */
  etaSeconds?: number;
}

/** Frames finished in one batch, handed out so a caller can checkpoint them. */
export interface FrameBatch {
  /**
   * Parallel to `frames`: frame indices in walk order ('off'), or node indices in creation order ('even',
   * 'blend', whose frames find their place in the walk as the render goes; a resumed render replays the
   * placement from the checkpointed frames).
   */
  indices: number[];
  frames: RgbFrame[];
  /** 'blend': each node's latents kept for later branches, parallel to `frames`; checkpoint them with the frames. */
  states?: Float32Array[];
}

export interface RenderOptions {
  onProgress?: (progress: RenderProgress) => void;
  /** Called after each batch is decoded (await-ed, so a checkpoint is durable before the next batch). */
  onBatch?: (batch: FrameBatch) => Promise<void> | void;
  /** Frames already rendered by an earlier, interrupted attempt: they are reused, not rendered again. */
  completedFrames?: ReadonlyMap<number, RgbFrame>;
  /** The `states` that came with those frames ('blend'); a node whose state is missing is rendered again. */
  completedStates?: ReadonlyMap<number, Float32Array>;
  signal?: AbortSignal;
}

/** What a prompt lost to CLIP's 77-token window. */
export interface PromptTruncation {
  prompt: string;
  /** The words that did not fit, in order, as the user typed them. */
  droppedWords: string[];
}

export interface StageTimings {
  textEncodingMs: number;
  denoisingMs: number;
  decodingMs: number;
  outputEncodingMs?: number;
}

/** How the walk was placed, how smoothly it flows and what it cost. */
export interface WalkFigures {
  smooth: SmoothMode;
  /** Change between consecutive frames (grid: neighbouring cells), measured on the rendered frames. */
  smoothness: Smoothness;
  /**
   * What the walk costs: transformer runs (one per sampler step per batch) and frame-steps (one per frame per
   * step). Batches taken from a checkpoint count as they did when they were rendered.
   */
  transformerCalls: number;
  frameSteps: number;
  /**
   * Where each frame sits on the walk (morph: the slerp fraction 0..1; walk and loop: in the guide's frame
   * units; chain: in stops, prompt i at i), in walk order; a grid's are its column positions, then its row
   * positions.
   */
  positions: number[];
}

/** The engine always fills the walk figures in; reports stored by workers before they existed lack them. */
export interface RenderReport extends Partial<WalkFigures> {
  kind: WalkKind;
  prompts: string[];
  negative: string;
  seed: number;
  steps: number;
  guidance: number;
  width: number;
  height: number;
  frames: number;
  gridSize?: number;
  batchSize: number;
  provider: ProviderName;
  model: string;
  modelPath: string;
  sigmas: number[];
  timesteps: number[];
  timings: StageTimings;
  truncations: PromptTruncation[];
  /**
   * Words of the prompts the model does not know (text/Vocabulary.ts), when its pack declares a vocabulary;
   * absent for packs that declare none (real SD3 models).
   */
  unknownWords?: string[];
  /** Frames taken from `completedFrames` instead of being rendered. */
  resumedFrames: number;
  /** Present when the walk started from an image. */
  image?: InitImageReport;
  /** A chain with image stops: per stop, what its image did (null: a prompt-only stop). */
  stopImages?: (InitImageReport | null)[];
}

export interface RenderResult {
  /** Frames in walk order (grid: row-major, gridSize x gridSize). */
  frames: RgbFrame[];
  report: RenderReport & WalkFigures;
}
