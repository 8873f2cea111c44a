// @ts-check
/**
 * A classification worker to deploy as it is (a container, a systemd unit, a Kubernetes
 * Deployment with as many replicas as you like): it takes image jobs from a Redis stream through
 * a consumer group and appends one result per job to a results stream. Start several, on several
 * machines; each job goes to one of them, and the jobs of a worker that dies are claimed by the
 * others. SIGTERM (what orchestrators send) stops reading, writes back what is in flight, exits 0.
 *
 *   REDIS_URL=redis://127.0.0.1:6379 STREAM=images node examples/redis-worker.mjs
 *
 * Environment, besides the ATHENA_* variables of connect.mjs:
 *   REDIS_URL       default redis://127.0.0.1:6379
 *   STREAM          the jobs stream (default images); results go to <STREAM>:results
 *   GROUP           the consumer group (default classifiers)
 *   CONSUMER        this worker's name (default <hostname>-<pid>; a pod name is a good choice)
 *   IMAGE_ROOT      where the shared storage is mounted; job paths must lie inside it
 *   WINDOW          jobs held at once (default 128)
 *   CLAIM_IDLE_MS   take over a dead worker's jobs after this long (default 60000)
 *
 * One JSON line per job on stdout ({ job, kind, code?, consumer, deliveries }), then a summary.
 * Add jobs with `athena-rx enqueue --stream images photos/`, or from any language:
 *   XADD images * job '{"path": "/mnt/uploads/a.jpg", "fields": {"upload": 17}}'
 */
import { hostname } from 'node:os';
import { Subject } from 'rxjs';
import { Redis } from 'ioredis';
import { redisWorker } from 'athena-rx/redis';
import { connect, isMain } from './connect.mjs';

/**
 * @param {{ env?: NodeJS.ProcessEnv, out?: NodeJS.WritableStream, stop?: Subject<void> }} [options]
 */
export async function main({ env = process.env, out = process.stdout, stop = new Subject() } = {}) {
  const stream = env.STREAM || 'images';
  const consumer = env.CONSUMER || `${hostname()}-${process.pid}`;
  // null: commands wait for Redis through a restart or failover instead of failing.
  const redis = new Redis(env.REDIS_URL || 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
  redis.on('error', (/** @type {Error} */ err) => process.stderr.write(`redis: ${err.message}\n`));
  const { client, close } = await connect(env);
  const counts = { written: 0, released: 0, 'dead-lettered': 0, superseded: 0 };
  try {
    await new Promise((resolve, reject) => {
      redisWorker(redis, client, {
        stream,
        group: env.GROUP || 'classifiers',
        consumer,
        root: env.IMAGE_ROOT || undefined,
        window: env.WINDOW ? Number(env.WINDOW) : undefined,
        claimIdle: env.CLAIM_IDLE_MS ? Number(env.CLAIM_IDLE_MS) : undefined,
        until: stop,
      }).subscribe({
        next: (event) => {
          // State changes, once each: the service gone or back, Redis' data lost.
          if (event.kind === 'outage')
            process.stderr.write(`athena: ${event.state === 'down' ? 'unreachable' : 'back'} (${event.message})\n`);
          if (event.kind === 'group-lost' || event.kind === 'dropped')
            process.stderr.write(`redis: ${'message' in event ? event.message : `job ${event.job} dropped`}\n`);
          if (event.kind === 'written' || event.kind === 'released' || event.kind === 'dead-lettered' || event.kind === 'superseded') {
            counts[event.kind] += 1;
          }
          if (event.kind === 'written' || event.kind === 'dead-lettered') {
            const { job, kind, deliveries } = event.result;
            const code = event.result.kind === 'failure' ? event.result.code : undefined;
            out.write(`${JSON.stringify({ job, kind, ...(code ? { code } : {}), consumer, deliveries })}\n`);
          }
        },
        error: reject,
        complete: () => resolve(undefined),
      });
    });
  } finally {
    redis.disconnect();
    await close();
  }
  out.write(`${JSON.stringify({ summary: { consumer, ...counts } })}\n`);
  return counts;
}

if (isMain(import.meta.url)) {
  const stop = new Subject();
  const onSignal = () => {
    process.stderr.write('stopping: finishing the jobs in flight\n');
    stop.next(undefined);
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  main({ stop }).then(
    () => undefined,
    (err) => {
      process.stderr.write(`redis-worker: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
