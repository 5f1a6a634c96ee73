/**
 * Checks of user input against the job layer's global limits and the guild's own, before anything is queued.
 * Every failure is one sentence that says what to change; the bot shows it ephemerally.
 */
import type { JobKind, JobLimits } from '../jobs/index.ts';
import { findBlocked, type GuildSettings } from './GuildSettings.ts';

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
}

/** SD3 works in 16-pixel patches. */
export const SIZE_MULTIPLE = 16;
export const MAX_SEED = 0xffffffff;

export class InputError extends Error {
  override readonly name = 'InputError';
}

/** Returns the trimmed prompt, or throws InputError saying what is wrong with it. */
export function checkPrompt(raw: string | null | undefined, label: string, limits: JobLimits, guild: GuildSettings): string {
  const text = (raw ?? '').replace(/\s+/g, ' ').trim();
  if (text.length === 0) {
    throw new InputError(`The ${label} is empty: write a few words describing a picture, e.g. "a lighthouse at dusk".`);
  }
  if (text.length > limits.maxPromptChars) {
    throw new InputError(
      `The ${label} is ${text.length} characters long; keep it to ${limits.maxPromptChars} or fewer (the model only reads about 77 tokens anyway).`,
    );
  }
  const blocked = findBlocked(text, guild.blocklist);
  if (blocked !== undefined) {
    throw new InputError(`The ${label} contains "${blocked}", which this server does not allow; rephrase it and try again.`);
  }
  return text;
}

/** Checks the numeric options against the global and guild limits; throws InputError. */
export function checkOptions(kind: JobKind, options: RenderOptions, limits: JobLimits, guild: GuildSettings): void {
  const maxFrames = Math.min(limits.maxFrames, guild.maxFrames);
  if (options.frames !== undefined) {
    if (!Number.isInteger(options.frames) || options.frames < 2) throw new InputError('frames must be a whole number of at least 2.');
    if (options.frames > maxFrames) {
      throw new InputError(`${options.frames} frames is over this server's limit of ${maxFrames}; ask for ${maxFrames} or fewer.`);
    }
  }
  if (options.steps !== undefined) {
    if (!Number.isInteger(options.steps) || options.steps < 1) throw new InputError('steps must be a whole number of at least 1.');
    if (options.steps > limits.maxSteps) {
      throw new InputError(`${options.steps} steps is over this bot's limit of ${limits.maxSteps}; ask for ${limits.maxSteps} or fewer.`);
    }
  }
  if (options.size !== undefined) {
    if (!Number.isInteger(options.size) || options.size < SIZE_MULTIPLE || options.size % SIZE_MULTIPLE !== 0) {
      const lower = Math.max(SIZE_MULTIPLE, Math.floor(options.size / SIZE_MULTIPLE) * SIZE_MULTIPLE);
      throw new InputError(`size must be a multiple of ${SIZE_MULTIPLE} pixels (the model works in ${SIZE_MULTIPLE}-pixel patches); try ${lower}.`);
    }
    if (options.size > limits.maxSide) {
      throw new InputError(`size ${options.size} is larger than this bot renders; use ${limits.maxSide} pixels or less.`);
    }
  }
  if (options.gridSize !== undefined) {
    if (kind !== 'grid') throw new InputError('grid_size only applies to /grid.');
    if (!Number.isInteger(options.gridSize) || options.gridSize < 2) throw new InputError('grid_size must be a whole number of at least 2.');
    if (options.gridSize > limits.maxGridSize) {
      throw new InputError(`a ${options.gridSize}x${options.gridSize} grid is too large; use ${limits.maxGridSize} or less.`);
    }
  }
  if (options.guidance !== undefined && (!Number.isFinite(options.guidance) || options.guidance < 0 || options.guidance > 30)) {
    throw new InputError('guidance must be between 0 and 30.');
  }
  if (options.fps !== undefined && (!Number.isFinite(options.fps) || options.fps < 1 || options.fps > 50)) {
    throw new InputError('fps must be between 1 and 50.');
  }
  if (options.stepSize !== undefined && (!Number.isFinite(options.stepSize) || options.stepSize < -1 || options.stepSize > 1)) {
    throw new InputError('step_size must be between -1 and 1.');
  }
  if (options.seed !== undefined && (!Number.isInteger(options.seed) || options.seed < 0 || options.seed > MAX_SEED)) {
    throw new InputError(`seed must be a whole number from 0 to ${MAX_SEED}.`);
  }
}
