/**
 * The engine's output stage: rendered frames in, one file's bytes out (GIF animation, or a PNG / JPEG
 * grid), under an optional byte budget. The order in which the budget reduces a file is documented in
 * budget.ts; every reduction taken is listed, in order, in `Artifact.reductions`.
 */
import { EngineError, throwIfAborted } from '../errors.ts';
import type { RgbFrame } from '../frames.ts';
import { encodeGifWithinBudget, encodeImageWithinBudget } from './budget.ts';
import { encodeVideoWithinBudget } from './videoBudget.ts';
import type { ResizeKernel } from './resize.ts';

export { pingPongOrder, forwardOrder } from './frameOrder.ts';
export { DEFAULT_TOLERANCE, encodeGif, gifDelayCs, type GifOptions, type GifResult } from './gif.ts';
export { composeGrid, encodeImage, type ImageFormat, type ImageOptions } from './grid.ts';
export { resizeFrame, resizeFrames, type ResizeKernel } from './resize.ts';
export { MIN_SIDE_PX } from './budget.ts';
export { encodeMp4, DEFAULT_MP4_QP, type Mp4Options, type Mp4Result } from './mp4.ts';
export { encodeWebp, DEFAULT_WEBP_QUALITY, type WebpOptions, type WebpResult } from './webp.ts';

export type ArtifactFormat = 'gif' | 'mp4' | 'webp' | 'png' | 'jpeg';
/** The formats an animation can be written in. */
export const ANIMATION_FORMATS = ['gif', 'mp4', 'webp'] as const;
export type AnimationFormat = (typeof ANIMATION_FORMATS)[number];

export interface ArtifactOptions {
  format: ArtifactFormat;
  /** Animations: frames per second (GIF: whole 1/100 s delays, 50 at most; MP4: a whole number). @defaultValue 10 */
  fps?: number;
  /** Animations: play the frames forward then back (ping-pong, see pingPongOrder). @defaultValue false */
  rubberBand?: boolean;
  /** Byte budget; the file is reduced (see budget.ts) until it fits, or BUDGET_UNREACHABLE is thrown. */
  maxBytes?: number;
  /** Integer upscale for display, applied before encoding. @defaultValue 1 */
  displayScale?: number;
  /** Kernel for the display upscale: nearest keeps pixels crisp (and GIFs small), lanczos3 smooths. @defaultValue 'nearest' */
  displayKernel?: ResizeKernel;
  /** Checked between encode attempts (and between GIF frames). */
  signal?: AbortSignal;
}

export interface Artifact {
  bytes: Uint8Array;
  format: ArtifactFormat;
  mimeType: string;
  extension: string;
  width: number;
  height: number;
  /** Frames in the file (after ping-pong and any frame dropping); 1 for PNG / JPEG. */
  frameCount: number;
  /** GIF: stored delay per frame, in 1/100 s. */
  delayCs?: number;
  /** Animations: effective frames per second (GIF: 100 / delayCs). */
  fps?: number;
  /** MP4: the H.264 quantizer used; WebP: the quality used. */
  quality?: number;
  /** GIF: visible palette colours; PNG: palette size when a palette PNG was written. */
  colors?: number;
  /** Human-readable reductions the byte budget applied, in order; empty when none was needed. */
  reductions: string[];
  encodeMs: number;
}

const FORMATS: Record<ArtifactFormat, { mimeType: string; extension: string }> = {
  gif: { mimeType: 'image/gif', extension: 'gif' },
  mp4: { mimeType: 'video/mp4', extension: 'mp4' },
  webp: { mimeType: 'image/webp', extension: 'webp' },
  png: { mimeType: 'image/png', extension: 'png' },
  jpeg: { mimeType: 'image/jpeg', extension: 'jpg' },
};

/**
 * Encodes `frames` as one file. gif, mp4, webp: an animation of the frames (ping-pong when `rubberBand`);
 * png / jpeg: `frames` must hold exactly one frame (a grid composed with composeGrid).
 */
export async function encodeArtifact(frames: readonly RgbFrame[], options: ArtifactOptions): Promise<Artifact> {
  const started = performance.now();
  const { format, fps = 10, rubberBand = false, maxBytes, displayScale = 1, displayKernel = 'nearest', signal } = options;
  const meta = FORMATS[format];
  if (!meta) throw new EngineError('BAD_OPTION', `unknown output format "${String(format)}" (use gif, mp4, webp, png or jpeg)`);
  if (frames.length === 0) throw new EngineError('BAD_OPTION', 'nothing to encode: no frames');
  if (!Number.isInteger(displayScale) || displayScale < 1 || displayScale > 16) {
    throw new EngineError('BAD_OPTION', `displayScale must be an integer from 1 to 16, got ${displayScale}`);
  }
  if (maxBytes !== undefined && !(Number.isFinite(maxBytes) && maxBytes > 0)) {
    throw new EngineError('BAD_OPTION', `maxBytes must be a positive number, got ${maxBytes}`);
  }
  const { width, height } = frames[0]!;
  for (const [i, f] of frames.entries()) {
    if (f.width !== width || f.height !== height || f.data.length !== width * height * 3) {
      throw new EngineError('BAD_OPTION', `frame ${i} is ${f.width}x${f.height} (${f.data.length} bytes), expected ${width}x${height} RGB like frame 0`);
    }
  }
  throwIfAborted(signal);

  // Every animation format takes the same timing, display and budget options.
  const animation = () => {
    if (!Number.isFinite(fps) || fps <= 0) throw new EngineError('BAD_OPTION', `fps must be a positive number, got ${fps}`);
    return { fps, rubberBand, displayScale, displayKernel, ...(maxBytes !== undefined && { maxBytes }), ...(signal && { signal }) };
  };

  if (format === 'gif') {
    const gif = await encodeGifWithinBudget(frames, animation());
    return {
      bytes: gif.bytes,
      format,
      ...meta,
      width: gif.width,
      height: gif.height,
      frameCount: gif.frameCount,
      delayCs: gif.delayCs,
      fps: gif.effectiveFps,
      colors: gif.colors,
      reductions: gif.reductions,
      encodeMs: performance.now() - started,
    };
  }

  if (format === 'mp4' || format === 'webp') {
    const video = await encodeVideoWithinBudget(frames, format, animation());
    return {
      bytes: video.bytes,
      format,
      ...meta,
      width: video.width,
      height: video.height,
      frameCount: video.frameCount,
      fps: video.fps,
      quality: video.quality,
      reductions: video.reductions,
      encodeMs: performance.now() - started,
    };
  }

  if (frames.length !== 1) {
    throw new EngineError('BAD_OPTION', `a ${format.toUpperCase()} holds one image, got ${frames.length} frames (compose a grid first)`);
  }
  const image = await encodeImageWithinBudget(frames[0]!, format, {
    displayScale,
    displayKernel,
    ...(maxBytes !== undefined && { maxBytes }),
    ...(signal && { signal }),
  });
  return {
    bytes: image.bytes,
    format,
    ...meta,
    width: image.width,
    height: image.height,
    frameCount: 1,
    ...(image.colors !== undefined && { colors: image.colors }),
    reductions: image.reductions,
    encodeMs: performance.now() - started,
  };
}
