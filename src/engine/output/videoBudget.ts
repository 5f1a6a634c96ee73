/**
 * The byte budget for the video formats (MP4, animated WebP), with budget.ts's fitBudget.
 *
 * Ladder, in order (each step keeps the earlier ones):
 *   0. MP4 starts at the quantizer encodeMp4Auto picks from the frames (24, or 22 / 20 on flat content that
 *      stays small; see mp4.ts).
 *   1. quality: MP4 quantizer up to 27, then +3 (27 -> 30 -> 33 -> 36; each about -40% bytes on the bench walk). A
 *      codec's own quality knob costs the least per byte. WebP has no quality steps: libvips writes an animated
 *      WebP without key frames, and libwebp's lossy animation keeps a pixel from the previous frame while it
 *      differs from the new one by less than a quality-dependent threshold (about 4 levels at 80, 6 at 70),
 *      so on a slowly changing walk the error piles up frame after frame: 64 bench frames at quality 70 end
 *      at 22 dB (36 dB at 80). A WebP keeps quality 80 and shrinks by size and frames only.
 *   2. frame size x0.75 (area 0.56): only fine detail goes.
 *   3. every 2nd frame dropped, delay doubled (same duration; first and last frames kept).
 *   4. the last quantizer steps (MP4 39, 42), where blocking shows.
 *   5. then size x0.75 and frame halving in turn, until the smaller side would go under 64 px and fewer than 3
 *      frames are left; then BUDGET_UNREACHABLE.
 * Sizes stay even (4:2:0 needs even sides).
 */
import type { RgbFrame } from '../frames.ts';
import { MIN_SIDE_PX, SCALE_STEP, fitBudget, pickFrames, type Step } from './budget.ts';
import { pingPongOrder } from './frameOrder.ts';
import { DEFAULT_MP4_QP, MAX_BUDGET_QP, encodeMp4, encodeMp4Auto } from './mp4.ts';
import { resizeFrames, type ResizeKernel } from './resize.ts';
import { DEFAULT_WEBP_QUALITY, encodeWebp } from './webp.ts';

export type VideoFormat = 'mp4' | 'webp';

export interface VideoBudgetOptions {
  fps: number;
  rubberBand: boolean;
  displayScale: number;
  displayKernel: ResizeKernel;
  maxBytes?: number;
  signal?: AbortSignal;
}

export interface VideoArtifact {
  bytes: Uint8Array;
  width: number;
  height: number;
  frameCount: number;
  fps: number;
  reductions: string[];
  /** MP4: quantizer; WebP: quality. */
  quality: number;
}

interface VideoPlan {
  /** Index into the format's quality ladder. */
  qualityStep: number;
  scaleSteps: number;
  frames: number;
  dropSteps: number;
  fps: number;
}

interface Ladder {
  label: string;
  /** levels[0] is where an MP4 starts: encodeMp4Auto's choice, DEFAULT_MP4_QP or finer. First the cheap steps (taken before any size step), then the last resort ones. */
  levels: readonly number[];
  cheap: number;
  describe: (from: number, to: number) => string;
  expected: number;
}

const LADDERS: Record<VideoFormat, Ladder> = {
  mp4: {
    label: 'MP4',
    levels: [DEFAULT_MP4_QP, 27, 30, 33, 36, 39, MAX_BUDGET_QP],
    cheap: 4,
    describe: (a, b) => `H.264 quantizer ${a} -> ${b}`,
    expected: 0.65,
  },
  webp: {
    label: 'WebP',
    levels: [DEFAULT_WEBP_QUALITY],
    cheap: 0,
    describe: (a, b) => `WebP quality ${a} -> ${b}`,
    expected: 0.8,
  },
};

/** Encodes an MP4 or animated WebP of `frames` under `maxBytes` (see the ladder above). */
export async function encodeVideoWithinBudget(frames: readonly RgbFrame[], format: VideoFormat, options: VideoBudgetOptions): Promise<VideoArtifact> {
  const ladder = LADDERS[format];
  const first = frames[0]!;
  const baseW = first.width * options.displayScale;
  const baseH = first.height * options.displayScale;
  const even = (n: number): number => Math.max(2, 2 * Math.round(n / 2));
  const sizeAt = (steps: number): [number, number] =>
    steps === 0 ? [baseW, baseH] : [even(baseW * SCALE_STEP ** steps), even(baseH * SCALE_STEP ** steps)];
  const canScale = (p: VideoPlan): boolean => Math.min(...sizeAt(p.scaleSteps + 1)) >= MIN_SIDE_PX;
  const canDrop = (p: VideoPlan): boolean => p.frames >= 3;
  const fpsText = (fps: number): string => String(Math.round(fps * 100) / 100);

  // The quantizer encodeMp4Auto chose for the first encode (the reductions start from it).
  let autoQp: number | undefined;
  const levelAt = (step: number): number => (step === 0 && autoQp !== undefined ? autoQp : ladder.levels[step]!);
  const qualityStep = (p: VideoPlan): Step<VideoPlan> => ({
    plan: { ...p, qualityStep: p.qualityStep + 1 },
    reduction: ladder.describe(levelAt(p.qualityStep), ladder.levels[p.qualityStep + 1]!),
    expected: ladder.expected,
  });
  const scaleStep = (p: VideoPlan): Step<VideoPlan> => {
    const [w0, h0] = sizeAt(p.scaleSteps);
    const [w1, h1] = sizeAt(p.scaleSteps + 1);
    return { plan: { ...p, scaleSteps: p.scaleSteps + 1 }, reduction: `frames scaled ${w0}x${h0} -> ${w1}x${h1}`, expected: 0.6 };
  };
  const dropStep = (p: VideoPlan): Step<VideoPlan> => {
    const kept = Math.ceil(p.frames / 2);
    const fps = (p.fps * (kept - 1)) / (p.frames - 1);
    return {
      plan: { ...p, frames: kept, dropSteps: p.dropSteps + 1, fps },
      reduction: `every 2nd frame dropped (${p.frames} -> ${kept} frames, fps ${fpsText(p.fps)} -> ${fpsText(fps)})`,
      expected: 0.6,
    };
  };
  const next = (p: VideoPlan): Step<VideoPlan> | null => {
    if (p.qualityStep < ladder.cheap) return qualityStep(p);
    if (p.scaleSteps < 1 && canScale(p)) return scaleStep(p);
    if (p.dropSteps < 1 && canDrop(p)) return dropStep(p);
    if (p.qualityStep < ladder.levels.length - 1) return qualityStep(p);
    const scale = canScale(p), drop = canDrop(p);
    if (scale && (!drop || p.scaleSteps <= p.dropSteps)) return scaleStep(p);
    if (drop) return dropStep(p);
    return null;
  };

  const resized = new Map<number, RgbFrame[]>();
  const encode = async (p: VideoPlan): Promise<Omit<VideoArtifact, 'reductions'>> => {
    let scaled = resized.get(p.scaleSteps);
    if (!scaled) {
      const [w, h] = sizeAt(p.scaleSteps);
      scaled = await resizeFrames(frames, w, h, options.displayKernel);
      resized.clear(); // steps only go down: an older size is never needed again
      resized.set(p.scaleSteps, scaled);
    }
    const kept = pickFrames(scaled, p.frames);
    const ordered = options.rubberBand ? pingPongOrder(kept.length).map((i) => kept[i]!) : kept;
    const quality = ladder.levels[p.qualityStep]!;
    const signal = options.signal ? { signal: options.signal } : {};
    if (format === 'mp4' && p.qualityStep === 0) {
      const r = await encodeMp4Auto(ordered, { fps: p.fps, ...signal });
      autoQp ??= r.qp;
      return { bytes: r.bytes, width: r.width, height: r.height, frameCount: r.frameCount, fps: r.fps, quality: r.qp };
    }
    if (format === 'mp4') {
      const r = await encodeMp4(ordered, { fps: p.fps, qp: quality, ...signal });
      return { bytes: r.bytes, width: r.width, height: r.height, frameCount: r.frameCount, fps: r.fps, quality };
    }
    const r = await encodeWebp(ordered, { fps: p.fps, quality, ...signal });
    return { bytes: r.bytes, width: r.width, height: r.height, frameCount: r.frameCount, fps: r.fps, quality };
  };

  const initial: VideoPlan = { qualityStep: 0, scaleSteps: 0, frames: frames.length, dropSteps: 0, fps: options.fps };
  const { result, reductions } = await fitBudget(initial, next, encode, options.maxBytes, ladder.label, options.signal);
  return { ...result, reductions };
}
