import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Redis from 'ioredis';
import { lastValueFrom, Subject, toArray } from 'rxjs';
import { createAthenaClient, insecure, type AthenaGrpcClient } from '../../src/index';
import {
  encodeJob,
  enqueueJobs,
  parseResult,
  redisWorker,
  type JobResult,
  type RedisWorkerOptions,
  type WorkerEvent,
} from '../../src/redis/index';
import { commit } from '../../src/redis/scripts';
import { startAthenaServer, type AthenaTestServer } from '../../src/testing/index';
import { startRedis, type RedisServer } from './redisServer';

/**
 * The worker in this process against a real redis-server and the in-process Athena server over
 * loopback gRPC: what happens to bad jobs, unreadable images, poison jobs and a job two workers
 * both finish.
 */
const root = path.resolve(__dirname, '../..');
const sample = path.join(root, 'samples/seashore.jpg');

let redisServer: RedisServer;
let athena: AthenaTestServer;
let redis: Redis;
let client: AthenaGrpcClient;
let streamNo = 0;

beforeAll(async () => {
  [redisServer, athena] = await Promise.all([startRedis(), startAthenaServer({})]);
  redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
  client = createAthenaClient({ address: athena.address, credentials: insecure() });
}, 20_000);

afterAll(async () => {
  redis?.disconnect();
  client?.close();
  await Promise.all([redisServer?.stop(), athena?.stop()]);
});

afterEach(() => athena.faults.clear());

/** A fresh stream per test, so tests never see each other's jobs. */
const newStream = (): string => `jobs${++streamNo}`;

async function results(stream: string): Promise<JobResult[]> {
  const entries = (await redis.xrange(`${stream}:results`, '-', '+')) as Array<[string, string[]]>;
  return entries.map(([, fields]) => parseResult(fields));
}

async function pendingCount(stream: string, group: string): Promise<number> {
  const [count] = (await redis.xpending(stream, group)) as [number, ...unknown[]];
  return Number(count);
}

/** Runs a worker until the stream has nothing new and nothing is in flight. */
function drain(stream: string, extra: Partial<RedisWorkerOptions> = {}): Promise<WorkerEvent[]> {
  return lastValueFrom(
    redisWorker(redis, client, { stream, group: 'g', consumer: 'w1', drain: true, blockMs: 200, window: 8, ...extra }).pipe(toArray()),
  );
}

describe('redisWorker', () => {
  it('writes one result per job, echoing the caller fields, and acknowledges every job', async () => {
    const stream = newStream();
    const ids = await enqueueJobs(redis, stream, [
      { path: sample, fields: { upload: 1 } },
      { data: fs.readFileSync(path.join(root, 'samples/duck-pond.png')).toString('base64'), fields: { upload: 2 } },
      { path: path.join(root, 'samples/storm.jpg') },
    ]);
    const events = await drain(stream);
    expect(events.map((e) => e.kind)).toEqual(['written', 'written', 'written']);
    const byJob = new Map((await results(stream)).map((r) => [r.job, r]));
    expect([...byJob.keys()].sort()).toEqual([...ids].sort());
    expect(byJob.get(ids[0])).toMatchObject({
      kind: 'success',
      fields: { upload: 1 },
      consumer: 'w1',
      deliveries: 1,
      attempts: 1,
      correlationId: `${ids[0]}/1`,
    });
    expect(byJob.get(ids[1])).toMatchObject({ kind: 'success', fields: { upload: 2 } });
    expect(byJob.get(ids[2])).not.toHaveProperty('fields');
    expect(Object.keys((byJob.get(ids[0]) as { classifications: object }).classifications)).toContain('UnknownCSAM-PCSAM');
    expect(await pendingCount(stream, 'g')).toBe(0);
  });

  it('reads no more jobs than its window holds: the rest wait in Redis, where other workers can take them', async () => {
    const stream = newStream();
    await enqueueJobs(
      redis,
      stream,
      Array.from({ length: 24 }, () => ({ path: sample })),
    );
    athena.faults.latency(150);
    let most = 0;
    const watching = setInterval(() => {
      void redis.xpending(stream, 'g').then((reply) => (most = Math.max(most, Number((reply as [number])[0]))));
    }, 20);
    try {
      const events = await drain(stream, { window: 4 });
      expect(events.filter((e) => e.kind === 'written')).toHaveLength(24);
    } finally {
      clearInterval(watching);
    }
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(4);
  });

  it('answers malformed jobs with a failure result and a clear code, acknowledges them, and goes on with the next', async () => {
    const stream = newStream();
    const add = (...fields: string[]): Promise<string> => redis.xadd(stream, '*', ...fields) as Promise<string>;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'athena-rx-root-'));
    fs.copyFileSync(sample, path.join(dir, 'inside.jpg'));
    try {
      const notJson = await add('job', '{"path": ');
      const noField = await add('image', sample);
      const both = await add(...encodeJob({ path: 'a.jpg', data: 'AAAA' }));
      const array = await add('job', '[1, 2]');
      const badBase64 = await add('job', JSON.stringify({ data: 'not base64!', fields: { n: 5 } }));
      const tooLarge = await add(...encodeJob({ data: Buffer.alloc(3000).toString('base64') }));
      const outside = await add(...encodeJob({ path: '../escape.jpg' }));
      const good = await add(...encodeJob({ path: 'inside.jpg' }));
      await drain(stream, { root: dir, maxInlineBytes: 2000 });
      const byJob = new Map((await results(stream)).map((r) => [r.job, r]));
      expect(byJob.size).toBe(8);
      for (const id of [notJson, noField, both, array, badBase64])
        expect(byJob.get(id)).toMatchObject({ kind: 'failure', code: 'JOB_MALFORMED', stage: 'job', retryable: false, attempts: 0 });
      expect(byJob.get(notJson)).toMatchObject({ message: expect.stringContaining('not JSON') });
      expect(byJob.get(noField)).toMatchObject({ message: expect.stringContaining("no 'job' field") });
      expect(byJob.get(both)).toMatchObject({ message: expect.stringContaining("exactly one of 'path' and 'data'") });
      expect(byJob.get(badBase64)).toMatchObject({ fields: { n: 5 }, message: expect.stringContaining('not base64') });
      expect(byJob.get(tooLarge)).toMatchObject({ kind: 'failure', code: 'JOB_TOO_LARGE' });
      expect(byJob.get(outside)).toMatchObject({ kind: 'failure', code: 'JOB_PATH_OUTSIDE_ROOT' });
      expect(byJob.get(good)).toMatchObject({ kind: 'success' });
      expect(await pendingCount(stream, 'g')).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives an unreadable path a SOURCE_UNREADABLE result, acknowledged, without sending anything', async () => {
    const stream = newStream();
    const [missing] = await enqueueJobs(redis, stream, [{ path: '/nonexistent/athena-rx/missing.jpg', fields: { k: 'v' } }]);
    const sentBefore = athena.audit.length;
    await drain(stream);
    const [result] = await results(stream);
    expect(result).toMatchObject({
      job: missing,
      kind: 'failure',
      code: 'SOURCE_UNREADABLE',
      stage: 'preprocess',
      retryable: false,
      attempts: 0,
      fields: { k: 'v' },
    });
    expect(athena.audit.length).toBe(sentBefore);
    expect(await pendingCount(stream, 'g')).toBe(0);
  });

  it('moves a job that fails on every delivery to the dead-letter stream with its history, and writes its one result', async () => {
    const stream = newStream();
    const [poison, fine] = await enqueueJobs(redis, stream, [{ path: sample, fields: { bad: true } }, { path: sample }]);
    athena.faults.modelErrorFor((id) => id.startsWith(`${poison}/`));
    // No retries inside the pipeline: each delivery is one attempt; a short claim time brings the job back.
    const stop = new Subject<void>();
    const events: WorkerEvent[] = [];
    const done = lastValueFrom(
      redisWorker(redis, client, {
        stream,
        group: 'g',
        consumer: 'w1',
        window: 4,
        claimIdle: 150,
        blockMs: 50,
        maxDeliveries: 3,
        until: stop,
        pipeline: { retry: false },
      }).pipe(toArray()),
    );
    const deadline = Date.now() + 20_000;
    while ((await redis.xlen(`${stream}:dead`)) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    stop.next();
    events.push(...(await done));

    expect(events.filter((e) => e.kind === 'released').map((e) => (e as { deliveries: number }).deliveries)).toEqual([1, 2]);
    const dead = (await redis.xrange(`${stream}:dead`, '-', '+')) as Array<[string, string[]]>;
    expect(dead).toHaveLength(1);
    const entry = Object.fromEntries(dead[0][1].map((v, i, a) => (i % 2 === 0 ? [v, a[i + 1]] : [])).filter((p) => p.length === 2));
    expect(entry).toMatchObject({ id: poison, deliveries: '3', entry: JSON.stringify({ path: sample, fields: { bad: true } }) });
    const history = entry.history
      .trim()
      .split('\n')
      .map((l: string) => JSON.parse(l));
    expect(history.filter((h: { event: string }) => h.event === 'failed').map((h: { code: string }) => h.code)).toEqual(
      Array(3).fill('ERROR_CODE_MODEL_ERROR'),
    );
    expect(history.filter((h: { event: string }) => h.event === 'claimed').map((h: { deliveries: number }) => h.deliveries)).toEqual([
      2, 3,
    ]);

    const byJob = new Map((await results(stream)).map((r) => [r.job, r]));
    expect(byJob.size).toBe(2);
    expect(byJob.get(poison)).toMatchObject({ kind: 'failure', code: 'JOB_DEAD_LETTERED', deliveries: 3, fields: { bad: true } });
    expect(byJob.get(fine)).toMatchObject({ kind: 'success' });
    // The three attempts went out under distinct correlation ids, one per delivery.
    expect(athena.audit.filter((a) => a.correlationId.startsWith(`${poison}/`)).map((a) => a.correlationId)).toEqual(
      [1, 2, 3].map((n) => `${poison}/${n}`),
    );
    expect(await pendingCount(stream, 'g')).toBe(0);
    expect(await redis.exists(`${stream}:history:${poison}`)).toBe(0);
  });

  it('dead-letters, without classifying it, a job that keeps killing its workers (claimed past maxDeliveries)', async () => {
    const stream = newStream();
    await redis.xgroup('CREATE', stream, 'g', '0', 'MKSTREAM');
    const [killer] = await enqueueJobs(redis, stream, [{ path: sample, fields: { upload: 9 } }]);
    // Three workers took it in turn and died (each read or claim counts a delivery).
    await redis.xreadgroup('GROUP', 'g', 'dead1', 'COUNT', 1, 'STREAMS', stream, '>');
    await redis.xclaim(stream, 'g', 'dead2', 0, killer);
    await redis.xclaim(stream, 'g', 'dead3', 0, killer);
    // Claimable once Redis itself counts the job idle for claimIdle (20 ms): asked of Redis, not slept for.
    const idle = async () => Number(((await redis.xpending(stream, 'g', '-', '+', 1)) as Array<[string, string, number, number]>)[0]![2]);
    while ((await idle()) < 20) await new Promise((r) => setTimeout(r, 5));
    const events = await drain(stream, { claimIdle: 20, maxDeliveries: 3 });
    expect(events.map((e) => e.kind)).toEqual(['dead-lettered']);
    const [result] = await results(stream);
    expect(result).toMatchObject({
      job: killer,
      kind: 'failure',
      code: 'JOB_DEAD_LETTERED',
      deliveries: 4,
      fields: { upload: 9 },
      attempts: 0,
    });
    const dead = (await redis.xrange(`${stream}:dead`, '-', '+')) as Array<[string, string[]]>;
    expect(dead.map(([, f]) => f.slice(0, 6))).toEqual([
      ['id', killer, 'entry', JSON.stringify({ path: sample, fields: { upload: 9 } }), 'deliveries', '4'],
    ]);
    expect(athena.audit.some((a) => a.correlationId.startsWith(`${killer}/`))).toBe(false);
    expect(await pendingCount(stream, 'g')).toBe(0);
  });

  it('lets only the first of two workers that finished the same job write its result', async () => {
    const stream = newStream();
    await redis.xgroup('CREATE', stream, 'g', '0', 'MKSTREAM');
    const [id] = await enqueueJobs(redis, stream, [{ path: sample }]);
    await redis.xreadgroup('GROUP', 'g', 'slow', 'COUNT', 1, 'STREAMS', stream, '>');
    await redis.xclaim(stream, 'g', 'fast', 0, id);
    const keys = [stream, `${stream}:results`, `${stream}:history:${id}`, `${stream}:dead`] as const;
    const write = (consumer: string) => commit(redis, keys, ['g', id, '4', 'job', id, 'by', consumer]);
    expect(await write('fast')).toBe(1);
    expect(await write('slow')).toBe(0);
    const entries = (await redis.xrange(`${stream}:results`, '-', '+')) as Array<[string, string[]]>;
    expect(entries.map(([, f]) => f)).toEqual([['job', id, 'by', 'fast']]);
    expect(await pendingCount(stream, 'g')).toBe(0);
  });
});
