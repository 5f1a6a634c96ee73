/**
 * LivePreview: the worker's side of live previews. Once a batch is checkpointed, the newest frame it finished
 * becomes a small still (WebP, fitted into PREVIEW_SIDE pixels) that the bot shows in the job's progress
 * message, replacing the one before.
 *
 * It must never slow the render (bench/preview.ts measures it): at most one still per `intervalMs`, at most
 * one being made at a time (a batch that ends while one is still on its way is skipped, the next one is
 * newer anyway), made off the render's path (sharp works on libuv's threads; nothing awaits it but the end of
 * the job), and a failure only costs that still. A still over `maxBytes` turns previews off for the job:
 * every frame of a render has the same size, so the next ones would not fit either.
 */
import sharp from 'sharp';
import type { RgbFrame } from '../engine/frames.ts';
import type { FrameBatch } from '../engine/types.ts';
import type { JobPreviewInfo } from '../jobs/contract.ts';
import type { PreviewStill, PreviewStore } from '../jobs/previews.ts';

/** Longest side of a still: big enough to see what is forming, small enough to upload every few seconds. */
export const PREVIEW_SIDE = 256;

export interface EncodedStill {
  data: Buffer;
  width: number;
  height: number;
  mimeType: string;
}

/**
 * The frame fitted into `side` x `side` (aspect kept): upscaled with nearest neighbour (a 64-pixel render
 * stays crisp, like the GIF's display scale), downscaled with lanczos; WebP at a modest quality.
 */
export async function encodeStill(frame: RgbFrame, side = PREVIEW_SIDE): Promise<EncodedStill> {
  const scale = Math.min(side / frame.width, side / frame.height);
  const width = Math.max(1, Math.round(frame.width * scale));
  const height = Math.max(1, Math.round(frame.height * scale));
  const data = await sharp(frame.data, { raw: { width: frame.width, height: frame.height, channels: 3 } })
    .resize(width, height, { fit: 'fill', kernel: scale >= 1 ? 'nearest' : 'lanczos3' })
    .webp({ quality: 75, effort: 2 })
    .toBuffer();
  return { data, width, height, mimeType: 'image/webp' };
}

export interface LivePreviewOptions {
  jobId: string;
  store: Pick<PreviewStore, 'publish'>;
  intervalMs: number;
  maxBytes: number;
  /** Told about each still once it is in Redis (the progress reporter passes it on to the bot). */
  onPublished: (info: JobPreviewInfo) => void;
  log?: (line: string) => void;
  now?: () => number;
  /** Stand-in encoder (tests). */
  encode?: (frame: RgbFrame) => Promise<EncodedStill>;
}

export class LivePreview {
  private lastAt = Number.NEGATIVE_INFINITY;
  private lastSeq = 0;
  private inFlight: Promise<void> | undefined;
  private off = false;
  /** Stills published so far. */
  published = 0;

  constructor(private readonly options: LivePreviewOptions) {}

  /** A batch was checkpointed: maybe make a still of its newest frame. Returns at once. */
  offer(batch: FrameBatch): void {
    if (this.off || this.inFlight || batch.frames.length === 0) return;
    const now = (this.options.now ?? Date.now)();
    if (now - this.lastAt < this.options.intervalMs) return;
    this.lastAt = now;
    const last = batch.frames.length - 1;
    this.inFlight = this.publish(batch.frames[last]!, batch.indices[last]!).finally(() => (this.inFlight = undefined));
  }

  /** Resolves when the still being made (if any) is published or dropped. */
  settle(): Promise<void> {
    return this.inFlight ?? Promise.resolve();
  }

  /** No more stills for this job (it ended). */
  stop(): void {
    this.off = true;
  }

  private async publish(frame: RgbFrame, index: number): Promise<void> {
    const { jobId, maxBytes } = this.options;
    try {
      const still = await (this.options.encode ?? encodeStill)(frame);
      if (this.off) return;
      if (still.data.length > maxBytes) {
        this.off = true;
        this.options.log?.(`no live previews for job ${jobId}: a still of its ${frame.width}x${frame.height} frames is ${still.data.length} bytes, over LATENTWALK_PREVIEW_MAX_BYTES (${maxBytes})`);
        return;
      }
      // Time-based, so that a job resumed by another worker goes on with larger numbers than its earlier stills.
      const seq = Math.max(this.lastSeq + 1, Date.now());
      this.lastSeq = seq;
      const entry: PreviewStill = { seq, frame: index, ...still };
      await this.options.store.publish(jobId, entry);
      this.published++;
      this.options.onPublished({ seq, frame: index, bytes: still.data.length });
    } catch (error) {
      // A lost still is only cosmetic; the next batch makes another.
      this.options.log?.(`a live preview of job ${jobId} was dropped: ${(error as Error).message}`);
    }
  }
}
