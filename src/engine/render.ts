/**
 * One render, start to finish: encode the prompts, plan the walk, then per batch of frames denoise and
 * decode, handing each decoded batch out (for checkpoints) and reporting progress. Frames a previous attempt
 * already finished are taken as they are.
 *
 * 'off' renders the guide's evenly spaced frames; 'even' and 'blend' let the walk's refinement plan
 * (walks/Refinement.ts, walks/GridRefinement.ts) place frames round by round from the frames already decoded.
 */
import { EngineError, throwIfAborted } from './errors.ts';
import { prepareInitImage } from './image/InitImage.ts';
import { StopImages, type FrameImageStart, type StopStart } from './image/StopImages.ts';
import { encodeImageLatent, noEncoder } from './sampler/VaeEncode.ts';
import type { RgbFrame } from './frames.ts';
import type { ModelPack } from './pack/ModelPack.ts';
import { resolveSettings, validateSpec, type ResolvedSettings } from './RenderLimits.ts';
import { denoiseBatch, type LatentShape } from './sampler/Denoiser.ts';
import { createFlowMatchSchedule, type FlowMatchSchedule } from './sampler/FlowMatchSchedule.ts';
import { gaussianNoise } from './sampler/GaussianNoise.ts';
import { decodeLatents } from './sampler/VaeDecode.ts';
import type { PromptEncoder } from './text/PromptEncoder.ts';
import { DEFAULT_STRENGTH, type InitImageReport, type PromptTruncation, type RenderOptions, type RenderProgress, type RenderResult, type RenderSettings, type WalkSpec } from './types.ts';
import { GridRefinement } from './walks/GridRefinement.ts';
import { PathRefinement, type PlannedNode, type RefinementPlan } from './walks/Refinement.ts';
import { slerp } from './walks/slerp.ts';
import { measureGrid, measureSequence } from './walks/Smoothness.ts';
import { evenPositions } from './walks/WalkPath.ts';
import { planWalk, walkExtent, walkPath, type FrameConditioning, type PromptEmbedding } from './walks/WalkPlan.ts';

export async function renderWith(pack: ModelPack, encoder: PromptEncoder, spec: WalkSpec, settings: RenderSettings, options: RenderOptions = {}): Promise<RenderResult> {
  const { signal, onProgress } = options;
  validateSpec(spec);
  const resolved = resolveSettings(pack, settings);
  const imageStops = spec.kind === 'chain' && spec.images?.some((image) => image !== undefined) ? spec.images : undefined;
  if (imageStops && settings.image) throw new EngineError('BAD_OPTION', 'a chain starts from images at its stops or from one image for every frame, not both');
  // 'blend' branches frames from their neighbours' latents at one shared start step; image stops start frames at
  // different steps, so such a chain places its frames by 'even' (each from its own start).
  const s: ResolvedSettings = imageStops && resolved.smooth === 'blend' ? { ...resolved, smooth: 'even' } : resolved;
  throwIfAborted(signal);

  const schedule = createFlowMatchSchedule({ steps: s.steps, shift: pack.shift, trainTimesteps: pack.trainTimesteps });
  const latent: LatentShape = { channels: pack.transformer.latentChannels, height: s.height / pack.vae.scaleFactor, width: s.width / pack.vae.scaleFactor };
  const frameTotal = spec.kind === 'grid' ? spec.gridSize * spec.gridSize : spec.frames;

  const t0 = performance.now();
  onProgress?.({ stage: 'encode', framesDone: 0, framesTotal: frameTotal });
  const init = settings.image ? await prepareImageStart(pack, settings.image, settings.strength ?? DEFAULT_STRENGTH, s, schedule, latent) : undefined;
  const stops = imageStops ? await prepareStopImages(pack, imageStops, s, schedule, latent, signal) : undefined;
  throwIfAborted(signal);
  const encoded = await Promise.all(spec.prompts.map((p) => encoder.encode(p)));
  const negative = await encoder.encode(s.negative);
  const truncations: PromptTruncation[] = encoded.flatMap((e) => (e.truncation ? [e.truncation] : []));
  if (negative.truncation) truncations.push(negative.truncation);
  const textEncodingMs = performance.now() - t0;
  throwIfAborted(signal);

  const runner = new BatchRunner({
    pack,
    schedule,
    latent,
    settings: s,
    negative: negative.embedding,
    frameTotal,
    options,
    ...(init ? { imageStart: init.start } : {}),
    ...(stops ? { stopImages: stops.starts } : {}),
  });
  // The walk is planned over the steps that run; the runner shifts its steps by the image's start step.
  const planned = init ? { ...s, steps: s.steps - init.start.step } : s;
  const embeddings = encoded.map((e) => e.embedding);
  const noiseLength = latent.channels * latent.height * latent.width;
  let walk: { frames: RgbFrame[]; positions: number[] };
  if (s.smooth === 'off') walk = await renderEvenlySpaced(runner, spec, embeddings, planned, noiseLength);
  else if (spec.kind === 'grid') walk = await renderRefinedGrid(runner, spec, embeddings, planned, noiseLength);
  else walk = await renderRefinedPath(runner, spec, embeddings, planned, noiseLength);

  const smoothness = spec.kind === 'grid' ? measureGrid(walk.frames, spec.gridSize) : measureSequence(walk.frames, spec.kind === 'loop' || spec.kind === 'chain');
  return {
    frames: walk.frames,
    report: {
      kind: spec.kind,
      prompts: [...spec.prompts],
      negative: s.negative,
      seed: s.seed,
      steps: s.steps,
      guidance: s.guidance,
      width: s.width,
      height: s.height,
      frames: frameTotal,
      ...(spec.kind === 'grid' ? { gridSize: spec.gridSize } : {}),
      batchSize: s.batchSize,
      provider: pack.provider,
      model: pack.name,
      modelPath: pack.dir,
      sigmas: [...schedule.sigmas],
      timesteps: [...schedule.timesteps],
      timings: { textEncodingMs, denoisingMs: runner.denoisingMs, decodingMs: runner.decodingMs },
      truncations,
      ...(pack.vocabulary ? { unknownWords: pack.vocabulary.unknownWords(spec.prompts) } : {}),
      resumedFrames: runner.resumed,
      smooth: s.smooth,
      smoothness,
      transformerCalls: runner.transformerCalls,
      frameSteps: runner.frameSteps,
      positions: walk.positions,
      ...(init ? { image: init.report } : {}),
      ...(stops ? { stopImages: stops.reports } : {}),
    },
  };
}

/**
 * img2img's start, as diffusers' StableDiffusion3Img2ImgPipeline: `t_start = steps - floor(steps * strength)`
 * (get_timesteps: int(max(steps - steps * strength, 0))), and each frame starts at sigma = sigmas[t_start] from
 * (1 - sigma) * image latent + sigma * its own noise (scale_noise).
 */
async function prepareImageStart(pack: ModelPack, bytes: Uint8Array, strength: number, s: ResolvedSettings, schedule: FlowMatchSchedule, latent: LatentShape) {
  if (!pack.vaeEncoder) throw noEncoder(pack);
  if (!(Number.isFinite(strength) && strength > 0 && strength <= 1)) throw new EngineError('BAD_OPTION', `strength must be above 0 and at most 1, got ${strength}`);
  const step = Math.trunc(Math.max(s.steps - s.steps * strength, 0));
  // int(x) of a positive x below steps: any strength above 0 runs at least the last step.
  const prepared = await prepareInitImage(bytes, s.width, s.height);
  const z = await encodeImageLatent(pack, prepared.frame, latent);
  const sigma = schedule.sigmas[step]!;
  const report: InitImageReport = { strength, startStep: step, startSigma: sigma, source: prepared.source, ...(prepared.crop ? { crop: prepared.crop } : {}) };
  return { start: { step, sigma, latent: z }, report };
}

/** A chain's image stops, each encoded and its start step set by its strength as prepareImageStart's. */
async function prepareStopImages(pack: ModelPack, images: readonly ({ image: Uint8Array; strength?: number } | undefined)[], s: ResolvedSettings, schedule: FlowMatchSchedule, latent: LatentShape, signal?: AbortSignal) {
  const starts: (StopStart | undefined)[] = [];
  const reports: (InitImageReport | null)[] = [];
  for (const [i, stop] of images.entries()) {
    if (!stop) {
      starts.push(undefined);
      reports.push(null);
      continue;
    }
    try {
      const { start, report } = await prepareImageStart(pack, stop.image, stop.strength ?? DEFAULT_STRENGTH, s, schedule, latent);
      starts.push({ latent: start.latent, step: start.step });
      reports.push(report);
    } catch (error) {
      // Which stop's picture is wrong, in the one line the user sees.
      if (error instanceof EngineError && error.code !== 'NO_VAE_ENCODER') throw new EngineError(error.code, `stop ${i + 1}: ${error.message}`);
      throw error;
    }
    throwIfAborted(signal);
  }
  return { starts: new StopImages(starts, schedule), reports };
}

/** The guide's walk: evenly spaced frames, each from noise; batches of consecutive frames. */
async function renderEvenlySpaced(runner: BatchRunner, spec: WalkSpec, embeddings: PromptEmbedding[], s: ResolvedSettings, noiseLength: number) {
  const plan = planWalk({ spec, embeddings, seed: s.seed, noiseLength });
  const frames: (RgbFrame | undefined)[] = new Array(plan.frameCount);
  // Frames a checkpoint holds are taken one by one; the rest are batched in order.
  const todo = [...frames.keys()].filter((i) => !runner.takeCompleted(i, [], (f) => (frames[i] = f)));
  let positions: number[];
  if (spec.kind === 'grid') {
    const even = Array.from({ length: spec.gridSize }, (_, i) => i / (spec.gridSize - 1));
    positions = [...even, ...even];
  } else {
    positions = evenPositions(walkExtent(spec), spec.frames);
  }
  // Image stops: frames that start at the same step go in one batch (in order within each step).
  const imageStart = (i: number) => runner.imageStartAt(positions[i]!);
  const starts = new Map(todo.map((i) => [i, imageStart(i)]));
  const stepOf = (i: number) => starts.get(i)?.step ?? 0;
  const ordered = runner.hasStopImages ? [...todo].sort((a, b) => stepOf(a) - stepOf(b) || a - b) : todo;
  for (let start = 0; start < ordered.length; ) {
    let end = start + 1;
    while (end < ordered.length && end - start < s.batchSize && stepOf(ordered[end]!) === stepOf(ordered[start]!)) end++;
    const indices = ordered.slice(start, end);
    start = end;
    const out = await runner.render(indices.map((i) => ({ index: i, conditioning: plan.frame(i), startStep: 0, keepSteps: [], image: starts.get(i) })));
    indices.forEach((i, k) => (frames[i] = out[k]!.frame));
  }
  if (!runner.hasStopImages) {
    // The walk's cost whether or not a checkpoint supplied some frames: consecutive batches of batchSize.
    runner.transformerCalls = Math.ceil(plan.frameCount / s.batchSize) * s.steps;
    runner.frameSteps = plan.frameCount * s.steps;
  }
  return { frames: frames as RgbFrame[], positions };
}

async function renderRefinedPath(runner: BatchRunner, spec: Exclude<WalkSpec, { kind: 'grid' }>, embeddings: PromptEmbedding[], s: ResolvedSettings, noiseLength: number) {
  const plan = new PathRefinement(walkPath(spec, embeddings, s.seed, noiseLength), { mode: s.smooth as 'even' | 'blend', frames: spec.frames, steps: s.steps, batchSize: s.batchSize });
  await renderPlan(runner, plan);
  const { frames, positions } = plan.result();
  return { frames, positions };
}

async function renderRefinedGrid(runner: BatchRunner, spec: Extract<WalkSpec, { kind: 'grid' }>, embeddings: PromptEmbedding[], s: ResolvedSettings, noiseLength: number) {
  const fixed = spec.varyLatents ? undefined : gaussianNoise(s.seed, noiseLength);
  const plan = new GridRefinement(embeddings as [PromptEmbedding, PromptEmbedding, PromptEmbedding, PromptEmbedding], {
    mode: s.smooth as 'even' | 'blend',
    gridSize: spec.gridSize,
    steps: s.steps,
    batchSize: s.batchSize,
    // Per-node noise streams when the cells vary their latents: a node's cell is only known once the grid is placed.
    noise: (node) => fixed ?? gaussianNoise(s.seed, noiseLength, node),
  });
  await renderPlan(runner, plan);
  const { cells, columns, rows } = plan.result();
  return { frames: cells, positions: [...columns, ...rows] };
}

/** scale_noise: (1 - sigma) * image latent + sigma * noise. */
function noisedImage(start: { sigma: number; latent: Float32Array }, noise: Float32Array): Float32Array {
  const { sigma, latent } = start;
  const out = new Float32Array(noise.length);
  for (let i = 0; i < out.length; i++) out[i] = (1 - sigma) * latent[i]! + sigma * noise[i]!;
  return out;
}

/** Round by round: the plan places nodes from the frames it has, the runner renders (or resumes) them. */
async function renderPlan(runner: BatchRunner, plan: RefinementPlan): Promise<void> {
  for (let round = plan.nextRound(); round; round = plan.nextRound()) {
    const done = await runner.renderNodes(round, (node) => plan.conditioning(node));
    done.forEach((frame, k) => plan.complete(round[k]!.index, frame));
  }
}

interface BatchItem {
  index: number;
  /** `noise` is the state at `startStep`. */
  conditioning: FrameConditioning;
  startStep: number;
  keepSteps: readonly number[];
  /** A chain's image stops: where this frame starts, when an image has a share in it. */
  image?: FrameImageStart | undefined;
}

interface RunnerContext {
  /** Image input: frames that would start from noise start at `step` from the noised image latent instead. */
  imageStart?: { step: number; sigma: number; latent: Float32Array };
  /** A chain's image stops: each frame's start by its position on the path. */
  stopImages?: StopImages;
  pack: ModelPack;
  schedule: FlowMatchSchedule;
  latent: LatentShape;
  settings: ResolvedSettings;
  negative: PromptEmbedding;
  frameTotal: number;
  options: RenderOptions;
}

/**
 * Denoises and decodes batches, with progress, checkpoint hand-outs, resumption and the cost counters. Keeps
 * the latents 'blend' nodes keep for later branches, by node and step.
 */
class BatchRunner {
  denoisingMs = 0;
  decodingMs = 0;
  transformerCalls = 0;
  frameSteps = 0;
  resumed = 0;
  private done = 0;
  private renderedFrames = 0;
  private readonly perFrame: number;
  private readonly states = new Map<number, Map<number, Float32Array>>();

  constructor(private readonly ctx: RunnerContext) {
    this.perFrame = ctx.latent.channels * ctx.latent.height * ctx.latent.width;
  }

  get hasStopImages(): boolean {
    return this.ctx.stopImages !== undefined;
  }

  /** Where the frame at `position` starts, with image stops; undefined: from the walk's noise at step 0. */
  imageStartAt(position: number): FrameImageStart | undefined {
    return this.ctx.stopImages?.at(position);
  }

  /**
   * Takes node `index` from the checkpoint when its frame (and, when it keeps latents, its state) is there;
   * returns whether it did.
   */
  takeCompleted(index: number, keepSteps: readonly number[], take: (frame: RgbFrame) => void): boolean {
    const { completedFrames, completedStates } = this.ctx.options;
    const frame = completedFrames?.get(index);
    const s = this.ctx.settings;
    if (!frame || frame.width !== s.width || frame.height !== s.height) return false;
    if (keepSteps.length > 0) {
      const state = completedStates?.get(index);
      if (!state || state.length !== keepSteps.length * this.perFrame) return false;
      this.keep(index, keepSteps, state);
    }
    take(frame);
    this.resumed++;
    this.done++;
    return true;
  }

  /**
   * A round's nodes in batches of one start step each; a batch wholly in the checkpoint is taken from it, any
   * other is rendered whole (so its frames come from the same batch as before). Frames in the nodes' order.
   */
  async renderNodes(nodes: readonly PlannedNode[], conditioningAt: (node: PlannedNode) => FrameConditioning): Promise<RgbFrame[]> {
    const frames: RgbFrame[] = [];
    const b = this.ctx.settings.batchSize;
    for (let start = 0; start < nodes.length; ) {
      let end = start + 1;
      const imageStep = (n: PlannedNode) => this.imageStartAt(n.position)?.step ?? 0;
      while (end < nodes.length && end - start < b && nodes[end]!.startStep === nodes[start]!.startStep && imageStep(nodes[end]!) === imageStep(nodes[start]!)) end++;
      const batch = nodes.slice(start, end);
      start = end;
      const taken: RgbFrame[] = [];
      const before = { resumed: this.resumed, done: this.done };
      if (batch.every((n) => this.takeCompleted(n.index, n.keepSteps, (f) => taken.push(f)))) {
        frames.push(...taken);
        this.count(batch.length, batch[0]!.startStep + (this.imageStartAt(batch[0]!.position)?.step ?? 0));
        this.ctx.options.onProgress?.({ stage: 'decode', framesDone: this.done, framesTotal: this.ctx.frameTotal });
        continue;
      }
      this.resumed = before.resumed;
      this.done = before.done;
      const out = await this.render(
        batch.map((n) => ({
          index: n.index,
          conditioning: n.blend ? { ...conditioningAt(n), noise: this.blendStart(n) } : conditioningAt(n),
          startStep: n.startStep,
          keepSteps: n.keepSteps,
          image: this.imageStartAt(n.position),
        })),
      );
      frames.push(...out.map((o) => o.frame));
    }
    return frames;
  }

  /** Denoises and decodes one batch (all items share a start step and keep steps). */
  async render(items: readonly BatchItem[]): Promise<{ frame: RgbFrame }[]> {
    const { pack, schedule, latent, settings: s, negative, frameTotal, options, imageStart } = this.ctx;
    const { signal, onProgress, onBatch } = options;
    // Plans count steps from the first one that runs; with an image that is the image's start step.
    // A chain's image stop: the batch shares its start step (the runner's callers group by it).
    const stopStart = items[0]!.image;
    const offset = imageStart?.step ?? stopStart?.step ?? 0;
    const startStep = items[0]!.startStep + offset;
    const keepSteps = items[0]!.keepSteps.map((k) => k + offset);
    const fromImage = imageStart && items[0]!.startStep === 0;
    const t1 = performance.now();
    const denoised = await denoiseBatch({
      pack,
      frames: fromImage
        ? items.map((i) => ({ ...i.conditioning, noise: noisedImage(imageStart, i.conditioning.noise) }))
        : stopStart
          ? items.map((i) => ({ ...i.conditioning, noise: noisedImage(i.image!, i.conditioning.noise) }))
          : items.map((i) => i.conditioning),
      negative,
      schedule,
      guidance: s.guidance,
      latent,
      signal,
      startStep,
      keepSteps,
      onStep: (step, steps) => {
        const e = this.eta();
        onProgress?.({ stage: 'denoise', framesDone: this.done, framesTotal: frameTotal, step, steps, ...(e !== undefined ? { etaSeconds: e } : {}) });
      },
    });
    const t2 = performance.now();
    throwIfAborted(signal);
    onProgress?.({ stage: 'decode', framesDone: this.done, framesTotal: frameTotal });
    const decoded = await decodeLatents(pack, denoised.latents, items.length, latent);
    const t3 = performance.now();
    this.denoisingMs += t2 - t1;
    this.decodingMs += t3 - t2;
    this.renderedFrames += items.length;
    this.count(items.length, startStep - (imageStart?.step ?? 0));
    this.done += items.length;
    let states: Float32Array[] | undefined;
    if (keepSteps.length > 0) {
      states = items.map((item, k) => {
        const state = new Float32Array(keepSteps.length * this.perFrame);
        keepSteps.forEach((step, j) => state.set(denoised.kept.get(step)!.subarray(k * this.perFrame, (k + 1) * this.perFrame), j * this.perFrame));
        this.keep(item.index, item.keepSteps, state);
        return state;
      });
    }
    await onBatch?.({ indices: items.map((i) => i.index), frames: decoded, ...(states ? { states } : {}) });
    const e = this.eta();
    onProgress?.({ stage: 'decode', framesDone: this.done, framesTotal: frameTotal, ...(e !== undefined ? { etaSeconds: e } : {}) } satisfies RenderProgress);
    return decoded.map((frame) => ({ frame }));
  }

  /** The start of a blended node: slerp of its parents' latents at its start step (grid cells: of two such slerps). */
  private blendStart(node: PlannedNode): Float32Array {
    const at = (index: number) => {
      const state = this.states.get(index)?.get(node.startStep);
      if (!state) throw new Error(`node ${node.index} branches from node ${index}, which kept no latent at step ${node.startStep}`);
      return state;
    };
    const mixes = node.blend!.pairs.map((p) => slerp(p.fraction, at(p.from[0]), at(p.from[1])));
    return mixes.length === 1 ? mixes[0]! : slerp(0.5, mixes[0]!, mixes[1]!);
  }

  private keep(index: number, steps: readonly number[], state: Float32Array): void {
    const byStep = new Map<number, Float32Array>();
    steps.forEach((step, j) => byStep.set(step, state.subarray(j * this.perFrame, (j + 1) * this.perFrame)));
    this.states.set(index, byStep);
  }

  /** `startStep` as the plan counts it (from the first step that runs; with image stops, the batch's own first step). */
  private count(frames: number, startStep: number): void {
    const steps = this.ctx.schedule.timesteps.length - (this.ctx.imageStart?.step ?? 0) - startStep;
    this.transformerCalls += steps;
    this.frameSteps += steps * frames;
  }

  private eta(): number | undefined {
    return this.renderedFrames > 0 ? (((this.denoisingMs + this.decodingMs) / this.renderedFrames) * (this.ctx.frameTotal - this.done)) / 1000 : undefined;
  }
}
