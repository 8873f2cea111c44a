import Redis from 'ioredis';
import { redisJobSource, type JobDelivery } from '../../src/redis/jobSource';
import { startRedis, type RedisServer } from './redisServer';
import { until } from './workerProcess';

/**
 * The job source's claim step and its own jobs: a job this consumer is working on whose touch came
 * late (an event loop held up past `claimIdle`, as on a loaded machine) looks idle to Redis, and
 * the claim step finds it. It must stay one delivery: a stress run saw a job dead-lettered with 4
 * deliveries of 3, because `XAUTOCLAIM` had counted a delivery for the source's own job in flight.
 */
let server: RedisServer;
let redis: Redis;

beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.url, { maxRetriesPerRequest: null });
});

afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

type PendingRow = [id: string, consumer: string, idleMs: number, deliveries: number];

it('claims back a job of its own in flight that Redis counts idle without spending a delivery on it, nor emitting it again', async () => {
  const stream = 'own-in-flight';
  const id = await redis.xadd(stream, '*', 'job', '{"path":"/nowhere"}');
  const claimIdle = 100;
  // Room for a second job, so the source keeps running claim steps (every claimIdle / 2) while it holds the first.
  const { jobs, control } = redisJobSource(redis, { stream, group: 'g', consumer: 'c', limit: 2, claimIdle, blockMs: 50, drain: false });
  const seen: JobDelivery[] = [];
  const sub = jobs.subscribe((d) => seen.push(d));
  try {
    await until('the first delivery', () => seen.length === 1, 10_000);
    // No touch: Redis counts the job idle past claimIdle; then a claim step takes it (its idle time
    // restarts: it falls between two samples). Two such steps: the source handles a step's reply
    // before it sends the next, so a second emission from the first would be in `seen` by then.
    let last = -1;
    let claims = 0;
    await until(
      'two claim steps after the job went idle',
      async () => {
        const [[, , idle, deliveries]] = (await redis.xpending(stream, 'g', '-', '+', 1)) as PendingRow[];
        if (last >= 0 && idle < last) claims += 1;
        last = idle;
        return claims >= 2 || deliveries > 1;
      },
      10_000,
    );
    const [[pendingId, consumer, , deliveries]] = (await redis.xpending(stream, 'g', '-', '+', 1)) as PendingRow[];
    expect({ pendingId, consumer, deliveries: Number(deliveries) }).toEqual({ pendingId: id, consumer: 'c', deliveries: 1 });
    expect(seen.map((d) => [d.id, d.deliveries])).toEqual([[id, 1]]);
  } finally {
    control.stop();
    sub.unsubscribe();
  }
});

it('reads no new job but the one that probes the service once an outage is declared during a claim step', async () => {
  // Seen in sigtermOutage.spec at load 4: the worker said "reading no new job", then read six. The
  // outage came while the claim step (`XAUTOCLAIM`) was awaited, and the read after it took the
  // room counted before the outage. Here the outage is declared exactly then, every time.
  const stream = 'outage-during-claim';
  for (let k = 0; k < 5; k++) await redis.xadd(stream, '*', 'job', `{"path":"/nowhere/${k}"}`);
  const onClaimStep: Redis = Object.create(redis) as Redis;
  onClaimStep.call = ((command: string, ...args: Array<string | number | Buffer>) => {
    if (command === 'XAUTOCLAIM') source.control.setOutage(true);
    return redis.call(command, ...args);
  }) as Redis['call'];
  const source = redisJobSource(onClaimStep, { stream, group: 'g', consumer: 'c', limit: 5, claimIdle: 60_000, blockMs: 50, drain: false });
  const { control } = source;
  const seen: JobDelivery[] = [];
  const sub = source.jobs.subscribe((d) => seen.push(d));
  try {
    await until('the probing job', () => seen.length >= 1, 10_000);
    // What one read took is pending as a whole once its first job is emitted.
    const [pending] = (await redis.xpending(stream, 'g')) as [number];
    expect({ pending: Number(pending), emitted: seen.length }).toEqual({ pending: 1, emitted: 1 });
  } finally {
    control.stop();
    sub.unsubscribe();
  }
});
