/**
 * Input images (img2img): the picture a job starts from, parked in Redis by the bot (which never decodes it
 * beyond its header: see imageHeader.ts) under a key the job names, and read by the worker when it renders.
 * Kept `INPUT_IMAGE_TTL_MS` so retries, resumes and Reroll find it; an expired one fails the job with a line
 * saying to run the command again.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { JobKeys } from './keys.ts';

/** The largest file a job may start from (the engine checks the same). */
export const INPUT_IMAGE_MAX_BYTES = 10 * 1024 * 1024;
/** The engine's default strength (engine/types.ts DEFAULT_STRENGTH), repeated so the bot never imports the engine. */
export const DEFAULT_IMAGE_STRENGTH = 0.6;
/** How long an input image stays: a day, for Reroll. */
export const INPUT_IMAGE_TTL_MS = 24 * 60 * 60 * 1000;

export class InputImageTooLargeError extends Error {
  constructor(bytes: number) {
    super(`the image is ${(bytes / 1048576).toFixed(1)} MiB; the limit is ${INPUT_IMAGE_MAX_BYTES / 1048576} MiB`);
    this.name = 'InputImageTooLargeError';
  }
}

export class InputImageStore {
  private readonly keys: JobKeys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly ttlMs = INPUT_IMAGE_TTL_MS,
  ) {
    this.keys = new JobKeys(prefix);
  }

  private key(id: string): string {
    return `${this.keys.base}:input:${id}`;
  }

  /** Stores the bytes under a fresh id (returned; the job's `settings.image.key`). */
  async put(bytes: Uint8Array): Promise<string> {
    if (bytes.length > INPUT_IMAGE_MAX_BYTES) throw new InputImageTooLargeError(bytes.length);
    const id = `img-${randomBytes(12).toString('hex')}`;
    await this.redis.set(this.key(id), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), 'PX', this.ttlMs);
    return id;
  }

  /** The bytes, or undefined once expired. */
  async get(id: string): Promise<Buffer | undefined> {
    return (await this.redis.getBuffer(this.key(id))) ?? undefined;
  }
}
