/**
 * Errors the engine raises for things a user can fix (a bad pack, a bad option, an unwritable file).
 * `message` is one readable line that says what is wrong and, where it can, what to do about it;
 * the CLI prints it as is and exits non-zero, the worker fails the job with it.
 */
export type EngineErrorCode =
  | 'PACK_NOT_FOUND'
  | 'PACK_FILE_MISSING'
  | 'PACK_INVALID'
  | 'TENSOR_MISMATCH'
  | 'BAD_OPTION'
  | 'PROVIDER_UNAVAILABLE'
  | 'OUTPUT_UNWRITABLE'
  | 'BUDGET_UNREACHABLE'
  /** Image input: the pack has no vae_encoder. */
  | 'NO_VAE_ENCODER'
  /** Image input: not an image, animated, too large, or the wrong shape. */
  | 'BAD_IMAGE'
  | 'ABORTED';

export class EngineError extends Error {
  readonly code: EngineErrorCode;

  constructor(code: EngineErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = `EngineError[${code}]`;
  }
}

/** Thrown when a render's AbortSignal fires; callers treat it as "cancelled", not "failed". */
export class RenderAbortedError extends EngineError {
  constructor(reason?: unknown) {
    super('ABORTED', typeof reason === 'string' ? reason : 'render cancelled');
  }
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new RenderAbortedError(signal.reason instanceof Error ? signal.reason.message : signal.reason);
}
