/**
 * Image input (img2img): a still image file -> the RGB frame the VAE encoder takes, at the render's size.
 *
 * Policy: an image whose aspect is within 5:4 of the render's is centre-cropped to it (a few rows or columns
 * go) and resized with lanczos3; anything further off is refused rather than distorted or cropped to a strip,
 * with a message saying what would be taken. Transparency is flattened onto white; EXIF orientation applied.
 * Refused: files over the byte limit, anything sharp cannot read or that is not PNG / JPEG / WebP / GIF,
 * animations, and images over the pixel limit (decompression bombs).
 */
import sharp, { type Metadata } from 'sharp';
import { EngineError } from '../errors.ts';
import type { RgbFrame } from '../frames.ts';

export const INIT_IMAGE_LIMITS = {
  /** The file itself. */
  maxBytes: 10 * 1024 * 1024,
  /** Decoded pixels (width x height); sharp refuses to decode more. */
  maxPixels: 40_000_000,
  /** Longer side over shorter side of (image aspect / render aspect): up to this, centre-crop. */
  maxAspectMismatch: 1.25,
  formats: ['png', 'jpeg', 'webp', 'gif'] as readonly string[],
};

export interface PreparedInitImage {
  frame: RgbFrame;
  source: { width: number; height: number; format: string; bytes: number };
  /** The part of the (oriented) source that was kept, when it was cropped. */
  crop?: { left: number; top: number; width: number; height: number };
}

const bad = (message: string): never => {
  throw new EngineError('BAD_IMAGE', message);
};

function ratioText(w: number, h: number): string {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const g = gcd(w, h);
  const [a, b] = [w / g, h / g];
  return a <= 32 && b <= 32 ? `${a}:${b}` : `${(w / h).toFixed(2)}:1`;
}

/** Reads, checks and fits an image file to `width` x `height` (see the policy above). */
export async function prepareInitImage(bytes: Uint8Array, width: number, height: number): Promise<PreparedInitImage> {
  const L = INIT_IMAGE_LIMITS;
  if (bytes.length === 0) bad('the image file is empty');
  if (bytes.length > L.maxBytes) bad(`the image is ${(bytes.length / 1048576).toFixed(1)} MiB; the limit is ${L.maxBytes / 1048576} MiB`);
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { animated: true, limitInputPixels: false }).metadata();
  } catch {
    return bad('that file is not an image this bot can read (use a PNG, JPEG, WebP or GIF)');
  }
  const format = meta.format ?? 'unknown';
  if (!L.formats.includes(format)) bad(`a ${format.toUpperCase()} image is not supported; use a PNG, JPEG, WebP or GIF`);
  if ((meta.pages ?? 1) > 1) bad(`the image is animated (${meta.pages} frames); use a still image`);
  const pageHeight = meta.pageHeight ?? meta.height ?? 0;
  let w = meta.width ?? 0;
  let h = pageHeight;
  if (w < 1 || h < 1) bad('the image has no pixels');
  if (w * h > L.maxPixels) bad(`the image is ${w}x${h} (${((w * h) / 1e6).toFixed(0)} megapixels); the limit is ${L.maxPixels / 1e6} megapixels`);
  // EXIF orientations 5-8 turn the picture a quarter: its shown width is the stored height.
  if ((meta.orientation ?? 1) >= 5) [w, h] = [h, w];
  const mismatch = (w / h) / (width / height);
  if (Math.max(mismatch, 1 / mismatch) > L.maxAspectMismatch + 1e-9) {
    bad(`the image is ${w}x${h} (${ratioText(w, h)}) and this render is ${width}x${height} (${ratioText(width, height)}); crop it to about ${ratioText(width, height)} first (within 5:4)`);
  }
  // The crop sharp's 'cover' takes, for the report.
  const scale = Math.max(width / w, height / h);
  const keptW = Math.min(w, Math.round(width / scale));
  const keptH = Math.min(h, Math.round(height / scale));
  let data: Buffer;
  try {
    data = await sharp(bytes, { limitInputPixels: L.maxPixels })
      .rotate()
      .flatten({ background: '#ffffff' })
      .resize(width, height, { fit: 'cover', position: 'centre', kernel: 'lanczos3' })
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer();
  } catch (error) {
    return bad(`the image could not be decoded (${(error as Error).message.split('\n')[0]})`);
  }
  if (data.length !== width * height * 3) bad(`the image decoded to ${data.length} bytes, expected ${width}x${height} RGB`);
  const prepared: PreparedInitImage = {
    frame: { width, height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) },
    source: { width: w, height: h, format, bytes: bytes.length },
  };
  if (keptW < w || keptH < h) prepared.crop = { left: Math.floor((w - keptW) / 2), top: Math.floor((h - keptH) / 2), width: keptW, height: keptH };
  return prepared;
}
