/**
 * Animated WebP with sharp (libwebp): the frames are stacked into one tall raw image whose `pageHeight` is a
 * frame's height, and written as a looping animation. Lossy (VP8), every frame in full colour; libwebp picks
 * key frames and sub-rectangles itself.
 */
import sharp from 'sharp';
import { EngineError, throwIfAborted } from '../errors.ts';
import type { RgbFrame } from '../frames.ts';

/**
 * Default quality: 80 is sharp's default and keeps PSNR about 2 dB above the GIF's on the bench walk. Lower
 * qualities let libwebp's lossy animation carry small changes over from frame to frame, and the error piles up
 * (see videoBudget.ts), so the byte budget never lowers it.
 */
export const DEFAULT_WEBP_QUALITY = 80;

export interface WebpOptions {
  fps: number;
  /** 1..100. @defaultValue DEFAULT_WEBP_QUALITY */
  quality?: number;
  signal?: AbortSignal;
}

export interface WebpResult {
  bytes: Uint8Array;
  width: number;
  height: number;
  frameCount: number;
  /** Stored delay per frame, in ms. */
  delayMs: number;
  fps: number;
}

/** Encodes `frames` (all the same size) as a looping animated WebP. */
export async function encodeWebp(frames: readonly RgbFrame[], options: WebpOptions): Promise<WebpResult> {
  const first = frames[0];
  if (!first) throw new EngineError('BAD_OPTION', 'cannot encode a WebP with no frames');
  const { fps, quality = DEFAULT_WEBP_QUALITY, signal } = options;
  if (!Number.isFinite(fps) || fps <= 0) throw new EngineError('BAD_OPTION', `WebP fps must be a positive number, got ${fps}`);
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) throw new EngineError('BAD_OPTION', `WebP quality must be an integer in 1..100, got ${quality}`);
  const { width, height } = first;
  if (width > 16383 || height * frames.length > 0x7fffffff / (width * 3)) {
    throw new EngineError('BAD_OPTION', `a ${width}x${height} WebP of ${frames.length} frames is too large`);
  }
  const stacked = Buffer.alloc(width * height * 3 * frames.length);
  for (const [i, f] of frames.entries()) {
    if (f.width !== width || f.height !== height || f.data.length !== width * height * 3) {
      throw new EngineError('BAD_OPTION', `WebP frame ${i} is ${f.width}x${f.height}, expected ${width}x${height} like frame 0`);
    }
    stacked.set(f.data, i * width * height * 3);
  }
  throwIfAborted(signal);
  // WebP stores delays in whole milliseconds.
  const delayMs = Math.max(1, Math.min(65535, Math.round(1000 / fps)));
  const animated = frames.length > 1;
  const bytes = await sharp(stacked, {
    raw: { width, height: height * frames.length, channels: 3, ...(animated && { pageHeight: height }) },
    limitInputPixels: false,
  })
    .webp({ quality, effort: 4, ...(animated && { loop: 0, delay: Array.from({ length: frames.length }, () => delayMs) }) })
    .toBuffer();
  return { bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length), width, height, frameCount: frames.length, delayMs, fps: 1000 / delayMs };
}
