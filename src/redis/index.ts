/**
 * `athena-rx/redis`: a worker fleet on Redis Streams. Producers add jobs to a stream
 * (`enqueueJobs` or a plain `XADD`); workers (`redisWorker`, or `athena-rx worker`) read them
 * through a consumer group, classify them, and append exactly one result per job to a results
 * stream. Needs `ioredis` (an optional peer dependency of athena-rx): pass its client in.
 * See docs/scaling-out.md.
 */
export type { RedisConnection } from './connection';
export {
  DEFAULT_MAX_INLINE_BYTES,
  DEFAULT_MAX_JOB_BYTES,
  JOB_FIELD,
  encodeJob,
  encodeResult,
  entryFields,
  parseJob,
  parseResult,
  type ImageJob,
  type JobErrorCode,
  type JobFailure,
  type JobResult,
  type JobResultBase,
  type JobSuccess,
  type ParseJobOptions,
  type ParsedJob,
} from './jobs';
export { redisJobSource, type JobDelivery, type JobSourceControl, type RedisJobSourceOptions } from './jobSource';
export {
  redisWorker,
  DEFAULT_CLAIM_IDLE,
  DEFAULT_MAX_DELIVERIES,
  type JobRef,
  type RedisWorkerOptions,
  type WorkerEvent,
} from './redisWorker';
export { enqueueJobs, enqueueOnce, EnqueueError, type EnqueuedJob, type KeyedJob } from './enqueueJobs';
export { WorkerGaveUpError, workerStats, type WorkerStats } from './workerState';
