import { enqueueJobs, type JobResult } from '../../src/redis/index';
import { startAthenaServer } from '../../src/testing/index';
import { CHEAP_JOBS, workerFixture } from './fixture';
import { freePort } from './redisServer';
import { until, type WorkerProcess } from './workerProcess';

/**
 * `athena-rx worker` as a service (issue 18), run as a process of the package built from the
 * current sources against a real redis-server and the in-process Athena server: outages of the
 * service, stops on SIGTERM with and without Redis, and jobs too large to hold.
 */
const fx = workerFixture('service', 120);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/**
 * A job pending this long on a consumer that stopped touching it is claimed: a delivery spent.
 * Well under the outage (a worker touches its jobs every third of it), so that a worker that let
 * the jobs it holds look idle during the outage would see them claimed.
 */
const CLAIM_IDLE_MS = 3_000;
/**
 * The outage the suite rides out: two and a half claim times, 3.75 blocking reads of the worker
 * (2 s) and 15 of its reconnect delays (at most 500 ms). The outage's length in itself is what
 * ATHENA_LONG_TESTS adds (90 s, past the 60 s default budget of a classify run).
 */
const OUTAGE_MS = 7_500;

function startWorker(stream: string, ...extra: string[]): WorkerProcess {
  const args = ['--redis', fx.redisServer.url, '--stream', stream, '--group', 'svc', '--consumer', `w${fx.workers.length + 1}`];
  args.push('--address', fx.athena.address, '--insecure', '--root', fx.images);
  args.push('--claim-idle', String(CLAIM_IDLE_MS), ...CHEAP_JOBS);
  return fx.worker([...args, ...extra]);
}

async function results(stream: string): Promise<JobResult[]> {
  return (await fx.resultEntries(stream)).map((e) => e.result);
}

async function pending(stream: string): Promise<number> {
  return Number(((await fx.redis.xpending(stream, 'svc')) as [number])[0]);
}

/** Status and body of a GET on loopback. */
async function get(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.text() };
}

const imagePaths = (n: number): string[] => fx.imagePaths(n);

/**
 * The service goes away after some results and comes back `outageMs` later on the same port,
 * with no --give-up-after: every job gets exactly one success, on its first delivery; nothing is
 * dead-lettered or left pending; the worker says once that it waits and once that it is back.
 */
async function outage(stream: string, outageMs: number): Promise<void> {
  const ids = await enqueueJobs(
    fx.redis,
    stream,
    imagePaths(120).map((p) => ({ path: p })),
  );
  fx.athena.faults.latency(20);
  const [healthPort, metricsPort] = [await freePort(), await freePort()];
  const w = startWorker(stream, '--health-port', String(healthPort), '--metrics-port', String(metricsPort), '--metrics-host', '127.0.0.1');
  const health = `http://127.0.0.1:${healthPort}`;
  const context = (): string => w.stderr;
  await until('30 results', async () => (await fx.redis.xlen(`${stream}:results`)) >= 30, 60_000, context);
  expect(await get(`${health}/readyz`)).toMatchObject({ status: 200 });
  const { port } = fx.athena;
  await fx.athena.stop();
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
  fx.athena = await startAthenaServer({ port });
  fx.athena.faults.latency(20);
  await until(
    'every result, nothing pending',
    async () => (await fx.redis.xlen(`${stream}:results`)) >= ids.length && (await pending(stream)) === 0,
    120_000,
    context,
  );
  const all = await results(stream);
  expect(all.map((r) => r.job).sort()).toEqual([...ids].sort());
  expect(all.filter((r) => r.kind !== 'success').map((r) => (r.kind === 'failure' ? `${r.code}: ${r.message}` : r.kind))).toEqual([]);
  expect(all.filter((r) => r.deliveries !== 1)).toEqual([]);
  expect(await fx.redis.xlen(`${stream}:dead`)).toBe(0);
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
  it(`rides out an Athena outage of ${OUTAGE_MS / 1000} s (${OUTAGE_MS / CLAIM_IDLE_MS}x the claim time) without --give-up-after: one success per job, no delivery spent, nothing dead or pending`, async () => {
    await outage('outage', OUTAGE_MS);
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
    const [id] = await enqueueJobs(fx.redis, stream, [{ path: imagePaths(1)[0] }]);
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
    const [id] = await enqueueJobs(fx.redis, stream, [{ path: imagePaths(1)[0] }]);
    const w = startWorker(stream, '--shutdown-timeout', '10');
    await until(
      'its one result',
      async () => (await results(stream)).some((r) => r.job === id),
      60_000,
      () => w.stderr,
    );
    await fx.redisServer.kill();
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
      await fx.redisServer.start();
    }
  }, 120_000);

  it('a job of 10 MB gets JOB_TOO_LARGE without its fields, and the worker stays small', async () => {
    const stream = 'huge';
    const big = 'x'.repeat(10 * 1024 * 1024);
    const huge: string[] = [];
    for (let i = 0; i < 4; i++)
      huge.push((await fx.redis.xadd(stream, '*', 'job', JSON.stringify({ path: imagePaths(1)[0], fields: { big } }))) as string);
    const [fine] = await enqueueJobs(fx.redis, stream, [{ path: imagePaths(2)[1], fields: { small: true } }]);
    const w = startWorker(stream);
    await until(
      'five results',
      async () => (await fx.redis.xlen(`${stream}:results`)) >= 5,
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
    const entries = (await fx.redis.xrange(`${stream}:results`, '-', '+')) as Array<[string, string[]]>;
    expect(Math.max(...entries.map(([, f]) => f.join('').length))).toBeLessThan(4096);
    expect(await w.stop()).toMatchObject({ code: 0 });
  }, 90_000);
});
