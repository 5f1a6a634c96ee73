/**
 * The flow-matching Euler schedule of SD3, numerically as diffusers' `FlowMatchEulerDiscreteScheduler`
 * (`set_timesteps` without dynamic shifting), which KerasHub and Stability's reference reproduce.
 *
 * diffusers builds its training sigmas in float32 (torch), takes sigma_min/sigma_max from them, then does
 * `linspace(sigma_max * N, sigma_min * N, steps)`, divides by N and shifts in float64 (numpy), and casts the
 * result to float32. The shift is therefore applied twice to sigma_min (once in __init__, once here), which is
 * why SD3's last non-zero sigma is 0.008929 and not 0.002994. `Math.fround` marks each float32 rounding.
 */
export interface FlowMatchScheduleOptions {
  steps: number;
  /** SD3 uses 3.0 (scheduler_config.json); 1.0 means no shift. */
  shift: number;
  /** diffusers' `num_train_timesteps`. */
  trainTimesteps?: number;
}

export interface FlowMatchSchedule {
  /** steps + 1 values, descending, the last one 0. */
  readonly sigmas: readonly number[];
  /** The transformer's `timestep` input for each step: sigma * trainTimesteps. */
  readonly timesteps: readonly number[];
  readonly shift: number;
}

/** The shift in float32, as torch computes it in __init__. */
function shiftFloat32(sigma: number, shift: number): number {
  const f = Math.fround;
  return f(f(shift * sigma) / f(1 + f((shift - 1) * sigma)));
}

function shiftFloat64(sigma: number, shift: number): number {
  return (shift * sigma) / (1 + (shift - 1) * sigma);
}

/** numpy.linspace(start, stop, num), endpoints included, in float64 as numpy computes it. */
export function linspace(start: number, stop: number, num: number): number[] {
  if (num === 1) return [start];
  const step = (stop - start) / (num - 1);
  const out = new Array<number>(num);
  for (let i = 0; i < num; i++) out[i] = start + i * step;
  // numpy sets the last element to `stop` exactly
  out[num - 1] = stop;
  return out;
}

export function createFlowMatchSchedule(options: FlowMatchScheduleOptions): FlowMatchSchedule {
  const { steps, shift } = options;
  const n = options.trainTimesteps ?? 1000;
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`steps must be a positive integer, got ${steps}`);
  if (!(shift > 0)) throw new RangeError(`shift must be > 0, got ${shift}`);

  // __init__: timesteps = 1..N (float32), sigmas = t / N, shifted in float32
  const sigmaMax = shift === 1 ? Math.fround(n / n) : shiftFloat32(Math.fround(n / n), shift);
  const sigmaMin = shift === 1 ? Math.fround(1 / n) : shiftFloat32(Math.fround(1 / n), shift);

  const ts = linspace(sigmaMax * n, sigmaMin * n, steps);
  const sigmas = ts.map((t) => Math.fround(shiftFloat64(t / n, shift)));
  const timesteps = sigmas.map((s) => Math.fround(s * n));
  sigmas.push(0);
  return { sigmas, timesteps, shift };
}
