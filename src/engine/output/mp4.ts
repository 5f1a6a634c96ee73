/**
 * MP4 (H.264 Baseline, yuv420p) encoding in-process, with h264-mp4-encoder: minih264's encoder and minimp4's
 * muxer compiled to WebAssembly (both public domain; the wrapper is MIT). No system ffmpeg, no native binary.
 *
 * Why this package: the alternatives on npm either wrap an ffmpeg binary (a system dependency), are browser
 * only (WebCodecs, ffmpeg.wasm's 0.12 line), or ship a 69 MB native FFmpeg build that links GPL x264 under an
 * MIT label (@napi-rs/webcodecs). Baseline profile (no B-frames, CAVLC) costs some bytes against x264 but plays
 * everywhere Discord and browsers play H.264; see bench/video.ts for its bytes and PSNR against the GIF.
 *
 * Looping: an MP4 has no loop flag; the bot's players loop it, and a rubber-band walk loops seamlessly because
 * the ping-pong order is in the frames themselves.
 */
import { createRequire } from 'node:module';
import { EngineError, throwIfAborted } from '../errors.ts';
import type { RgbFrame } from '../frames.ts';
import { faststartMp4 } from './mp4Faststart.ts';

/**
 * Default (and coarsest automatic) quantizer: 24 keeps PSNR above the GIF's on the bench's synthetic walk at
 * a sixth of its bytes (bench/video.ts).
 */
export const DEFAULT_MP4_QP = 24;
/**
 * The automatic choice (encodeMp4Auto) tries these, coarsest first. On flat, few-colour frames (the bundled
 * shapes model) the GIF is nearly lossless and the MP4 needs 20 to match its PSNR, which costs little there.
 */
export const AUTO_MP4_QPS = [DEFAULT_MP4_QP, 22, 20] as const;
/**
 * A finer quantizer is kept only while the file stays at or under this many bits per pixel and frame. On the
 * bench's synthetic walk (texture, gradients) quantizer 22 is 0.47 and 24 is 0.32, so it stays at 24 (5.9x
 * smaller than the GIF); the shapes model's morph is 0.11 at 20 (9.3x smaller).
 */
export const AUTO_MP4_MAX_BITS_PER_PIXEL = 0.4;
/** The encoder's range is 10..51; the byte budget stops at 42, where blocks show plainly. */
export const MAX_BUDGET_QP = 42;

export interface Mp4Options {
  fps: number;
  /** H.264 quantizer, 10..51: lower is better and larger. @defaultValue DEFAULT_MP4_QP */
  qp?: number;
  /** Checked between frames. */
  signal?: AbortSignal;
  /** Move the index (moov) in front of the media data. @defaultValue true */
  faststart?: boolean;
}

export interface Mp4Result {
  bytes: Uint8Array;
  width: number;
  height: number;
  frameCount: number;
  /** The rate stored: `fps` rounded to a whole number. */
  fps: number;
}

interface H264Encoder {
  outputFilename: string;
  width: number;
  height: number;
  frameRate: number;
  speed: number;
  quantizationParameter: number;
  groupOfPictures: number;
  initialize(): void;
  addFrameYuv(buffer: Uint8Array): void;
  finalize(): void;
  delete(): void;
  FS: { readFile(path: string): Uint8Array; unlink(path: string): void };
}

let loaded: Promise<() => Promise<H264Encoder>> | undefined;

/**
 * Loads the WebAssembly module once. Its Emscripten glue adds process-wide 'uncaughtException' (rethrow) and
 * 'unhandledRejection' (abort) listeners when it loads; they are removed again so the worker's own handling
 * stays in charge.
 */
function loadEncoder(): Promise<() => Promise<H264Encoder>> {
  loaded ??= (async () => {
    const before = {
      uncaught: new Set(process.listeners('uncaughtException')),
      rejection: new Set(process.listeners('unhandledRejection')),
    };
    const require = createRequire(import.meta.url);
    const mod = require('h264-mp4-encoder') as { createH264MP4Encoder: () => Promise<H264Encoder> };
    for (const l of process.listeners('uncaughtException')) if (!before.uncaught.has(l)) process.off('uncaughtException', l);
    for (const l of process.listeners('unhandledRejection')) if (!before.rejection.has(l)) process.off('unhandledRejection', l);
    return mod.createH264MP4Encoder;
  })();
  return loaded;
}

let fileSeq = 0;

/** Encodes `frames` (all the same size) as an MP4 at `fps`. Odd sides are cropped by one pixel (4:2:0 needs even). */
export async function encodeMp4(frames: readonly RgbFrame[], options: Mp4Options): Promise<Mp4Result> {
  const first = frames[0];
  if (!first) throw new EngineError('BAD_OPTION', 'cannot encode an MP4 with no frames');
  const { fps, qp = DEFAULT_MP4_QP, signal, faststart = true } = options;
  if (!Number.isFinite(fps) || fps <= 0 || fps > 120) throw new EngineError('BAD_OPTION', `MP4 fps must be above 0 and at most 120, got ${fps}`);
  if (!Number.isInteger(qp) || qp < 10 || qp > 51) throw new EngineError('BAD_OPTION', `MP4 qp must be an integer in 10..51, got ${qp}`);
  // The muxer stores a whole number of frames a second.
  const rate = Math.max(1, Math.round(fps));
  const width = first.width & ~1;
  const height = first.height & ~1;
  if (width < 16 || height < 16) throw new EngineError('BAD_OPTION', `MP4 frames must be at least 16x16, got ${first.width}x${first.height}`);
  for (const [i, f] of frames.entries()) {
    if (f.width !== first.width || f.height !== first.height || f.data.length !== f.width * f.height * 3) {
      throw new EngineError('BAD_OPTION', `MP4 frame ${i} is ${f.width}x${f.height}, expected ${first.width}x${first.height} like frame 0`);
    }
  }
  throwIfAborted(signal);
  const create = await loadEncoder();
  const encoder = await create();
  // The Emscripten file system is shared by every encoder in the process: one file name per encode.
  encoder.outputFilename = `latentwalk-${process.pid}-${++fileSeq}.mp4`;
  try {
    encoder.width = width;
    encoder.height = height;
    encoder.frameRate = rate;
    encoder.quantizationParameter = qp;
    // speed 5 gave the same bytes and PSNR as 0 on the bench walk, in a third of the time.
    encoder.speed = 5;
    // One key frame every 2 s or so: seeking stays cheap, P-frames do the rest.
    encoder.groupOfPictures = Math.max(1, Math.min(250, Math.round(fps * 2)));
    encoder.initialize();
    const yuv = new Uint8Array((width * height * 3) / 2);
    for (const frame of frames) {
      throwIfAborted(signal);
      toYuv420(frame, width, height, yuv);
      encoder.addFrameYuv(yuv);
    }
    encoder.finalize();
    const bytes = encoder.FS.readFile(encoder.outputFilename);
    // moov in front of mdat, so players that stream the file start at once.
    const file = new Uint8Array(bytes);
    return { bytes: faststart ? faststartMp4(file) : file, width, height, frameCount: frames.length, fps: rate };
  } finally {
    try {
      encoder.FS.unlink(encoder.outputFilename);
    } catch {
      // nothing was written (an abort before finalize)
    }
    encoder.delete();
  }
}

export interface AutoMp4Result extends Mp4Result {
  /** The quantizer chosen. */
  qp: number;
}

/**
 * Encodes at each of AUTO_MP4_QPS in turn, coarsest first, and keeps the finest whose file stays within
 * AUTO_MP4_MAX_BITS_PER_PIXEL: flat content gets a finer quantizer for few bytes, busy content stays at
 * DEFAULT_MP4_QP. Deterministic (the encoder is); one to three encodes.
 */
export async function encodeMp4Auto(frames: readonly RgbFrame[], options: Omit<Mp4Options, 'qp'>): Promise<AutoMp4Result> {
  let best: AutoMp4Result | undefined;
  for (const qp of AUTO_MP4_QPS) {
    const r = await encodeMp4(frames, { ...options, qp });
    const cap = (AUTO_MP4_MAX_BITS_PER_PIXEL * r.width * r.height * r.frameCount) / 8;
    if (best && r.bytes.length > cap) break;
    best = { ...r, qp };
    if (r.bytes.length > cap) break;
  }
  return best!;
}

/**
 * The top-left `width` x `height` of an RGB frame as planar YUV 4:2:0 (I420), BT.601 limited range: what
 * players assume for an SD stream without colour info, and what the test decoder inverts.
 *
 * Why not the package's addFrameRgba: it truncates instead of rounding (every value biased down half a level)
 * and takes each 2x2 block's chroma from its top-left pixel alone, so a hard colour edge through a block gets
 * the wrong colour on up to three of its four pixels. Here each chroma sample is the block's mean (the
 * least-squares choice), which is worth +1.4 dB at quantizer 24 on the bundled model's flat shapes (bench/video.ts).
 */
export function toYuv420(frame: RgbFrame, width: number, height: number, out: Uint8Array): void {
  const src = frame.data;
  const stride = frame.width * 3;
  const cw = width >> 1;
  const uBase = width * height;
  const vBase = uBase + (uBase >> 2);
  for (let y = 0; y < height; y++) {
    let s = y * stride;
    let d = y * width;
    for (let x = 0; x < width; x++, s += 3, d++) {
      out[d] = Math.round(16 + 0.256788 * src[s]! + 0.504129 * src[s + 1]! + 0.097906 * src[s + 2]!);
    }
  }
  for (let cy = 0; cy < height >> 1; cy++) {
    const top = 2 * cy * stride;
    const bottom = top + stride;
    for (let cx = 0; cx < cw; cx++) {
      const a = top + 6 * cx;
      const b = bottom + 6 * cx;
      // Sums of the block's four pixels; the coefficients below carry the 1/4.
      const r = src[a]! + src[a + 3]! + src[b]! + src[b + 3]!;
      const g = src[a + 1]! + src[a + 4]! + src[b + 1]! + src[b + 4]!;
      const bl = src[a + 2]! + src[a + 5]! + src[b + 2]! + src[b + 5]!;
      out[uBase + cy * cw + cx] = Math.round(128 - 0.03705575 * r - 0.07274825 * g + 0.109804 * bl);
      out[vBase + cy * cw + cx] = Math.round(128 + 0.109804 * r - 0.091947 * g - 0.01785675 * bl);
    }
  }
}
