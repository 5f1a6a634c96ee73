/**
 * FrameCheckpoint: frames a render has finished, saved to Redis after every batch so that a job whose worker
 * dies resumes on another worker instead of starting over (the engine takes them as `completedFrames`).
 *
 * One hash per job, `B:frames:<id>`: field = frame index, value = 8-byte header (width, height) + the RGB bytes
 * deflated (fast level: the point is to halve Redis memory, not to archive). Field `model` records which model
 * rendered them; frames from a different model are never mixed into a render. The hash expires on its own if
 * a job is abandoned, and the `finish` script deletes it when the job ends.
 */
import { promisify } from 'node:util';
import { deflateRaw, inflateRaw } from 'node:zlib';
import type { Redis } from 'ioredis';
import type { RgbFrame } from '../engine/frames.ts';
import type { FrameBatch } from '../engine/types.ts';
import { JobKeys } from '../jobs/keys.ts';

const deflate = promisify(deflateRaw);
const inflate = promisify(inflateRaw);
const MODEL_FIELD = 'model';

export class FrameCheckpoint {
  private readonly keys: JobKeys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly ttlMs: number,
  ) {
    this.keys = new JobKeys(prefix);
  }

  async save(jobId: string, batch: FrameBatch, model: string): Promise<void> {
    const fields: (string | Buffer)[] = [MODEL_FIELD, model];
    await Promise.all(
      batch.frames.map(async (frame, i) => {
        const header = Buffer.alloc(8);
        header.writeUInt32BE(frame.width, 0);
        header.writeUInt32BE(frame.height, 4);
        const body = await deflate(frame.data, { level: 1 });
        fields.push(String(batch.indices[i]), Buffer.concat([header, body]));
      }),
    );
    const key = this.keys.frames(jobId);
    await this.redis.multi().hset(key, ...fields).pexpire(key, this.ttlMs).exec();
  }

  /** Frames saved by earlier attempts of this job with this model; empty when there are none. */
  async load(jobId: string, model: string): Promise<Map<number, RgbFrame>> {
    const stored = await this.redis.hgetallBuffer(this.keys.frames(jobId));
    const frames = new Map<number, RgbFrame>();
    if (stored[MODEL_FIELD]?.toString() !== model) return frames;
    for (const [field, value] of Object.entries(stored)) {
      if (field === MODEL_FIELD || value.length < 8) continue;
      const width = value.readUInt32BE(0);
      const height = value.readUInt32BE(4);
      try {
        const data = await inflate(value.subarray(8));
        if (data.length !== width * height * 3) continue; // damaged: render that frame again
        frames.set(Number(field), { width, height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
      } catch {
        // damaged: render that frame again
      }
    }
    return frames;
  }

  /** Frames saved so far (tests and `jobs list` use it to show resumable work). */
  async count(jobId: string): Promise<number> {
    const fields = await this.redis.hlen(this.keys.frames(jobId));
    return Math.max(0, fields - 1);
  }

  async clear(jobId: string): Promise<void> {
    await this.redis.del(this.keys.frames(jobId));
  }
}
