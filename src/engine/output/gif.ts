/**
 * Animated GIF encoding with gifenc: one global palette, tolerance frame differencing, lossy run extension.
 *
 * Every pixel of a latent walk changes a little in every frame, so a plain global-palette GIF re-sends
 * every pixel and LZW gets short, noisy strings. Two decisions per pixel fix most of that; both only
 * apply when they cost at most `tolSq` of squared RGB error over the best palette colour for the pixel:
 *
 *   1. transparency (dispose 1): the pixel is left as the colour currently DISPLAYED there (not the
 *      previous source pixel, so errors never pile up) when that colour is the pixel's nearest palette
 *      colour anyway, or when it continues a transparent run and is within the tolerance;
 *   2. run extension: an opaque pixel repeats the index just written to its left when that colour is
 *      within the tolerance, lengthening the strings LZW can reuse.
 *
 * Starting a transparent run needs an exact match: scattering single transparent pixels through opaque
 * areas breaks LZW strings and costs more bytes than it saves. `tolSq` is `tolerance` times the frame's mean
 * squared error of the nearest colours (sampled on every 16th pixel), so a frame's total squared error is
 * at most about (1 + tolerance) x what mapping every pixel to its nearest colour would give: PSNR at most
 * 10*log10(1 + tolerance) dB lower (2.4 dB at the default 0.75; 0.25 dB measured on the bench's walk),
 * whatever the content. Scaling by the frame's own error keeps near-lossless content near-lossless.
 */
import gifenc from 'gifenc';
import { EngineError, throwIfAborted } from '../errors.ts';
import type { RgbFrame } from '../frames.ts';
import { buildPalette, fillLut, lutKey, paletteColours, type Palette } from './palette.ts';

const { GIFEncoder } = gifenc;

/**
 * Default `tolerance`. 0.75 keeps PSNR at or above ffmpeg's best two-pass palette encode on the bench's walk
 * (34.5 vs 34.4 dB) while the file is 23% smaller; 1 would save another 5% for -0.1 dB.
 */
export const DEFAULT_TOLERANCE = 0.75;
/** Squared-RGB cap on the per-pixel tolerance (a distance of 16 levels), whatever the mean error is. */
const MAX_TOLERANCE_SQ = 16 * 16;
/** GIF delays are in 1/100 s; browsers show delays under 2 cs at 10 cs, so 2 cs (50 fps) is the floor. */
const MIN_DELAY_CS = 2;

export interface GifOptions {
  /** Frames per second wanted; the file stores `round(100 / fps)` hundredths of a second per frame. */
  fps: number;
  /**
   * Colour table size, 2..256. With two or more frames one entry is the transparent index, so 256 means
   * 255 visible colours. @defaultValue 256
   */
  maxColors?: number;
  /**
   * Size/quality knob for differencing and run extension, relative to the mean quantization error (see
   * the module comment). 0 keeps only pixels whose nearest colour is unchanged. @defaultValue 0.75
   */
  tolerance?: number;
  /** Netscape loop count: 0 loops forever. @defaultValue 0 */
  loop?: number;
  /** Checked between frames. */
  signal?: AbortSignal;
}

export interface GifResult {
  bytes: Uint8Array;
  width: number;
  height: number;
  frameCount: number;
  /** Delay stored per frame, in 1/100 s. */
  delayCs: number;
  /** 100 / delayCs: the rate the file really plays at. */
  effectiveFps: number;
  /** Visible colours in the global palette (without the transparent slot). */
  colors: number;
  /** Share of pixels after the first frame left transparent (showing the previous frame). */
  transparentShare: number;
}

/** The delay a GIF stores for `fps`, in 1/100 s (2..65535). */
export function gifDelayCs(fps: number): number {
  return Math.min(65535, Math.max(MIN_DELAY_CS, Math.round(100 / fps)));
}

/** Encodes `frames` (all the same size) as a looping GIF. */
export function encodeGif(frames: readonly RgbFrame[], options: GifOptions): GifResult {
  const first = frames[0];
  if (!first) throw new EngineError('BAD_OPTION', 'cannot encode a GIF with no frames');
  const { width, height } = first;
  if (width < 1 || height < 1 || width > 65535 || height > 65535) {
    throw new EngineError('BAD_OPTION', `GIF frames must be 1..65535 px a side, got ${width}x${height}`);
  }
  for (const [i, f] of frames.entries()) {
    if (f.width !== width || f.height !== height || f.data.length !== width * height * 3) {
      throw new EngineError('BAD_OPTION', `GIF frame ${i} is ${f.width}x${f.height}, expected ${width}x${height} like frame 0`);
    }
  }
  const { fps, maxColors = 256, tolerance = DEFAULT_TOLERANCE, loop = 0, signal } = options;
  if (!Number.isFinite(fps) || fps <= 0) throw new EngineError('BAD_OPTION', `GIF fps must be a positive number, got ${fps}`);
  if (!Number.isInteger(maxColors) || maxColors < 2 || maxColors > 256) {
    throw new EngineError('BAD_OPTION', `GIF maxColors must be an integer in 2..256, got ${maxColors}`);
  }
  if (!(tolerance >= 0)) throw new EngineError('BAD_OPTION', `GIF tolerance must be >= 0, got ${tolerance}`);
  if (!Number.isInteger(loop) || loop < 0 || loop > 65535) throw new EngineError('BAD_OPTION', `GIF loop must be an integer in 0..65535, got ${loop}`);

  const delayCs = gifDelayCs(fps);
  const animated = frames.length > 1;
  const palette = buildPalette(frames, animated ? maxColors - 1 : maxColors);
  const transparentIndex = palette.size;
  const table = paletteColours(palette);
  if (animated) table.push([0, 0, 0]);
  while (table.length < 2 || (table.length & (table.length - 1)) !== 0) table.push([0, 0, 0]);

  const n = width * height;
  const encoder = GIFEncoder({ initialCapacity: Math.min(n * frames.length, 1 << 26) / 2 + 4096 });
  const displayed = new Uint8Array(n);
  const index = new Uint8Array(n);
  let transparent = 0;
  for (const [k, frame] of frames.entries()) {
    throwIfAborted(signal);
    const tolSq = Math.min(MAX_TOLERANCE_SQ, tolerance * sampledNearestSq(frame.data, palette));
    transparent += mapFrame(frame.data, palette, displayed, index, k === 0, transparentIndex, tolSq);
    encoder.writeFrame(index, width, height, {
      palette: k === 0 ? table : undefined,
      delay: delayCs * 10, // gifenc takes ms and stores round(ms / 10)
      repeat: animated ? loop : -1,
      dispose: 1, // keep this frame under the next one's transparent pixels
      transparent: k > 0,
      transparentIndex: animated ? transparentIndex : 0,
    });
  }
  encoder.finish();
  return {
    bytes: encoder.bytes(),
    width,
    height,
    frameCount: frames.length,
    delayCs,
    effectiveFps: 100 / delayCs,
    colors: palette.size,
    transparentShare: animated ? transparent / (n * (frames.length - 1)) : 0,
  };
}

/** Mean squared error of the nearest palette colours over every 16th pixel of a frame (fills the LUT too). */
function sampledNearestSq(src: Uint8Array, palette: Palette): number {
  const { r: pr, g: pg, b: pb, lut } = palette;
  const n = src.length / 3;
  let sum = 0;
  let count = 0;
  for (let i = 0; i < n; i += 16) {
    const p = i * 3;
    const r = src[p]!, g = src[p + 1]!, b = src[p + 2]!;
    const key = lutKey(r, g, b);
    let q = lut[key]!;
    if (q === 0xffff) q = fillLut(palette, key);
    const dr = pr[q]! - r, dg = pg[q]! - g, db = pb[q]! - b;
    sum += dr * dr + dg * dg + db * db;
    count++;
  }
  return count > 0 ? sum / count : 0;
}

/**
 * Chooses every pixel's index for one frame (see the module comment), updates `displayed`, and returns
 * how many pixels stayed transparent. The error of the nearest colour is only computed where a decision
 * needs it: most pixels take the first branch (nearest colour already displayed).
 */
function mapFrame(
  src: Uint8Array,
  palette: Palette,
  displayed: Uint8Array,
  index: Uint8Array,
  isFirst: boolean,
  T: number,
  tolSq: number,
): number {
  const pr = palette.r, pg = palette.g, pb = palette.b, lut = palette.lut;
  const n = index.length;
  let transparent = 0;
  let prev = -1; // index written to the left (the LZW stream runs on across rows)
  for (let i = 0, p = 0; i < n; i++, p += 3) {
    const r = src[p]!, g = src[p + 1]!, b = src[p + 2]!;
    const key = ((r & 0xfc) << 10) | ((g & 0xfc) << 4) | (b >> 2); // lutKey, inlined by hand
    let q = lut[key]!;
    if (q === 0xffff) q = fillLut(palette, key);
    if (!isFirst) {
      const c = displayed[i]!;
      if (c === q) {
        index[i] = T;
        prev = T;
        transparent++;
        continue;
      }
      if (prev === T) {
        let dr = pr[q]! - r, dg = pg[q]! - g, db = pb[q]! - b;
        const nearestSq = dr * dr + dg * dg + db * db;
        dr = pr[c]! - r;
        dg = pg[c]! - g;
        db = pb[c]! - b;
        if (dr * dr + dg * dg + db * db <= nearestSq + tolSq) {
          index[i] = T;
          transparent++;
          continue;
        }
        index[i] = q;
        displayed[i] = q;
        prev = q;
        continue;
      }
    }
    if (prev !== q && prev !== T && prev >= 0) {
      let dr = pr[q]! - r, dg = pg[q]! - g, db = pb[q]! - b;
      const nearestSq = dr * dr + dg * dg + db * db;
      dr = pr[prev]! - r;
      dg = pg[prev]! - g;
      db = pb[prev]! - b;
      if (dr * dr + dg * dg + db * db <= nearestSq + tolSq) q = prev;
    }
    index[i] = q;
    displayed[i] = q;
    prev = q;
  }
  return transparent;
}
