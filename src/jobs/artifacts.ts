/**
 * ArtifactStore: encoded results (GIF / MP4 / WebP / PNG bytes) parked in Redis until the bot uploads them.
 *
 * Bytes live under `B:artifact:<id>` with a TTL. Because TTL expiry does not tell anyone, the byte total is
 * kept by hand: every store first sweeps entries whose expiry time has passed (from the `B:artifacts` zset),
 * then refuses if the live total plus the new bytes would pass the configured ceiling. A refusal is
 * retryable (the worker retries the job later; its frames are checkpointed, so only encoding is redone).
 */
import type { Redis } from 'ioredis';
import type { ArtifactRef, OutputFormat } from './contract.ts';
import { JobKeys } from './keys.ts';
import { LuaScript } from './redis.ts';

const SWEEP = `
local function sweep(B, now)
  local expired = redis.call('ZRANGEBYSCORE', B .. ':artifacts', '-inf', now)
  for _, id in ipairs(expired) do
    local size = tonumber(redis.call('HGET', B .. ':artifact-sizes', id) or '0')
    redis.call('DECRBY', B .. ':artifact-bytes', size)
    redis.call('HDEL', B .. ':artifact-sizes', id)
    redis.call('ZREM', B .. ':artifacts', id)
    redis.call('DEL', B .. ':artifact:' .. id)
  end
end
local function forget(B, id)
  local size = tonumber(redis.call('HGET', B .. ':artifact-sizes', id) or '0')
  if size > 0 then redis.call('DECRBY', B .. ':artifact-bytes', size) end
  redis.call('HDEL', B .. ':artifact-sizes', id)
  redis.call('ZREM', B .. ':artifacts', id)
  redis.call('DEL', B .. ':artifact:' .. id)
end
`;

const STORE = new LuaScript(
  'store-artifact',
  `${SWEEP}
local B, id, now, ttl, cap, bytes = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
sweep(B, now)
-- A re-run after a crash replaces its own earlier artifact instead of counting it twice.
forget(B, id)
local total = tonumber(redis.call('GET', B .. ':artifact-bytes') or '0')
if total + #bytes > cap then return {'FULL', tostring(total), tostring(cap)} end
redis.call('SET', B .. ':artifact:' .. id, bytes, 'PX', ttl)
redis.call('HSET', B .. ':artifact-sizes', id, #bytes)
redis.call('ZADD', B .. ':artifacts', now + ttl, id)
redis.call('INCRBY', B .. ':artifact-bytes', #bytes)
return {'OK', tostring(total + #bytes)}
`,
);

const DELETE = new LuaScript(
  'delete-artifact',
  `${SWEEP}
local B, id, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
sweep(B, now)
forget(B, id)
return 1
`,
);

/** The store is at its byte ceiling; retry once the bot has fetched (and deleted) some artifacts. */
export class ArtifactStoreFullError extends Error {
  constructor(used: number, cap: number) {
    super(`the artifact store is full (${used} of ${cap} bytes in use); the job will be retried`);
    this.name = 'ArtifactStoreFullError';
  }
}

export interface ArtifactBytes {
  bytes: Uint8Array;
  format: OutputFormat;
  mimeType: string;
  extension: string;
  width: number;
  height: number;
  frameCount: number;
  fps?: number;
  reductions: string[];
}

export class ArtifactStore {
  private readonly keys: JobKeys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly options: { ttlMs: number; capBytes: number },
  ) {
    this.keys = new JobKeys(prefix);
  }

  async store(jobId: string, artifact: ArtifactBytes, now = Date.now()): Promise<ArtifactRef> {
    const bytes = Buffer.from(artifact.bytes.buffer, artifact.bytes.byteOffset, artifact.bytes.byteLength);
    const [status, a, b] = await STORE.run<string[]>(this.redis, [], [
      this.keys.base,
      jobId,
      now,
      this.options.ttlMs,
      this.options.capBytes,
      bytes,
    ]);
    if (status !== 'OK') throw new ArtifactStoreFullError(Number(a), Number(b));
    const ref: ArtifactRef = {
      key: jobId,
      bytes: bytes.byteLength,
      mimeType: artifact.mimeType,
      extension: artifact.extension,
      format: artifact.format,
      width: artifact.width,
      height: artifact.height,
      frameCount: artifact.frameCount,
      reductions: artifact.reductions,
      expiresAt: now + this.options.ttlMs,
    };
    if (artifact.fps !== undefined) ref.fps = artifact.fps;
    return ref;
  }

  /** The bytes, or undefined once expired or deleted. */
  async fetch(key: string): Promise<Buffer | undefined> {
    return (await this.redis.getBuffer(this.keys.artifact(key))) ?? undefined;
  }

  /** Frees the bytes (the bot calls this after uploading). */
  async delete(key: string, now = Date.now()): Promise<void> {
    await DELETE.run(this.redis, [], [this.keys.base, key, now]);
  }

  async usedBytes(): Promise<number> {
    return Number((await this.redis.get(this.keys.artifactBytes)) ?? 0);
  }
}
