/**
 * The job layer's public API for the bot and the operator CLI: the contract, the producer (submit, position,
 * list, cancel, retry, progress events, artifacts) and the result stream reader. Nothing reachable from here
 * imports the worker or the engine at runtime, so the bot process never loads onnxruntime.
 */
export * from './contract.ts';
export * from './errors.ts';
export { hasVisibleCharacter, normalizePrompt, promptLength } from './promptText.ts';
export {
  loadJobsConfig,
  jobsConfig,
  ConfigError,
  DEFAULT_JOBS_CONFIG,
  type JobsConfig,
  type JobsConfigOverrides,
  type JobLimits,
  type QueueCaps,
  type PreviewSettings,
} from './config.ts';
export { JobProducer, readableFailure, type SubmitTicket, type JobListing, type CancelResult } from './producer.ts';
export { PreviewStore, type PreviewStill } from './previews.ts';
export { ResultConsumer, type GiveUpHandler, type ResultAttempt, type ResultConsumerOptions, type ResultHandler } from './results.ts';
export { type JobPosition, type JobRecord } from './guild-queue.ts';
export { checkRedisServer, type RedisServerInfo } from './redis.ts';
export { WorkerDirectory, sizeUnavailable, lexiconId, WORKER_ANNOUNCE_INTERVAL_MS, WORKER_ANNOUNCE_TTL_MS, type ModelLexicon, type WorkerAnnouncement } from './workers.ts';
