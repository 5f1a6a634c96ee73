/**
 * Checks of user input against the job layer's global limits and the guild's own, before anything is queued.
 * Every failure is one sentence that says what to change; the bot shows it ephemerally.
 */
import type { AnimationFormat } from '../jobs/contract.ts';
import { hasVisibleCharacter, normalizePrompt, promptLength, type JobKind, type JobLimits } from '../jobs/index.ts';
import { findBlocked, type GuildSettings } from './GuildSettings.ts';
import { safePrompt } from './replies/text.ts';

/** What a command collected: prompts are texts; contributors are attached later. */
export interface RenderOptions {
  seed?: number;
  frames?: number;
  steps?: number;
  guidance?: number;
  fps?: number;
  /** Width and height (square). */
  size?: number;
  gridSize?: number;
  varyLatents?: boolean;
  stepSize?: number;
  /** Animations: gif, mp4 or webp (the server's default when absent). */
  format?: AnimationFormat;
}

/** SD3 works in 16-pixel patches. */
export const SIZE_MULTIPLE = 16;
export const MAX_SEED = 0xffffffff;

export interface Range {
  min: number;
  max: number;
}

/**
 * Every bound the bot enforces on a render option, from the job layer's limits: the registered commands carry
 * the same numbers (commands/options.ts), so Discord's client refuses a value out of range before the bot
 * sees it. A server's own `max_frames` can only be lower; the bot checks that one with a message.
 */
export function renderOptionBounds(limits: JobLimits) {
  return {
    frames: { min: 2, max: limits.maxFrames },
    steps: { min: 1, max: limits.maxSteps },
    size: { min: SIZE_MULTIPLE, max: limits.maxSide },
    gridSize: { min: 2, max: limits.maxGridSize },
    guidance: { min: 0, max: 30 },
    fps: { min: 1, max: 50 },
    stepSize: { min: -1, max: 1 },
    seed: { min: 0, max: MAX_SEED },
    /** Code points (promptText.ts); Discord's own cap on a string option is 6000. */
    promptChars: { min: 1, max: Math.min(6000, limits.maxPromptChars) },
  } satisfies Record<string, Range>;
}

export class InputError extends Error {
  override readonly name = 'InputError';
}

/**
 * Returns the prompt as it will be rendered (promptText.ts: whitespace folded, lone surrogates dropped), or
 * throws InputError saying what is wrong with it. A prompt with no visible character is an empty one.
 */
export function checkPrompt(raw: string | null | undefined, label: string, limits: JobLimits, guild: GuildSettings): string {
  const text = normalizePrompt(raw ?? '');
  if (!hasVisibleCharacter(text)) {
    throw new InputError(`The ${label} is empty: write a few words describing a picture, e.g. "a lighthouse at dusk".`);
  }
  const length = promptLength(text);
  if (length > limits.maxPromptChars) {
    throw new InputError(
      `The ${label} is ${length} characters long; keep it to ${limits.maxPromptChars} or fewer (the model only reads about 77 tokens anyway).`,
    );
  }
  const blocked = findBlocked(text, guild.blocklist);
  if (blocked !== undefined) {
    throw new InputError(`The ${label} contains “${safePrompt(blocked, 80)}”, which this server does not allow; rephrase it and try again.`);
  }
  return text;
}

/** Checks the numeric options against the global and guild limits; throws InputError. */
export function checkOptions(kind: JobKind, options: RenderOptions, limits: JobLimits, guild: GuildSettings): void {
  const bounds = renderOptionBounds(limits);
  const maxFrames = Math.min(bounds.frames.max, guild.maxFrames);
  if (options.frames !== undefined) {
    if (!Number.isInteger(options.frames) || options.frames < bounds.frames.min) throw new InputError(`frames must be a whole number of at least ${bounds.frames.min}.`);
    if (options.frames > maxFrames) {
      throw new InputError(`${options.frames} frames is over this server's limit of ${maxFrames}; ask for ${maxFrames} or fewer.`);
    }
  }
  if (options.steps !== undefined) {
    if (!Number.isInteger(options.steps) || options.steps < bounds.steps.min) throw new InputError(`steps must be a whole number of at least ${bounds.steps.min}.`);
    if (options.steps > bounds.steps.max) {
      throw new InputError(`${options.steps} steps is over this bot's limit of ${bounds.steps.max}; ask for ${bounds.steps.max} or fewer.`);
    }
  }
  if (options.size !== undefined) {
    if (!Number.isInteger(options.size) || options.size < bounds.size.min || options.size % SIZE_MULTIPLE !== 0) {
      const lower = Math.max(SIZE_MULTIPLE, Math.floor(options.size / SIZE_MULTIPLE) * SIZE_MULTIPLE);
      throw new InputError(`size must be a multiple of ${SIZE_MULTIPLE} pixels (the model works in ${SIZE_MULTIPLE}-pixel patches); try ${lower}.`);
    }
    if (options.size > bounds.size.max) {
      throw new InputError(`size ${options.size} is larger than this bot renders; use ${bounds.size.max} pixels or less.`);
    }
  }
  if (options.format !== undefined && kind === 'grid') throw new InputError('format only applies to animations; a grid is one image.');
  if (options.gridSize !== undefined) {
    if (kind !== 'grid') throw new InputError('grid_size only applies to /grid.');
    if (!Number.isInteger(options.gridSize) || options.gridSize < bounds.gridSize.min) throw new InputError(`grid_size must be a whole number of at least ${bounds.gridSize.min}.`);
    if (options.gridSize > bounds.gridSize.max) {
      throw new InputError(`a ${options.gridSize}x${options.gridSize} grid is too large; use ${bounds.gridSize.max} or less.`);
    }
  }
  const inRange = (value: number | undefined, range: Range) => value === undefined || (Number.isFinite(value) && value >= range.min && value <= range.max);
  if (!inRange(options.guidance, bounds.guidance)) throw new InputError(`guidance must be between ${bounds.guidance.min} and ${bounds.guidance.max}.`);
  if (!inRange(options.fps, bounds.fps)) throw new InputError(`fps must be between ${bounds.fps.min} and ${bounds.fps.max}.`);
  if (!inRange(options.stepSize, bounds.stepSize)) throw new InputError(`step_size must be between ${bounds.stepSize.min} and ${bounds.stepSize.max}.`);
  if (options.seed !== undefined && (!Number.isInteger(options.seed) || !inRange(options.seed, bounds.seed))) {
    throw new InputError(`seed must be a whole number from ${bounds.seed.min} to ${bounds.seed.max}.`);
  }
}
