/** A usage error: printed as one line, exit code 2. */
export class CliUsageError extends Error {
  override readonly name = 'CliUsageError';
}

export function parseNumberOption(name: string, raw: string | undefined, { integer = false } = {}): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    throw new CliUsageError(`--${name} must be ${integer ? 'an integer' : 'a number'}, got '${raw}'`);
  }
  return value;
}

/** The render options `latentwalk render` and `latentwalk jobs submit` share, for node:util parseArgs. */
export const RENDER_ARG_OPTIONS = {
  frames: { type: 'string' },
  'grid-size': { type: 'string' },
  steps: { type: 'string' },
  guidance: { type: 'string' },
  width: { type: 'string' },
  height: { type: 'string' },
  seed: { type: 'string' },
  negative: { type: 'string' },
  'batch-size': { type: 'string' },
  fps: { type: 'string' },
  'step-size': { type: 'string' },
  'vary-latents': { type: 'boolean' },
  'no-rubber-band': { type: 'boolean' },
  'max-bytes': { type: 'string' },
  smooth: { type: 'string' },
  out: { type: 'string' },
} as const;

/** `--smooth off|even|blend`, checked here so both commands refuse a bad value the same way. */
export function parseSmoothOption(raw: string | undefined): 'off' | 'even' | 'blend' | undefined {
  if (raw === undefined) return undefined;
  if (raw !== 'off' && raw !== 'even' && raw !== 'blend') throw new CliUsageError(`--smooth must be off, even or blend, got '${raw}'`);
  return raw;
}
