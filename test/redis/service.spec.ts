import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import Redis from 'ioredis';
import { enqueueJobs, parseResult, type JobResult } from '../../src/redis/index';
import { startAthenaServer, type AthenaTestServer } from '../../src/testing/index';
import { transpiledPackage, type PackageCopy } from '../examples/transpiledPackage';
import { startRedis, type RedisServer } from './redisServer';
import { makeImages, until, WorkerProcess } from './workerProcess';

/**
 * `athena-rx worker` as a service (issue 18), run as a process of the package built from the
 * current sources against a real redis-server and the in-process Athena server: outages of the
 * service, stops on SIGTERM with and without Redis, and jobs too large to hold.
 */
let redisServer: RedisServer;
let athena: AthenaTestServer;
let redis: Redis;
let pkg: PackageCopy;
let images: string;
const workers: WorkerProcess[] = [];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  images = fs.mkdtempSync(path.join(os.tmpdir(), 'athena-rx-service-'));
  [redisServer, athena, pkg] = await Promise.all([startRedis(), startAthenaServer({}), transpiledPackage(), makeImages(images, 120)]);
  redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
}, 60_000);

afterEach(async () => {
  for (const w of workers.splice(0)) {
    w.child.kill('SIGKILL');
    await w.exited;
  }
});

afterAll(async () => {
  redis?.disconnect();
  await Promise.all([redisServer?.stop(), athena?.stop()]);
  pkg?.remove();
  if (images) fs.rmSync(images, { recursive: true, force: true });
});

function startWorker(stream: string, ...extra: string[]): WorkerProcess {
  const args = ['--redis', redisServer.url, '--stream', stream, '--group', 'svc', '--consumer', `w${workers.length + 1}`];
  args.push('--address', athena.address, '--insecure', '--root', images);
  // Small batches, no compression or hashes: cheap jobs. A claim time well under the outages, so
  // that a worker that let its own jobs look idle would see them claimed (a delivery spent).
  args.push(
    '--claim-idle',
    '3000',
    '--in-flight',
    '24',
    '--batch-size',
    '8',
    '--concurrency',
    '2',
    '--brotli-quality',
    '0',
    '--hashes',
    'none',
  );
  const w = new WorkerProcess(pkg.dir, [...args, ...extra]);
  workers.push(w);
  return w;
}

async function results(stream: string): Promise<JobResult[]> {
  const entries = (await redis.xrange(`${stream}:results`, '-', '+')) as Array<[string, string[]]>;
  return entries.map(([, fields]) => parseResult(fields));
}

async function pending(stream: string): Promise<number> {
  return Number(((await redis.xpending(stream, 'svc')) as [number])[0]);
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Status and body of a GET on loopback. */
async function get(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.text() };
}

const imagePaths = (n: number): string[] => Array.from({ length: n }, (_, i) => path.join(images, `img${String(i).padStart(4, '0')}.png`));

/**
 * The service goes away after some results and comes back `outageMs` later on the same port,
 * with no --give-up-after: every job gets exactly one success, on its first delivery; nothing is
 * dead-lettered or left pending; the worker says once that it waits and once that it is back.
 */
async function outage(stream: string, outageMs: number): Promise<void> {
  const ids = await enqueueJobs(
    redis,
    stream,
    imagePaths(120).map((p) => ({ path: p })),
  );
  athena.faults.latency(20);
  const [healthPort, metricsPort] = [await freePort(), await freePort()];
  const w = startWorker(stream, '--health-port', String(healthPort), '--metrics-port', String(metricsPort), '--metrics-host', '127.0.0.1');
  const health = `http://127.0.0.1:${healthPort}`;
  const context = (): string => w.stderr;
  await until('30 results', async () => (await redis.xlen(`${stream}:results`)) >= 30, 60_000, context);
  expect(await get(`${health}/readyz`)).toMatchObject({ status: 200 });
  const { port } = athena;
  await athena.stop();
  await until('the worker to say the service is unreachable', () => w.stderr.includes('athena: unreachable'), 60_000, context);
  // A supervisor sees it: alive, not ready; and Prometheus sees the outage.
  expect(await get(`${health}/livez`)).toMatchObject({ status: 200 });
  expect(await get(`${health}/readyz`)).toEqual({ status: 503, body: 'athena unreachable\n' });
  expect((await get(`http://127.0.0.1:${metricsPort}/metrics`)).body).toMatch(
    /^athena_worker_outage\{athena_dependency="athena"[^}]*\} 1$/m,
  );
  // real-time wait: the outage itself, by design (the budget it must outlast is real time too);
  // what follows waits on a signal (every result written, nothing pending).
  await sleep(outageMs);
  athena = await startAthenaServer({ port });
  athena.faults.latency(20);
  await until(
    'every result, nothing pending',
    async () => (await redis.xlen(`${stream}:results`)) >= ids.length && (await pending(stream)) === 0,
    120_000,
    context,
  );
  const all = await results(stream);
  expect(all.map((r) => r.job).sort()).toEqual([...ids].sort());
  expect(all.filter((r) => r.kind !== 'success').map((r) => (r.kind === 'failure' ? `${r.code}: ${r.message}` : r.kind))).toEqual([]);
  expect(all.filter((r) => r.deliveries !== 1)).toEqual([]);
  expect(await redis.xlen(`${stream}:dead`)).toBe(0);
  expect(await pending(stream)).toBe(0);
  expect(w.stderr.match(/athena: unreachable/g)).toHaveLength(1);
  expect(w.stderr.match(/athena: answering again/g)).toHaveLength(1);
  expect(await get(`${health}/readyz`)).toMatchObject({ status: 200 });
  const metrics = (await get(`http://127.0.0.1:${metricsPort}/metrics`)).body;
  expect(metrics).toMatch(/^athena_worker_outage\{athena_dependency="athena"[^}]*\} 0$/m);
  expect(metrics).toMatch(/^athena_worker_outage\{athena_dependency="redis"[^}]*\} 0$/m);
  expect(metrics).toMatch(/^athena_worker_dead_letters_total\{[^}]*\} 0$/m);
  expect(metrics).toMatch(/^athena_worker_group_lag\{[^}]*\} \d+$/m);
  expect(metrics).toMatch(/^athena_worker_jobs_pending\{[^}]*\} \d+$/m);
  expect(metrics).toMatch(/^athena_client_images_total\{/m);
  expect(await w.stop()).toMatchObject({ code: 0 });
}

describe('athena-rx worker as a service', () => {
  it('rides out an Athena outage of 20 s without --give-up-after: one success per job, no delivery spent, nothing dead or pending', async () => {
    await outage('outage20', 20_000);
  }, 180_000);

  (process.env.ATHENA_LONG_TESTS === '1' ? it : it.skip)(
    'rides out an Athena outage of 90 s (ATHENA_LONG_TESTS=1)',
    async () => {
      await outage('outage90', 90_000);
    },
    300_000,
  );

  it('SIGTERM with nothing in flight: exit 0 at once', async () => {
    const stream = 'idle';
    const [id] = await enqueueJobs(redis, stream, [{ path: imagePaths(1)[0] }]);
    const w = startWorker(stream);
    await until(
      'its one result',
      async () => (await results(stream)).some((r) => r.job === id),
      60_000,
      () => w.stderr,
    );
    const { code, ms } = await w.stop();
    // The issue asks for 2 s; the bound here is generous for a loaded machine, the figure is printed.
    process.stdout.write(`idle worker exited ${code} ${Math.round(ms)} ms after SIGTERM\n`);
    expect(code).toBe(0);
    expect(ms).toBeLessThan(10_000);
  }, 90_000);

  it('SIGTERM with Redis stopped: exit 1 within the shutdown timeout, saying what stays pending', async () => {
    const stream = 'noredis';
    const [id] = await enqueueJobs(redis, stream, [{ path: imagePaths(1)[0] }]);
    const w = startWorker(stream, '--shutdown-timeout', '10');
    await until(
      'its one result',
      async () => (await results(stream)).some((r) => r.job === id),
      60_000,
      () => w.stderr,
    );
    await redisServer.kill();
    try {
      await until(
        'the worker to see Redis gone',
        () => /redis .*: unreachable/.test(w.stderr),
        60_000,
        () => w.stderr,
      );
      const { code, ms } = await w.stop();
      process.stdout.write(`worker without Redis exited ${code} ${Math.round(ms)} ms after SIGTERM\n`);
      expect(code).toBe(1);
      expect(ms).toBeLessThan(10_000);
      expect(w.stderr).toMatch(/Redis is unreachable.*0 jobs stay pending for the other workers/);
    } finally {
      await redisServer.start();
    }
  }, 120_000);

  it('a job of 10 MB gets JOB_TOO_LARGE without its fields, and the worker stays small', async () => {
    const stream = 'huge';
    const big = 'x'.repeat(10 * 1024 * 1024);
    const huge: string[] = [];
    for (let i = 0; i < 4; i++)
      huge.push((await redis.xadd(stream, '*', 'job', JSON.stringify({ path: imagePaths(1)[0], fields: { big } }))) as string);
    const [fine] = await enqueueJobs(redis, stream, [{ path: imagePaths(2)[1], fields: { small: true } }]);
    const w = startWorker(stream);
    await until(
      'five results',
      async () => (await redis.xlen(`${stream}:results`)) >= 5,
      60_000,
      () => w.stderr,
    );
    const peak = w.peakRss();
    process.stdout.write(`worker peak RSS with 4 jobs of 10 MB: ${(peak / 2 ** 20).toFixed(0)} MiB\n`);
    expect(peak).toBeLessThan(300 * 2 ** 20);
    const byJob = new Map((await results(stream)).map((r) => [r.job, r]));
    for (const id of huge) {
      expect(byJob.get(id)).toMatchObject({ kind: 'failure', code: 'JOB_TOO_LARGE', stage: 'job' });
      expect(byJob.get(id)).not.toHaveProperty('fields');
    }
    expect(byJob.get(fine)).toMatchObject({ kind: 'success', fields: { small: true } });
    // Nothing of the 10 MB was copied to the results.
    const entries = (await redis.xrange(`${stream}:results`, '-', '+')) as Array<[string, string[]]>;
    expect(Math.max(...entries.map(([, f]) => f.join('').length))).toBeLessThan(4096);
    expect(await w.stop()).toMatchObject({ code: 0 });
  }, 90_000);
});
