/**
 * FrameCheckpoint: frames a render has finished, saved to Redis after every batch so that a job whose worker
 * dies resumes on another worker instead of starting over (the engine takes them as `completedFrames`).
 *
 * One hash per job, `B:frames:<id>`: field = frame index, value = 8-byte header (width, height) + the RGB bytes
 * deflated (fast level: the point is to halve Redis memory, not to archive). A latent-blending render also
 * keeps each node's latents for later branches: field `s<index>`, the float32 bytes deflated, written in the
 * same transaction as the frame, so a resumed render branches from exactly the latents it would have used.
 * Field `model` records which model rendered them; frames from a different model are never mixed into a
 * render. The hash expires on its own if a job is abandoned, and the `finish` script deletes it when the job
 * ends.
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
const STATE_PREFIX = 's';

/** What earlier attempts of a job left: frames by index and, for blended walks, their nodes' kept latents. */
export interface CheckpointedWork {
  frames: Map<number, RgbFrame>;
  states: Map<number, Float32Array>;
}

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
    await Promise.all(
      (batch.states ?? []).map(async (state, i) => {
        const bytes = Buffer.from(state.buffer, state.byteOffset, state.byteLength);
        fields.push(`${STATE_PREFIX}${batch.indices[i]}`, await deflate(bytes, { level: 1 }));
      }),
    );
    const key = this.keys.frames(jobId);
    await this.redis.multi().hset(key, ...fields).pexpire(key, this.ttlMs).exec();
  }

  /** Frames (and kept latents) saved by earlier attempts of this job with this model; empty when there are none. */
  async load(jobId: string, model: string): Promise<CheckpointedWork> {
    const stored = await this.redis.hgetallBuffer(this.keys.frames(jobId));
    const work: CheckpointedWork = { frames: new Map(), states: new Map() };
    if (stored[MODEL_FIELD]?.toString() !== model) return work;
    for (const [field, value] of Object.entries(stored)) {
      if (field === MODEL_FIELD) continue;
      try {
        if (field.startsWith(STATE_PREFIX)) {
          const data = await inflate(value);
          if (data.length % 4 !== 0) continue; // damaged: the engine renders that node again
          const copy = new Float32Array(data.length / 4);
          new Uint8Array(copy.buffer).set(data);
          work.states.set(Number(field.slice(STATE_PREFIX.length)), copy);
          continue;
        }
        if (value.length < 8) continue;
        const width = value.readUInt32BE(0);
        const height = value.readUInt32BE(4);
        const data = await inflate(value.subarray(8));
        if (data.length !== width * height * 3) continue; // damaged: render that frame again
        work.frames.set(Number(field), { width, height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
      } catch {
        // damaged: render that frame again
      }
    }
    return work;
  }

  /** Frames saved so far (tests and `jobs list` use it to show resumable work). */
  async count(jobId: string): Promise<number> {
    const fields = await this.redis.hkeys(this.keys.frames(jobId));
    return fields.filter((f) => f !== MODEL_FIELD && !f.startsWith(STATE_PREFIX)).length;
  }

  async clear(jobId: string): Promise<void> {
    await this.redis.del(this.keys.frames(jobId));
  }
}
