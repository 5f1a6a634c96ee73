/**
 * Image input from Discord: an attachment (a /morph option, or the message a "Morph from this image" menu
 * was used on) checked from what Discord says about it, then downloaded from its CDN URL with the size checked
 * before anything is read (the attachment's `size`, then the response's Content-Length, then the bytes as
 * they arrive), then its header sniffed (jobs/imageHeader.ts). Everything wrong is an InputError: an ephemeral
 * answer saying what to attach instead. The bot never decodes the picture; the worker does.
 */
import { INPUT_IMAGE_MAX_BYTES } from '../jobs/inputImages.ts';
import { readImageHeader } from '../jobs/imageHeader.ts';
import { safePrompt } from './replies/text.ts';
import { InputError } from './validation.ts';

/** What Discord tells about an attachment (discord.js' Attachment has these fields). */
export interface AttachmentInfo {
  id: string;
  name: string;
  url: string;
  size: number;
  contentType: string | null;
  width?: number | null;
  height?: number | null;
}

/** As the engine's rule (engine/image/InitImage.ts): within 5:4 of the render is centre-cropped, further off refused. */
const MAX_ASPECT_MISMATCH = 1.25;
const DOWNLOAD_TIMEOUT_MS = 15_000;
const MiB = 1024 * 1024;

const name = (a: AttachmentInfo): string => safePrompt(a.name, 60);

/** Renders here are square (the bot sets width = height); the aspect check assumes that. */
function checkAspect(a: AttachmentInfo, width: number, height: number): void {
  const mismatch = width / height;
  if (Math.max(mismatch, 1 / mismatch) > MAX_ASPECT_MISMATCH + 1e-9) {
    throw new InputError(`${name(a)} is ${width}×${height}; renders here are square, so crop it to about 1:1 (within 5:4) and attach it again.`);
  }
}

/** The checks that need no download: is it an image, is it small enough, is its shape close to square. */
export function checkAttachment(a: AttachmentInfo): void {
  const type = (a.contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (!type.startsWith('image/')) throw new InputError(`${name(a)} is not an image; attach a PNG, JPEG, WebP or GIF.`);
  if (!['image/png', 'image/jpeg', 'image/webp', 'image/gif'].includes(type)) {
    throw new InputError(`${name(a)} is ${type.slice(6).toUpperCase()}; attach a PNG, JPEG, WebP or GIF.`);
  }
  if (a.size > INPUT_IMAGE_MAX_BYTES) {
    throw new InputError(`${name(a)} is ${(a.size / MiB).toFixed(1)} MiB; images up to ${INPUT_IMAGE_MAX_BYTES / MiB} MiB can be used, so attach a smaller one.`);
  }
  if (a.width && a.height) checkAspect(a, a.width, a.height);
}

/** Downloads the attachment (never more than the limit) and checks its header. */
export async function downloadAttachmentImage(a: AttachmentInfo, options: { fetch?: typeof fetch; timeoutMs?: number } = {}): Promise<Uint8Array> {
  checkAttachment(a);
  const get = options.fetch ?? fetch;
  const failed = (why: string) => new InputError(`I could not download ${name(a)} (${why}); attach it again.`);
  let response: Response;
  try {
    response = await get(a.url, { signal: AbortSignal.timeout(options.timeoutMs ?? DOWNLOAD_TIMEOUT_MS) });
  } catch (error) {
    throw failed((error as Error).name === 'TimeoutError' ? 'it took too long' : 'the connection failed');
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel().catch(() => undefined);
    throw failed(`HTTP ${response.status}`);
  }
  const tooLarge = (bytes: number) => new InputError(`${name(a)} is ${(bytes / MiB).toFixed(1)} MiB; images up to ${INPUT_IMAGE_MAX_BYTES / MiB} MiB can be used, so attach a smaller one.`);
  const stated = Number(response.headers.get('content-length'));
  if (Number.isFinite(stated) && stated > INPUT_IMAGE_MAX_BYTES) {
    await response.body.cancel().catch(() => undefined);
    throw tooLarge(stated);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > INPUT_IMAGE_MAX_BYTES) {
        await reader.cancel().catch(() => undefined);
        throw tooLarge(total);
      }
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw failed('the download was cut off');
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  const header = readImageHeader(bytes);
  if (!header) throw new InputError(`${name(a)} is not an image I can read; attach a PNG, JPEG, WebP or GIF.`);
  if (header.animated) throw new InputError(`${name(a)} is animated; attach a still image.`);
  if (header.width < 1 || header.height < 1) throw new InputError(`${name(a)} has no pixels; attach another image.`);
  checkAspect(a, header.width, header.height);
  return bytes;
}
