/**
 * The byte budget: encode, and while the file is over `maxBytes`, step down a fixed ladder and re-encode.
 *
 * GIF ladder, in order (each step keeps the earlier ones):
 *   1. tolerance x2, twice: 0.75 -> 1.5 -> 3 (see gif.ts: more pixels kept from the displayed frame or
 *      repeated from the left)
 *   2. colours 256 -> 128
 *   3. frame size x0.75 (512 -> 384)
 *   4. every 2nd frame dropped, delay doubled (same duration; first and last frames kept)
 *   5. colours 128 -> 64
 *   6. then frame size x0.75 and frame halving in turn, until neither is possible (a size step would take
 *      the smaller side under 64 px; halving needs 3+ frames); then BUDGET_UNREACHABLE.
 * Why this order (64 x 512^2 synthetic walk from bench/gif.ts, our encoder, each step on top of the last;
 * the reference notes' gifenc figures point the same way):
 *   - tolerance is the cheapest per byte: -14% for -0.4 dB, then -24% for -1.0 dB, and nothing the viewer
 *     can name changes (same size, fps, palette); the reference measured -24% / -44% for its T=8 / T=16.
 *   - 128 colours: -20% for -1.5 dB; without dithering it shows as mild banding on smooth gradients, but
 *     size and motion are intact (reference: -19%).
 *   - one 0.75 size step: -47% (area 0.56) and only fine detail goes; a 384 px GIF still fills a chat
 *     preview (reference: -45%).
 *   - halving the frames: -41% (reference: -50%), but the walk's point is a smooth morph and 5 fps looks
 *     steppy, so it comes after the first size step, not before.
 *   - 64 colours: only -15% more for another -1.4 dB of banding: the worst deal, so it waits until here.
 * PNG ladder: truecolour (zlib 9, adaptive filters) -> 256-colour palette (libimagequant, dithered: -69% for
 * 37 dB on a 2x2 grid of the walk's frames) -> size x0.75 steps -> 16 colours as a last resort (26 dB). No
 * 128 / 64 steps: sharp rounds a PNG palette up to a whole bit depth, so those come out byte-identical to 256.
 * JPEG ladder (mozjpeg): quality 90 -> 80 -> 70 -> 60 -> 50 (-45%, -33%, -24%, -22% on that grid) -> size x0.75
 * steps. Sizes never go under 64 px on the smaller side.
 *
 * When the file is far over budget several steps are taken before the next encode: each step has an
 * expected size factor picked on the generous side of what it measured, and steps are added until the
 * predicted size fits. So a step that would have been enough on its own is rarely skipped, and a 100x
 * over-budget render does not pay for ten encodes.
 */
import { EngineError, throwIfAborted } from '../errors.ts';
import type { RgbFrame } from '../frames.ts';
import { pingPongOrder } from './frameOrder.ts';
import { DEFAULT_TOLERANCE, encodeGif, gifDelayCs, type GifResult } from './gif.ts';
import { encodeImage, type ImageFormat } from './grid.ts';
import { resizeFrames, type ResizeKernel } from './resize.ts';

/** Frame-size steps stop before the smaller side goes under this. */
export const MIN_SIDE_PX = 64;
export const SCALE_STEP = 0.75;

export interface Step<P> {
  plan: P;
  reduction: string;
  /** Guess of new size / old size, on the generous side (at or below what the step measured on the bench
   * content), used to take several steps before one encode without overshooting. */
  expected: number;
}

interface Attempt {
  bytes: Uint8Array;
}

/**
 * Runs `encode(plan)` and walks `next` until the bytes fit. `next` returns null when no reduction is left.
 * Throws BUDGET_UNREACHABLE with `what` and the reductions tried.
 */
export async function fitBudget<P, R extends Attempt>(
  initial: P,
  next: (plan: P) => Step<P> | null,
  encode: (plan: P) => Promise<R>,
  maxBytes: number | undefined,
  what: string,
  signal: AbortSignal | undefined,
): Promise<{ result: R; reductions: string[] }> {
  const reductions: string[] = [];
  let plan = initial;
  throwIfAborted(signal);
  let result = await encode(plan);
  if (maxBytes === undefined) return { result, reductions };
  while (result.bytes.length > maxBytes) {
    throwIfAborted(signal);
    let predicted = result.bytes.length;
    let stepped = false;
    do {
      const step = next(plan);
      if (!step) break;
      plan = step.plan;
      reductions.push(step.reduction);
      predicted *= step.expected;
      stepped = true;
    } while (predicted > maxBytes);
    if (!stepped) {
      const tried = reductions.length > 0 ? ` after ${reductions.join(', ')}` : '';
      throw new EngineError(
        'BUDGET_UNREACHABLE',
        `the ${what} is still ${formatBytes(result.bytes.length)}${tried}, over the ${formatBytes(maxBytes)} limit; render fewer or smaller frames`,
      );
    }
    throwIfAborted(signal);
    result = await encode(plan);
  }
  return { result, reductions };
}

// ---------------------------------------------------------------- GIF

export interface GifBudgetOptions {
  fps: number;
  rubberBand: boolean;
  displayScale: number;
  displayKernel: ResizeKernel;
  maxBytes?: number;
  signal?: AbortSignal;
}

interface GifPlan {
  tolerance: number;
  /** Number of tolerance doublings taken. */
  toleranceSteps: number;
  colours: number;
  /** Number of x0.75 size steps taken. */
  scaleSteps: number;
  /** Source frames kept (first and last always among them). */
  frames: number;
  /** Number of frame halvings taken. */
  dropSteps: number;
  /** Stored delay in 1/100 s. */
  delayCs: number;
}

export interface GifArtifact extends GifResult {
  reductions: string[];
}

/** Encodes a GIF of `frames` under `maxBytes` (see the ladder above). */
export async function encodeGifWithinBudget(frames: readonly RgbFrame[], options: GifBudgetOptions): Promise<GifArtifact> {
  const first = frames[0]!;
  const baseW = first.width * options.displayScale;
  const baseH = first.height * options.displayScale;
  const sizeAt = (steps: number): [number, number] => [
    Math.max(1, Math.round(baseW * SCALE_STEP ** steps)),
    Math.max(1, Math.round(baseH * SCALE_STEP ** steps)),
  ];
  const canScale = (p: GifPlan): boolean => Math.min(...sizeAt(p.scaleSteps + 1)) >= MIN_SIDE_PX;
  const canDrop = (p: GifPlan): boolean => p.frames >= 3;
  const fpsText = (delayCs: number): string => String(Math.round((100 / delayCs) * 100) / 100);

  const scaleStep = (p: GifPlan): Step<GifPlan> => {
    const [w0, h0] = sizeAt(p.scaleSteps);
    const [w1, h1] = sizeAt(p.scaleSteps + 1);
    return { plan: { ...p, scaleSteps: p.scaleSteps + 1 }, reduction: `frames scaled ${w0}x${h0} -> ${w1}x${h1}`, expected: 0.5 };
  };
  const dropStep = (p: GifPlan): Step<GifPlan> => {
    const kept = Math.ceil(p.frames / 2);
    // Same duration: the kept frames are spread over the same span of the walk.
    const delayCs = Math.min(65535, Math.round((p.delayCs * (p.frames - 1)) / (kept - 1)));
    return {
      plan: { ...p, frames: kept, dropSteps: p.dropSteps + 1, delayCs },
      reduction: `every 2nd frame dropped (${p.frames} -> ${kept} frames, fps ${fpsText(p.delayCs)} -> ${fpsText(delayCs)})`,
      expected: 0.5,
    };
  };
  const next = (p: GifPlan): Step<GifPlan> | null => {
    if (p.toleranceSteps < 2) {
      const tolerance = p.tolerance * 2;
      const expected = p.toleranceSteps === 0 ? 0.7 : 0.6;
      return {
        plan: { ...p, tolerance, toleranceSteps: p.toleranceSteps + 1 },
        reduction: `differencing tolerance ${p.tolerance} -> ${tolerance}`,
        expected,
      };
    }
    if (p.colours > 128) return { plan: { ...p, colours: 128 }, reduction: `colours ${p.colours} -> 128`, expected: 0.65 };
    if (p.scaleSteps < 1 && canScale(p)) return scaleStep(p);
    if (p.dropSteps < 1 && canDrop(p)) return dropStep(p);
    if (p.colours > 64) return { plan: { ...p, colours: 64 }, reduction: `colours ${p.colours} -> 64`, expected: 0.6 };
    const scale = canScale(p), drop = canDrop(p);
    if (scale && (!drop || p.scaleSteps <= p.dropSteps)) return scaleStep(p);
    if (drop) return dropStep(p);
    return null;
  };

  const resized = new Map<number, RgbFrame[]>();
  const encode = async (p: GifPlan): Promise<GifResult> => {
    let scaled = resized.get(p.scaleSteps);
    if (!scaled) {
      const [w, h] = sizeAt(p.scaleSteps);
      scaled = await resizeFrames(frames, w, h, options.displayKernel);
      resized.clear(); // steps only go down: an older size is never needed again
      resized.set(p.scaleSteps, scaled);
    }
    const kept = pickFrames(scaled, p.frames);
    const ordered = options.rubberBand ? pingPongOrder(kept.length).map((i) => kept[i]!) : kept;
    return encodeGif(ordered, { fps: 100 / p.delayCs, maxColors: p.colours, tolerance: p.tolerance, signal: options.signal });
  };

  const initial: GifPlan = {
    tolerance: DEFAULT_TOLERANCE,
    toleranceSteps: 0,
    colours: 256,
    scaleSteps: 0,
    frames: frames.length,
    dropSteps: 0,
    delayCs: gifDelayCs(options.fps),
  };
  const { result, reductions } = await fitBudget(initial, next, encode, options.maxBytes, 'GIF', options.signal);
  return { ...result, reductions };
}

/** `count` frames spread evenly over `frames`, first and last included. */
export function pickFrames<T>(frames: readonly T[], count: number): T[] {
  if (count >= frames.length) return [...frames];
  if (count <= 1) return [frames[0]!];
  const span = frames.length - 1;
  return Array.from({ length: count }, (_, i) => frames[Math.round((i * span) / (count - 1))]!);
}

// ---------------------------------------------------------------- PNG / JPEG

export interface ImageBudgetOptions {
  displayScale: number;
  displayKernel: ResizeKernel;
  maxBytes?: number;
  signal?: AbortSignal;
}

interface ImagePlan {
  /** PNG: 0 = truecolour, else palette size (256, then 16). */
  colours: number;
  /** JPEG quality. */
  quality: number;
  scaleSteps: number;
}

export interface ImageArtifact {
  bytes: Uint8Array;
  width: number;
  height: number;
  /** Palette size for a palette PNG. */
  colors?: number;
  reductions: string[];
}

/** Encodes one image (a composed grid) as PNG or JPEG under `maxBytes` (see the ladders above). */
export async function encodeImageWithinBudget(frame: RgbFrame, format: ImageFormat, options: ImageBudgetOptions): Promise<ImageArtifact> {
  const baseW = frame.width * options.displayScale;
  const baseH = frame.height * options.displayScale;
  const sizeAt = (steps: number): [number, number] => [
    Math.max(1, Math.round(baseW * SCALE_STEP ** steps)),
    Math.max(1, Math.round(baseH * SCALE_STEP ** steps)),
  ];
  const label = format === 'png' ? 'PNG' : 'JPEG';
  const next = (p: ImagePlan): Step<ImagePlan> | null => {
    if (format === 'png' && p.colours === 0) {
      return { plan: { ...p, colours: 256 }, reduction: 'PNG truecolour -> 256-colour palette', expected: 0.25 };
    }
    if (format === 'jpeg' && p.quality > 50) {
      const quality = p.quality - 10;
      return { plan: { ...p, quality }, reduction: `JPEG quality ${p.quality} -> ${quality}`, expected: 0.5 };
    }
    if (Math.min(...sizeAt(p.scaleSteps + 1)) >= MIN_SIDE_PX) {
      const [w0, h0] = sizeAt(p.scaleSteps);
      const [w1, h1] = sizeAt(p.scaleSteps + 1);
      return { plan: { ...p, scaleSteps: p.scaleSteps + 1 }, reduction: `image scaled ${w0}x${h0} -> ${w1}x${h1}`, expected: 0.5 };
    }
    if (format === 'png' && p.colours > 16) {
      return { plan: { ...p, colours: 16 }, reduction: `PNG palette ${p.colours} -> 16 colours`, expected: 0.3 };
    }
    return null;
  };
  const encode = async (p: ImagePlan): Promise<Attempt & { width: number; height: number }> => {
    const [w, h] = sizeAt(p.scaleSteps);
    const [scaled] = await resizeFrames([frame], w, h, options.displayKernel);
    const settings = format === 'png' ? { palette: p.colours > 0, colours: p.colours || 256 } : { quality: p.quality };
    const bytes = await encodeImage(scaled!, format, settings);
    return { bytes, width: w, height: h };
  };
  const initial: ImagePlan = { colours: 0, quality: 90, scaleSteps: 0 };
  let finalPlan = initial;
  const { result, reductions } = await fitBudget(
    initial,
    next,
    (p) => {
      finalPlan = p;
      return encode(p);
    },
    options.maxBytes,
    label,
    options.signal,
  );
  const artifact: ImageArtifact = { bytes: result.bytes, width: result.width, height: result.height, reductions };
  if (format === 'png' && finalPlan.colours > 0) artifact.colors = finalPlan.colours;
  return artifact;
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(2)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}
