/**
 * Resolving a render request against a pack: defaults filled in, and every value checked with a message
 * that names the option and the allowed range (the CLI prints it as is; the queue checks its own, tighter
 * limits before a job is ever accepted).
 */
import { EngineError } from './errors.ts';
import type { ModelPack } from './pack/ModelPack.ts';
import type { RenderSettings, WalkSpec } from './types.ts';
import { DEFAULT_SMOOTH_MODE, SMOOTH_MODES, type SmoothMode } from './walks/Refinement.ts';

export const ENGINE_LIMITS = {
  frames: { min: 2, max: 512 },
  gridSize: { min: 2, max: 10 },
  steps: { min: 1, max: 200 },
  guidance: { min: 0, max: 50 },
  size: { min: 16, max: 4096 },
  batchSize: { min: 1, max: 64 },
  stepSize: { min: -1, max: 1 },
  /** Prompts (stops) of a chain. */
  chainStops: { min: 2, max: 8 },
} as const;

export interface ResolvedSettings {
  seed: number;
  steps: number;
  guidance: number;
  width: number;
  height: number;
  negative: string;
  batchSize: number;
  smooth: SmoothMode;
}

function badOption(message: string): never {
  throw new EngineError('BAD_OPTION', message);
}

function checkRange(name: string, value: number, range: { min: number; max: number }, integer = true): void {
  if (!Number.isFinite(value) || (integer && !Number.isInteger(value)) || value < range.min || value > range.max) {
    badOption(`${name} must be ${integer ? 'an integer ' : ''}from ${range.min} to ${range.max}, got ${value}`);
  }
}

export function validateSpec(spec: WalkSpec): void {
  if (spec.kind === 'chain') {
    const { min, max } = ENGINE_LIMITS.chainStops;
    if (spec.prompts.length < min || spec.prompts.length > max) badOption(`chain takes ${min} to ${max} prompts, got ${spec.prompts.length}`);
  } else {
    const expected = { morph: 2, grid: 4, walk: 1, loop: 1 }[spec.kind];
    if (spec.prompts.length !== expected) badOption(`${spec.kind} takes ${expected} prompt${expected > 1 ? 's' : ''}, got ${spec.prompts.length}`);
  }
  for (const p of spec.prompts) if (typeof p !== 'string') badOption('prompts must be strings');
  if (spec.kind === 'grid') checkRange('grid size', spec.gridSize, ENGINE_LIMITS.gridSize);
  else checkRange('frames', spec.frames, ENGINE_LIMITS.frames);
  // Every stop of a chain is one of its frames.
  if (spec.kind === 'chain' && spec.frames < spec.prompts.length) badOption(`a chain of ${spec.prompts.length} prompts needs at least ${spec.prompts.length} frames, got ${spec.frames}`);
  if (spec.kind === 'chain' && spec.images !== undefined && spec.images.length !== spec.prompts.length) {
    badOption(`a chain's stop images go one per prompt (undefined for none): ${spec.prompts.length} prompts, ${spec.images.length} images`);
  }
  if (spec.kind === 'walk' && spec.stepSize !== undefined) checkRange('step size', spec.stepSize, ENGINE_LIMITS.stepSize, false);
}

export function resolveSettings(pack: ModelPack, settings: RenderSettings): ResolvedSettings {
  const d = pack.defaults;
  const r: ResolvedSettings = {
    seed: settings.seed,
    steps: settings.steps ?? d.steps,
    guidance: settings.guidance ?? d.guidance,
    width: settings.width ?? d.width,
    height: settings.height ?? d.height,
    negative: settings.negative ?? '',
    batchSize: settings.batchSize ?? d.batchSize,
    smooth: settings.smooth ?? DEFAULT_SMOOTH_MODE,
  };
  if (!SMOOTH_MODES.includes(r.smooth)) badOption(`smooth must be one of ${SMOOTH_MODES.join(', ')}, got ${String(r.smooth)}`);
  if (!Number.isSafeInteger(r.seed) || r.seed < 0) badOption(`seed must be a non-negative integer, got ${r.seed}`);
  checkRange('steps', r.steps, ENGINE_LIMITS.steps);
  checkRange('guidance', r.guidance, ENGINE_LIMITS.guidance, false);
  checkRange('batch size', r.batchSize, ENGINE_LIMITS.batchSize);
  const multiple = pack.vae.scaleFactor * pack.transformer.patchSize;
  for (const [name, v] of [['width', r.width], ['height', r.height]] as const) {
    checkRange(name, v, ENGINE_LIMITS.size);
    if (v % multiple !== 0) badOption(`${name} must be a multiple of ${multiple} for this model (VAE factor ${pack.vae.scaleFactor} x patch ${pack.transformer.patchSize}), got ${v}`);
  }
  checkModelSize(pack, r.width, r.height);
  return r;
}

/** The one size (pixels) the model renders when its transformer graph fixes the latent dims; else undefined. */
export function fixedRenderSize(pack: ModelPack): { width: number; height: number } | undefined {
  const fixed = pack.transformer.fixedLatent;
  return fixed && { width: fixed.width * pack.vae.scaleFactor, height: fixed.height * pack.vae.scaleFactor };
}

/** A size the transformer graph cannot take fails here, naming the size it can, not deep inside onnxruntime. */
function checkModelSize(pack: ModelPack, width: number, height: number): void {
  const fixed = fixedRenderSize(pack);
  if (fixed && (fixed.width !== width || fixed.height !== height)) {
    const latent = pack.transformer.fixedLatent!;
    badOption(`this model renders ${fixed.width}x${fixed.height} only (its transformer takes a fixed ${latent.width}x${latent.height} latent), got ${width}x${height}`);
  }
}
