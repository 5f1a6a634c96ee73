/**
 * One render, start to finish: encode the prompts, plan the walk, then per batch of frames denoise and
 * decode, handing each decoded batch out (for checkpoints) and reporting progress. Frames a previous attempt
 * already finished are taken as they are.
 */
import { throwIfAborted } from './errors.ts';
import type { RgbFrame } from './frames.ts';
import type { ModelPack } from './pack/ModelPack.ts';
import { resolveSettings, validateSpec } from './RenderLimits.ts';
import { denoiseBatch, type LatentShape } from './sampler/Denoiser.ts';
import { createFlowMatchSchedule } from './sampler/FlowMatchSchedule.ts';
import { decodeLatents } from './sampler/VaeDecode.ts';
import type { PromptEncoder } from './text/PromptEncoder.ts';
import type { PromptTruncation, RenderOptions, RenderResult, RenderSettings, WalkSpec } from './types.ts';
import { planWalk } from './walks/WalkPlan.ts';

export async function renderWith(pack: ModelPack, encoder: PromptEncoder, spec: WalkSpec, settings: RenderSettings, options: RenderOptions = {}): Promise<RenderResult> {
  const { signal, onProgress, onBatch, completedFrames } = options;
  validateSpec(spec);
  const s = resolveSettings(pack, settings);
  throwIfAborted(signal);

  const schedule = createFlowMatchSchedule({ steps: s.steps, shift: pack.shift, trainTimesteps: pack.trainTimesteps });
  const latent: LatentShape = { channels: pack.transformer.latentChannels, height: s.height / pack.vae.scaleFactor, width: s.width / pack.vae.scaleFactor };
  const frameTotal = spec.kind === 'grid' ? spec.gridSize * spec.gridSize : spec.frames;

  const t0 = performance.now();
  onProgress?.({ stage: 'encode', framesDone: 0, framesTotal: frameTotal });
  const encoded = await Promise.all(spec.prompts.map((p) => encoder.encode(p)));
  const negative = await encoder.encode(s.negative);
  const truncations: PromptTruncation[] = encoded.flatMap((e) => (e.truncation ? [e.truncation] : []));
  if (negative.truncation) truncations.push(negative.truncation);
  const textEncodingMs = performance.now() - t0;
  throwIfAborted(signal);

  const plan = planWalk({ spec, embeddings: encoded.map((e) => e.embedding), seed: s.seed, noiseLength: latent.channels * latent.height * latent.width });
  const frames: (RgbFrame | undefined)[] = new Array(frameTotal);
  let resumed = 0;
  for (const [index, frame] of completedFrames ?? []) {
    if (index >= 0 && index < frameTotal && frame.width === s.width && frame.height === s.height) {
      frames[index] = frame;
      resumed++;
    }
  }
  const todo = [...frames.keys()].filter((i) => frames[i] === undefined);
  let done = resumed;
  let denoisingMs = 0;
  let decodingMs = 0;
  let renderedFrames = 0;
  const eta = () => (renderedFrames > 0 ? ((denoisingMs + decodingMs) / renderedFrames) * (frameTotal - done) / 1000 : undefined);

  for (let start = 0; start < todo.length; start += s.batchSize) {
    const indices = todo.slice(start, start + s.batchSize);
    const conditioning = indices.map((i) => plan.frame(i));
    const t1 = performance.now();
    const latents = await denoiseBatch({
      pack,
      frames: conditioning,
      negative: negative.embedding,
      schedule,
      guidance: s.guidance,
      latent,
      signal,
      onStep: (step, steps) => {
        const e = eta();
        onProgress?.({ stage: 'denoise', framesDone: done, framesTotal: frameTotal, step, steps, ...(e !== undefined ? { etaSeconds: e } : {}) });
      },
    });
    const t2 = performance.now();
    throwIfAborted(signal);
    onProgress?.({ stage: 'decode', framesDone: done, framesTotal: frameTotal });
    const decoded = await decodeLatents(pack, latents, indices.length, latent);
    const t3 = performance.now();
    denoisingMs += t2 - t1;
    decodingMs += t3 - t2;
    renderedFrames += indices.length;
    indices.forEach((frameIndex, k) => (frames[frameIndex] = decoded[k]!));
    done += indices.length;
    await onBatch?.({ indices, frames: decoded });
    const e = eta();
    onProgress?.({ stage: 'decode', framesDone: done, framesTotal: frameTotal, ...(e !== undefined ? { etaSeconds: e } : {}) });
  }

  return {
    frames: frames as RgbFrame[],
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
      timings: { textEncodingMs, denoisingMs, decodingMs },
      truncations,
      resumedFrames: resumed,
    },
  };
}
