/**
 * PreviewStore: the newest live preview still of each rendering job, between the worker that makes it and
 * the bot that shows it in the progress message.
 *
 * One hash per job, `B:preview:<id>` (seq, frame, width, height, type, data), replaced whole on every publish
 * (the bot only ever wants the newest) and expiring on its own; the `finish` script deletes it when the job
 * ends. The progress events only carry `{ seq, frame, bytes }` (JobProgress.preview), so the event stream
 * never holds image bytes, and a bot fetches a still only when it is about to show it.
 */
import type { Redis } from 'ioredis';
import { JobKeys } from './keys.ts';

/** A preview outlives a stalled job this long at most (the finish script deletes it as soon as the job ends). */
export const PREVIEW_TTL_MS = 15 * 60_000;

export interface PreviewStill {
  /** Grows with each still of a job (a resumed job goes on from where its earlier attempt stopped). */
  seq: number;
  /** Index of the frame (or grid cell) it shows. */
  frame: number;
  width: number;
  height: number;
  mimeType: string;
  data: Buffer;
}

export class PreviewStore {
  private readonly keys: JobKeys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly ttlMs = PREVIEW_TTL_MS,
  ) {
    this.keys = new JobKeys(prefix);
  }

  async publish(jobId: string, still: PreviewStill): Promise<void> {
    const key = this.keys.preview(jobId);
    await this.redis
      .multi()
      .del(key)
      .hset(key, 'seq', still.seq, 'frame', still.frame, 'width', still.width, 'height', still.height, 'type', still.mimeType, 'data', still.data)
      .pexpire(key, this.ttlMs)
      .exec();
  }

  /** The newest still, or undefined when there is none (not rendering, none made yet, or damaged). */
  async fetch(jobId: string): Promise<PreviewStill | undefined> {
    const stored = await this.redis.hgetallBuffer(this.keys.preview(jobId));
    const number = (field: string) => {
      const value = Number(stored[field]?.toString());
      return Number.isInteger(value) && value >= 0 ? value : undefined;
    };
    const seq = number('seq');
    const frame = number('frame');
    const width = number('width');
    const height = number('height');
    const data = stored['data'];
    const mimeType = stored['type']?.toString();
    if (seq === undefined || frame === undefined || !width || !height || !data?.length || !mimeType?.startsWith('image/')) return undefined;
    return { seq, frame, width, height, mimeType, data };
  }

  async clear(jobId: string): Promise<void> {
    await this.redis.del(this.keys.preview(jobId));
  }
}
