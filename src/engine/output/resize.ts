/** Frame resizing with sharp, for display upscaling and for the byte budget's size steps. */
import sharp from 'sharp';
import type { RgbFrame } from '../frames.ts';

export type ResizeKernel = 'nearest' | 'lanczos3';

/** Resizes one frame to exactly `width` x `height` (no cropping). Returns the frame itself when the size matches. */
export async function resizeFrame(frame: RgbFrame, width: number, height: number, kernel: ResizeKernel = 'lanczos3'): Promise<RgbFrame> {
  if (width === frame.width && height === frame.height) return frame;
  const out = await sharp(frame.data, { raw: { width: frame.width, height: frame.height, channels: 3 }, limitInputPixels: false })
    .resize(width, height, { kernel, fit: 'fill' })
    .raw()
    .toBuffer();
  return { width, height, data: new Uint8Array(out.buffer, out.byteOffset, out.length) };
}

/**
 * Resizes frames to `width` x `height`. `upscaleKernel` is used only for exact integer upscales (the
 * display scale: nearest keeps pixels crisp and makes long GIF runs); anything else is resampled with lanczos3.
 */
export async function resizeFrames(frames: readonly RgbFrame[], width: number, height: number, upscaleKernel: ResizeKernel): Promise<RgbFrame[]> {
  const first = frames[0];
  if (!first) return [];
  const integerUp = width % first.width === 0 && height % first.height === 0 && width / first.width === height / first.height;
  const kernel = integerUp ? upscaleKernel : 'lanczos3';
  return Promise.all(frames.map((f) => resizeFrame(f, width, height, kernel)));
}
