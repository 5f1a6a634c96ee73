/**
 * What a failed render tells its requester: one sentence of what happened and what to do, never a library's
 * own message (ioredis' "Reached the max retries per request limit", an onnxruntime status line, a stack).
 * The engine's errors are written for people already; everything else is told in the worker's words, and the
 * original goes to the worker's log with the job id.
 */
import { EngineError } from '../engine/errors.ts';
import { ArtifactStoreFullError } from '../jobs/artifacts.ts';
import { isRedisUnavailable, REDIS_UNAVAILABLE_REASON } from '../jobs/redis.ts';

export type FailureKind =
  /** The engine's own sentence. */
  | 'engine'
  /** Redis could not be reached: not the job's fault, and not worth an attempt. */
  | 'redis'
  /** A temporary condition of the bot's own (its file store is full). */
  | 'capacity'
  /** Anything else: an internal error. */
  | 'internal';

export interface Failure {
  kind: FailureKind;
  /** What the requester is shown. */
  reason: string;
}

export function describeFailure(error: unknown): Failure {
  if (error instanceof EngineError) return { kind: 'engine', reason: firstLine(error.message) };
  if (error instanceof ArtifactStoreFullError) {
    return { kind: 'capacity', reason: "the bot's store for finished files is full right now; press Reroll in a few minutes" };
  }
  if (isRedisUnavailable(error)) return { kind: 'redis', reason: REDIS_UNAVAILABLE_REASON };
  return {
    kind: 'internal',
    reason: "the renderer hit an internal error; press Reroll to try again, and tell the bot's operator if it keeps happening",
  };
}

function firstLine(text: string): string {
  return text.split('\n')[0]!.trim();
}
