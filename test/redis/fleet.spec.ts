import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Redis from 'ioredis';
import { enqueueJobs, parseResult, type JobResult } from '../../src/redis/index';
import { startAthenaServer, type AthenaTestServer } from '../../src/testing/index';
import { transpiledPackage, type PackageCopy } from '../examples/transpiledPackage';
import { startRedis, type RedisServer } from './redisServer';
import { makeImages } from './workerProcess';

/**
 * The fleet as it runs in production: `athena-rx enqueue` and several `athena-rx worker`
 * processes (the package built from the current sources), a real redis-server, and the
 * in-process Athena server over loopback gRPC. Workers die by SIGKILL, stop by SIGTERM, and
 * Redis restarts under them; every job must still get exactly one result.
 */
let redisServer: RedisServer;
let athena: AthenaTestServer;
let redis: Redis;
let pkg: PackageCopy;
let images: string;
const workers: Worker[] = [];

class Worker {
  stderr = '';
  readonly exited: Promise<number | null>;
  readonly child: ChildProcess;

  constructor(
    readonly name: string,
    stream: string,
  ) {
    const args = [path.join(pkg.dir, 'bin/athena-rx.js'), 'worker'];
    args.push('--redis', redisServer.url, '--stream', stream, '--group', 'fleet', '--consumer', name);
    args.push('--address', athena.address, '--insecure');
    // 10 s: short enough to pick up a killed worker's jobs soon, long enough that a live worker
    // starved of CPU on a loaded machine still touches its own jobs in time (3 s was not, at a
    // load of 20: another worker claimed live jobs and classified them after their result).
    args.push('--claim-idle', '10000', '--root', images);
    // Small batches and no compression or hashes: 500 tiny jobs stay cheap.
    args.push('--in-flight', '24', '--batch-size', '8', '--concurrency', '2', '--brotli-quality', '0', '--hashes', 'none');
    this.child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child.stderr!.on('data', (c: Buffer) => (this.stderr += c.toString()));
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    workers.push(this);
  }
}

async function until(what: string, test: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await test())) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; workers' stderr:\n${workers.map((w) => `${w.name}: ${w.stderr}`).join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function resultEntries(stream: string): Promise<Array<{ entryId: string; result: JobResult }>> {
  const entries = (await redis.xrange(`${stream}:results`, '-', '+')) as Array<[string, string[]]>;
  return entries.map(([entryId, fields]) => ({ entryId, result: parseResult(fields) }));
}

async function enqueue(stream: string, operand: string): Promise<string[]> {
  const run = spawn(
    process.execPath,
    [path.join(pkg.dir, 'bin/athena-rx.js'), 'enqueue', '--redis', redisServer.url, '--stream', stream, operand],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  run.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  run.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const code = await new Promise((resolve) => run.once('exit', resolve));
  expect({ code, err }).toMatchObject({ code: 0, err: expect.stringContaining(`on ${stream}`) });
  return out
    .trim()
    .split('\n')
    .map((line) => line.split('\t')[0]);
}

/** Every job exactly once among the results, and nothing left pending. */
async function expectExactlyOnce(stream: string, ids: readonly string[]): Promise<Array<{ entryId: string; result: JobResult }>> {
  const entries = await resultEntries(stream);
  const perJob = new Map<string, number>();
  for (const { result } of entries) perJob.set(result.job, (perJob.get(result.job) ?? 0) + 1);
  expect([...perJob.entries()].filter(([, n]) => n > 1)).toEqual([]);
  expect([...perJob.keys()].sort()).toEqual([...ids].sort());
  expect(entries.every(({ result }) => result.kind === 'success')).toBe(true);
  const [pending] = (await redis.xpending(stream, 'fleet')) as [number];
  expect(Number(pending)).toBe(0);
  return entries;
}

beforeAll(async () => {
  images = fs.mkdtempSync(path.join(os.tmpdir(), 'athena-rx-fleet-'));
  [redisServer, athena, pkg] = await Promise.all([startRedis(), startAthenaServer({}), transpiledPackage(), makeImages(images, 500)]);
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

describe('athena-rx worker fleet', () => {
  it('500 jobs, three workers, one SIGKILLed mid-run and one started: one result per job, none classified after its result was written', async () => {
    const stream = 'fleet500';
    const ids = await enqueue(stream, images);
    expect(ids).toHaveLength(500);
    const [w1] = [new Worker('w1', stream), new Worker('w2', stream), new Worker('w3', stream)];
    // Mid-run: once w1 has written some results (so it surely holds jobs in flight).
    await until('w1 to write results', async () => (await resultEntries(stream)).some((e) => e.result.consumer === 'w1'));
    w1.child.kill('SIGKILL');
    expect(await w1.exited).toBeNull();
    const [, w2] = workers;
    new Worker('w4', stream);

    // A SIGTERM mid-run: w2 stops reading, writes back what it holds, and exits 0 with nothing pending.
    await until('150 results', async () => (await redis.xlen(`${stream}:results`)) >= 150);
    w2.child.kill('SIGTERM');
    expect(await w2.exited).toBe(0);
    const w2Pending = (await redis.xpending(stream, 'fleet', '-', '+', 1000, 'w2')) as unknown[];
    expect(w2Pending).toEqual([]);
    expect(w2.stderr).toMatch(/stopping: finishing the \d+ jobs? in flight within 25 s[\s\S]*images in/);

    await until('500 results and nothing pending', async () => {
      const [pending] = (await redis.xpending(stream, 'fleet')) as [number];
      return (await redis.xlen(`${stream}:results`)) >= 500 && Number(pending) === 0;
    });
    const entries = await expectExactlyOnce(stream, ids);

    // w1 died holding jobs: others claimed them (a second delivery) and wrote their one result.
    const reclaimed = entries.filter(({ result }) => result.deliveries > 1);
    expect(reclaimed.length).toBeGreaterThan(0);
    expect(entries.some(({ result }) => result.consumer === 'w4')).toBe(true);

    // No image was sent to the service after its job's result was written (the entry id is Redis' ms clock).
    const writtenAt = new Map(entries.map(({ entryId, result }) => [result.job, Number(entryId.split('-')[0])]));
    const late = athena.audit.filter((a) => {
      const job = a.correlationId.split('/')[0];
      return writtenAt.has(job) && a.time > writtenAt.get(job)!;
    });
    expect(late).toEqual([]);

    for (const w of workers.slice(2)) w.child.kill('SIGTERM');
    expect(await Promise.all(workers.slice(2).map((w) => w.exited))).toEqual([0, 0]);
  }, 180_000);

  it('rides out a Redis restart mid-run: the workers reconnect and no job is lost or answered twice', async () => {
    const stream = 'restart';
    // 120 of the images, added in this process (the 500-job test covers athena-rx enqueue).
    const ids = await enqueueJobs(
      redis,
      stream,
      Array.from({ length: 120 }, (_, i) => ({ path: path.join(images, `img${String(i).padStart(4, '0')}.png`) })),
    );
    const fleet = [new Worker('r1', stream), new Worker('r2', stream)];
    await until('30 results', async () => (await redis.xlen(`${stream}:results`)) >= 30);
    await redisServer.restart(300);
    await until('120 results and nothing pending', async () => {
      const [pending] = (await redis.xpending(stream, 'fleet')) as [number];
      return (await redis.xlen(`${stream}:results`)) >= 120 && Number(pending) === 0;
    });
    await expectExactlyOnce(stream, ids);
    for (const w of fleet) expect(w.stderr).toContain('connected again');
    for (const w of fleet) w.child.kill('SIGTERM');
    expect(await Promise.all(fleet.map((w) => w.exited))).toEqual([0, 0]);
  }, 90_000);

  it('examples/redis-worker.mjs: classifies what is enqueued, one JSON line per job, and exits 0 on SIGTERM', async () => {
    const stream = 'example';
    const ids = await enqueueJobs(
      redis,
      stream,
      Array.from({ length: 10 }, (_, i) => ({ path: path.join(images, `img${String(i).padStart(4, '0')}.png`) })),
    );
    // Without ATHENA_* it starts the embedded server, as every example does.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ATHENA_')));
    const child = spawn(process.execPath, [path.join('examples', 'redis-worker.mjs')], {
      cwd: pkg.dir,
      env: { ...env, REDIS_URL: redisServer.url, STREAM: stream, GROUP: 'fleet', CONSUMER: 'example-1', IMAGE_ROOT: images },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      await until(
        'the example to write every result',
        async () => out.split('\n').filter((l) => l.startsWith('{"job"')).length >= ids.length,
      );
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
    const lines = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(
      lines
        .slice(0, -1)
        .map((l) => l.job)
        .sort(),
    ).toEqual([...ids].sort());
    expect(lines.slice(0, -1).every((l) => l.kind === 'success' && l.consumer === 'example-1')).toBe(true);
    expect(lines[lines.length - 1]).toEqual({
      summary: { consumer: 'example-1', written: 10, released: 0, 'dead-lettered': 0, superseded: 0 },
    });
    expect(err).toContain('embedded test server');
    await expectExactlyOnce(stream, ids);
  }, 60_000);
});
