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

/** Default quantizer: 24 keeps PSNR above the GIF's on the bench walk at a sixth of its bytes (bench/video.ts). */
export const DEFAULT_MP4_QP = 24;
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
  addFrameRgba(buffer: Uint8Array): void;
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
    const rgba = new Uint8Array(width * height * 4);
    for (const frame of frames) {
      throwIfAborted(signal);
      toRgba(frame, width, height, rgba);
      encoder.addFrameRgba(rgba);
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

/** Copies the top-left `width` x `height` of an RGB frame into RGBA (alpha is ignored by the encoder). */
function toRgba(frame: RgbFrame, width: number, height: number, out: Uint8Array): void {
  const src = frame.data;
  for (let y = 0; y < height; y++) {
    let s = y * frame.width * 3;
    let d = y * width * 4;
    for (let x = 0; x < width; x++, s += 3, d += 4) {
      out[d] = src[s]!;
      out[d + 1] = src[s + 1]!;
      out[d + 2] = src[s + 2]!;
      out[d + 3] = 255;
    }
  }
}
