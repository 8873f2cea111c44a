import type { RedisConnection } from './connection';
import { encodeJob, type ImageJob } from './jobs';
import { ENQUEUE_SCRIPT, runScript } from './scripts';

/**
 * Appends jobs to a stream (`XADD <stream> * job <JSON>`), with up to `chunk` commands in flight
 * at once, and resolves with their entry ids in the order of `jobs`. Each call adds every job
 * again: to make a re-run add only what is missing, give each job a key ({@link enqueueOnce}).
 *
 * @example
 * ```ts
 * import Redis from 'ioredis';
 * import { enqueueJobs } from 'athena-rx/redis';
 *
 * const redis = new Redis('redis://127.0.0.1:6379');
 * const ids = await enqueueJobs(redis, 'images', [{ path: '/mnt/uploads/a.jpg', fields: { upload: 1 } }]);
 * ```
 *
 * @param chunk Commands in flight at once. Default 256.
 */
export async function enqueueJobs(redis: RedisConnection, stream: string, jobs: Iterable<ImageJob>, chunk = 256): Promise<string[]> {
  const ids: string[] = [];
  let batch: Promise<unknown>[] = [];
  const flush = async (): Promise<void> => {
    ids.push(...((await Promise.all(batch)) as string[]));
    batch = [];
  };
  for (const job of jobs) {
    batch.push(redis.call('XADD', stream, '*', ...encodeJob(job)));
    if (batch.length >= chunk) await flush();
  }
  await flush();
  return ids;
}

/** A job with the key that makes it the same job on a re-run (a file's path, size and mtime; an upload id). */
export interface KeyedJob {
  /** What makes the job the same job on a re-run; at most one job per key is ever added to a stream. */
  readonly key: string;
  /** The job to add. */
  readonly job: ImageJob;
}

/** What {@link enqueueOnce} did with one job. */
export interface EnqueuedJob {
  /** The job's position in the jobs given. */
  readonly index: number;
  /** The job's entry id: the new entry's, or the one its key was added under before. */
  readonly id: string;
  /** False when a job with the same key had been added before (nothing was added). */
  readonly added: boolean;
}

/** {@link enqueueOnce} stopped part-way: `done` holds the jobs that went through (added or found), in order. */
export class EnqueueError extends Error {
  /** `ENQUEUE_FAILED`. */
  readonly code = 'ENQUEUE_FAILED';
  constructor(
    /** The jobs that went through before the failure (added, or found added before). */
    readonly done: readonly EnqueuedJob[],
    cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = 'EnqueueError';
  }
  /** Jobs added before it stopped. */
  get added(): number {
    return this.done.filter((j) => j.added).length;
  }
}

/**
 * Appends each job unless a job with the same key was appended before, in one atomic step per job
 * (the keys' entry ids are kept in the hash `<stream>:keys`): a run that stopped part-way (Redis
 * out of memory, a lost connection) can be run again as it is, and adds only what is missing.
 * Resolves with what happened to each job, in order; rejects with an {@link EnqueueError} that
 * says what was done before the failure. On Redis Cluster, give the stream a hash tag
 * (`{images}`) so that the stream and its keys share a slot.
 *
 * @param chunk Commands in flight at once. Default 256.
 */
export async function enqueueOnce(redis: RedisConnection, stream: string, jobs: Iterable<KeyedJob>, chunk = 256): Promise<EnqueuedJob[]> {
  const done: EnqueuedJob[] = [];
  let batch: Promise<unknown>[] = [];
  let next = 0;
  const flush = async (): Promise<void> => {
    const first = next - batch.length;
    const settled = await Promise.allSettled(batch);
    batch = [];
    // Every command that went through is counted, also those after a failed one.
    const failed = settled.find((s) => s.status === 'rejected');
    settled.forEach((s, i) => {
      if (s.status === 'rejected') return;
      const [id, added] = s.value as [string, number];
      done.push({ index: first + i, id, added: Number(added) === 1 });
    });
    if (failed) throw new EnqueueError(done, failed.reason);
  };
  for (const { key, job } of jobs) {
    batch.push(runScript(redis, ENQUEUE_SCRIPT, [stream, `${stream}:keys`], [key, ...encodeJob(job)]));
    next++;
    if (batch.length >= chunk) await flush();
  }
  await flush();
  return done;
}
