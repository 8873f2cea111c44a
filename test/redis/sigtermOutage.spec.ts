import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Redis from 'ioredis';
import { enqueueJobs, parseResult } from '../../src/redis/index';
import { startAthenaServer, type AthenaTestServer } from '../../src/testing/index';
import { transpiledPackage, type PackageCopy } from '../examples/transpiledPackage';
import { startRedis, type RedisServer } from './redisServer';
import { makeImages, until, WorkerProcess } from './workerProcess';

/**
 * `athena-rx worker` told to stop (SIGTERM) while the Athena service is away: the brief's "stops
 * within a bound on SIGTERM, exits non-zero when work is left undone, never spends a job's
 * delivery count on an outage", all at once. A process of the package built from the current
 * sources, a real redis-server, the in-process Athena server.
 */
let redisServer: RedisServer;
let athena: AthenaTestServer;
let redis: Redis;
let pkg: PackageCopy;
let images: string;
const workers: WorkerProcess[] = [];
const JOBS = 60;
const SHUTDOWN_TIMEOUT_S = 2;

beforeAll(async () => {
  images = fs.mkdtempSync(path.join(os.tmpdir(), 'athena-rx-sigterm-'));
  [redisServer, athena, pkg] = await Promise.all([startRedis(), startAthenaServer({}), transpiledPackage(), makeImages(images, JOBS)]);
  redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
}, 60_000);

afterAll(async () => {
  for (const w of workers.splice(0)) {
    w.child.kill('SIGKILL');
    await w.exited;
  }
  redis?.disconnect();
  await Promise.all([redisServer?.stop(), athena?.stop()]);
  pkg?.remove();
  if (images) fs.rmSync(images, { recursive: true, force: true });
});

function startWorker(stream: string, consumer: string): WorkerProcess {
  const w = new WorkerProcess(pkg.dir, [
    ...['--redis', redisServer.url, '--stream', stream, '--group', 'svc', '--consumer', consumer],
    ...['--address', athena.address, '--insecure', '--root', images],
    ...['--claim-idle', '3000', '--in-flight', '24', '--batch-size', '8', '--concurrency', '2'],
    ...['--brotli-quality', '0', '--hashes', 'none', '--shutdown-timeout', String(SHUTDOWN_TIMEOUT_S)],
  ]);
  workers.push(w);
  return w;
}

/** The group's pending entries: id and delivery count (`XPENDING stream group - + n`). */
async function pendingEntries(stream: string): Promise<Array<{ id: string; deliveries: number }>> {
  const rows = (await redis.xpending(stream, 'svc', '-', '+', 1000)) as Array<[string, string, number, number]>;
  return rows.map(([id, , , deliveries]) => ({ id, deliveries: Number(deliveries) }));
}

async function resultJobs(stream: string): Promise<string[]> {
  const entries = (await redis.xrange(`${stream}:results`, '-', '+')) as Array<[string, string[]]>;
  return entries.map(([, fields]) => parseResult(fields).job);
}

it('SIGTERM during an Athena outage: exit 1 within --shutdown-timeout, saying how many jobs stay pending; none dead-lettered, no delivery spent', async () => {
  const stream = 'sigterm-outage';
  const ids = await enqueueJobs(
    redis,
    stream,
    Array.from({ length: JOBS }, (_, i) => ({ path: path.join(images, `img${String(i).padStart(4, '0')}.png`) })),
  );
  athena.faults.latency(20);
  const w = startWorker(stream, 'w1');
  const context = (): string => w.stderr;
  await until('10 results', async () => (await redis.xlen(`${stream}:results`)) >= 10, 60_000, context);
  const { port } = athena;
  await athena.stop();
  await until('the worker to say the service is unreachable', () => w.stderr.includes('athena: unreachable'), 60_000, context);
  const held = await pendingEntries(stream);
  expect(held.length).toBeGreaterThan(0);

  const { code, ms } = await w.stop();
  process.stdout.write(
    `worker in an Athena outage exited ${code} ${Math.round(ms)} ms after SIGTERM (--shutdown-timeout ${SHUTDOWN_TIMEOUT_S})\n`,
  );
  expect(code).toBe(1);
  // The bound: the shutdown timeout, plus a generous margin for a loaded machine.
  expect(ms).toBeLessThan(SHUTDOWN_TIMEOUT_S * 1000 + 8_000);
  expect(w.stderr).toMatch(/stopping: finishing the \d+ jobs? in flight within 2 s, if the Athena service comes back/);
  const said = /athena-rx worker: (.*); (\d+) jobs? stays? pending for the other workers/.exec(w.stderr);
  expect(said).not.toBeNull();
  expect(said![1]).toMatch(/not finished within --shutdown-timeout 2 s.*athena.*unreachable/i);
  // What it said is what Redis holds: the jobs it held, each still on its first delivery.
  const left = await pendingEntries(stream);
  expect(Number(said![2])).toBe(left.length);
  expect(left.map((e) => e.id).sort()).toEqual(held.map((e) => e.id).sort());
  expect(left.filter((e) => e.deliveries !== 1)).toEqual([]);
  expect(await redis.xlen(`${stream}:dead`)).toBe(0);
  const done = await resultJobs(stream);
  expect(done.filter((job) => left.some((e) => e.id === job))).toEqual([]);

  // Nothing was lost: with the service back, a worker finishes every job, one result each.
  athena = await startAthenaServer({ port });
  const w2 = startWorker(stream, 'w2');
  await until(
    'a result for every job, nothing pending',
    async () => (await redis.xlen(`${stream}:results`)) >= JOBS && (await redis.xpending(stream, 'svc'))[0] === 0,
    90_000,
    () => w2.stderr,
  );
  expect((await resultJobs(stream)).sort()).toEqual([...ids].sort());
  expect(await redis.xlen(`${stream}:dead`)).toBe(0);
  expect(await w2.stop()).toMatchObject({ code: 0 });
}, 180_000);
