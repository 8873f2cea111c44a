import type { RedisConnection } from './connection';
import { encodeJob, type ImageJob } from './jobs';

/**
 * Appends jobs to a stream (`XADD <stream> * job <JSON>`), with up to `chunk` commands in flight
 * at once, and resolves with their entry ids in the order of `jobs`.
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
