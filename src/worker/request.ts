/** Turns a queued job into the engine's request: walk spec, sampler settings and encoder options. */
import type { RenderSettings, WalkSpec } from '../engine/types.ts';
import type { JobSpec } from '../jobs/contract.ts';
import type { BackendDefaults, EncodeRequest } from './backend.ts';

export interface EngineRequest {
  walk: WalkSpec;
  settings: RenderSettings;
  encode: Omit<EncodeRequest, 'signal'>;
  /** Frames (grid cells) the render produces. */
  framesTotal: number;
}

export function toEngineRequest(spec: JobSpec, defaults: BackendDefaults): EngineRequest {
  const s = spec.settings;
  const texts = spec.prompts.map((prompt) => prompt.text);
  const frames = s.frames ?? defaults.frames;
  let walk: WalkSpec;
  switch (spec.kind) {
    case 'morph':
      walk = { kind: 'morph', prompts: [texts[0]!, texts[1]!], frames };
      break;
    case 'grid':
      walk = {
        kind: 'grid',
        prompts: [texts[0]!, texts[1]!, texts[2]!, texts[3]!],
        // Same rule as `latentwalk render`: about as many cells as the pack's default frame count.
        gridSize: s.gridSize ?? Math.max(2, Math.round(Math.sqrt(defaults.frames))),
        ...(s.varyLatents !== undefined ? { varyLatents: s.varyLatents } : {}),
      };
      break;
    case 'walk':
      walk = { kind: 'walk', prompts: [texts[0]!], frames, ...(s.stepSize !== undefined ? { stepSize: s.stepSize } : {}) };
      break;
    case 'loop':
      walk = { kind: 'loop', prompts: [texts[0]!], frames };
      break;
    case 'chain':
      // Unless the job says, the pack's frames per leg (as `latentwalk render chain`).
      walk = { kind: 'chain', prompts: texts, frames: s.frames ?? defaults.frames * texts.length };
      break;
  }
  const settings: RenderSettings = { seed: s.seed };
  if (s.steps !== undefined) settings.steps = s.steps;
  if (s.guidance !== undefined) settings.guidance = s.guidance;
  if (s.width !== undefined) settings.width = s.width;
  if (s.height !== undefined) settings.height = s.height;
  if (s.negative !== undefined) settings.negative = s.negative;
  if (s.batchSize !== undefined) settings.batchSize = s.batchSize;
  // Submit fills `smooth` in; a job stored before it existed renders the guide's way, as it was asked for then.
  settings.smooth = s.smooth ?? 'off';
  // The image's bytes are fetched by the worker (InputImageStore); the strength travels here.
  if (s.image !== undefined && s.strength !== undefined) settings.strength = s.strength;

  const animated = spec.kind !== 'grid';
  const encode: Omit<EncodeRequest, 'signal'> = {
    // A job stored before MP4 / WebP existed has no format: it stays a GIF.
    format: s.format ?? (animated ? 'gif' : 'png'),
    maxBytes: spec.maxBytes,
    displayScale: defaults.displayScale,
  };
  if (animated) {
    encode.fps = s.fps ?? defaults.fps;
    // A loop and a chain are seamless already; morphs and walks play back and forth unless asked not to.
    encode.rubberBand = spec.kind === 'loop' || spec.kind === 'chain' ? false : (s.rubberBand ?? true);
  }
  const framesTotal = walk.kind === 'grid' ? walk.gridSize * walk.gridSize : walk.frames;
  return { walk, settings, encode, framesTotal };
}
