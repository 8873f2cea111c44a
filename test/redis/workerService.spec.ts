import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import Redis from 'ioredis';
import { lastValueFrom, Subject, tap, toArray } from 'rxjs';
import { createAthenaClient, insecure, type AthenaGrpcClient } from '../../src/index';
import {
  enqueueJobs,
  parseResult,
  redisWorker,
  WorkerGaveUpError,
  workerStats,
  type JobResult,
  type RedisConnection,
  type WorkerEvent,
} from '../../src/redis/index';
import { startAthenaServer, type AthenaTestServer } from '../../src/testing/index';
import { startRedis, type RedisServer } from './redisServer';
import { until } from './workerProcess';

/**
 * redisWorker in this process as a service meets the world: a `root` confines the files its jobs may read by what they are, not by how their path
 * reads: symlinks leading out are refused, and a refusal reads like a missing file, so that a
 * job's author learns nothing about what exists outside; Redis losing its data is named as such.
 */
const sample = path.resolve(__dirname, '../../samples/seashore.jpg');
let redisServer: RedisServer;
let athena: AthenaTestServer;
let redis: Redis;
let client: AthenaGrpcClient;
let base: string;

beforeAll(async () => {
  [redisServer, athena] = await Promise.all([startRedis(), startAthenaServer({})]);
  redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
  client = createAthenaClient({ address: athena.address, credentials: insecure() });
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'athena-rx-confine-'));
}, 20_000);

afterAll(async () => {
  redis?.disconnect();
  client?.close();
  await Promise.all([redisServer?.stop(), athena?.stop()]);
  fs.rmSync(base, { recursive: true, force: true });
});

async function results(stream: string): Promise<Map<string, JobResult>> {
  const entries = (await redis.xrange(`${stream}:results`, '-', '+')) as Array<[string, string[]]>;
  return new Map(entries.map(([, fields]) => parseResult(fields)).map((r) => [r.job, r]));
}

describe('redisWorker root', () => {
  it('refuses symlinks that lead outside the root, file or folder, alike with a missing file, and sends nothing for them', async () => {
    const root = path.join(base, 'root');
    const outside = path.join(base, 'outside');
    fs.mkdirSync(root);
    fs.mkdirSync(outside);
    fs.copyFileSync(sample, path.join(outside, 'secret.jpg'));
    fs.copyFileSync(sample, path.join(root, 'inside.jpg'));
    fs.symlinkSync(path.join(outside, 'secret.jpg'), path.join(root, 'link.jpg'));
    fs.symlinkSync(outside, path.join(root, 'folder'));
    // A symlink that stays inside is fine: what counts is where the file is.
    fs.symlinkSync(path.join(root, 'inside.jpg'), path.join(root, 'alias.jpg'));

    const stream = 'confined';
    const [link, folder, missing, inside, alias, absoluteLink] = await enqueueJobs(redis, stream, [
      { path: 'link.jpg' },
      { path: 'folder/secret.jpg' },
      { path: 'folder/missing.jpg' },
      { path: 'inside.jpg' },
      { path: 'alias.jpg' },
      { path: path.join(root, 'link.jpg') },
    ]);
    const auditBefore = athena.audit.length;
    await lastValueFrom(
      redisWorker(redis, client, { stream, group: 'g', consumer: 'c', root, drain: true, blockMs: 200, window: 8 }).pipe(toArray()),
    );
    const byJob = await results(stream);
    for (const id of [link, folder, missing, absoluteLink]) {
      expect(byJob.get(id)).toMatchObject({ kind: 'failure', code: 'SOURCE_UNREADABLE', attempts: 0 });
      expect((byJob.get(id) as { message: string }).message).toMatch(/^'.*' cannot be read inside the worker's root$/);
    }
    expect(byJob.get(inside)).toMatchObject({ kind: 'success' });
    expect(byJob.get(alias)).toMatchObject({ kind: 'success' });
    // Only the two files inside were sent: nothing of the secret left the machine.
    expect(athena.audit.length - auditBefore).toBe(2);
  });
});

describe('redisWorker when Redis loses its data', () => {
  it('says the jobs it held were dropped (not written by another worker), makes the group again, and goes on with new jobs', async () => {
    const stream = 'lost';
    await enqueueJobs(redis, stream, [{ path: sample }, { path: sample }, { path: sample }]);
    // Slow answers: the three are held when Redis forgets everything (a restart without persistence).
    athena.faults.latency(3_000);
    const stop = new Subject<void>();
    const events: WorkerEvent[] = [];
    const stats = workerStats();
    const done = lastValueFrom(
      redisWorker(redis, client, {
        stream,
        group: 'g',
        consumer: 'c',
        blockMs: 100,
        claimIdle: 60_000,
        window: 8,
        until: stop,
        stats,
      }).pipe(toArray()),
    );
    // All three read (their answers are 3 s away): then Redis forgets.
    while (stats.held < 3) await new Promise((r) => setTimeout(r, 10));
    await redis.flushall();
    athena.faults.clear();
    // A job added after the loss is read once the group is made again.
    const [after] = await enqueueJobs(redis, stream, [{ path: sample, fields: { after: true } }]);
    const deadline = Date.now() + 30_000;
    while (!(await results(stream)).has(after) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    stop.next();
    events.push(...(await done));
    expect(events.filter((e) => e.kind === 'dropped')).toHaveLength(3);
    expect(events.filter((e) => e.kind === 'superseded')).toHaveLength(0);
    expect(events.filter((e) => e.kind === 'group-lost')).toHaveLength(1);
    expect((await results(stream)).get(after)).toMatchObject({ kind: 'success', fields: { after: true } });
  }, 60_000);
});

describe('redisWorker with giveUpAfter', () => {
  it('gives the service up after the budget: no result, no delivery spent, the jobs it held left pending for other workers, a WorkerGaveUpError', async () => {
    const stream = 'givenup';
    const ids = await enqueueJobs(redis, stream, [{ path: sample }, { path: sample }, { path: sample }]);
    const closed = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = srv.address() as net.AddressInfo;
        srv.close(() => resolve(port));
      });
    });
    const nowhere = createAthenaClient({ address: `127.0.0.1:${closed}`, credentials: insecure() });
    const events: WorkerEvent[] = [];
    let error: unknown;
    try {
      error = await new Promise<unknown>((resolve) =>
        redisWorker(redis, nowhere, { stream, group: 'g', consumer: 'c', blockMs: 100, window: 8, giveUpAfter: 1_000 }).subscribe({
          next: (e) => events.push(e),
          error: resolve,
          complete: () => resolve(undefined),
        }),
      );
    } finally {
      nowhere.close();
    }
    // The jobs it had read when the service went (at least its probe): left, each once.
    expect(error).toBeInstanceOf(WorkerGaveUpError);
    const left = events.filter((e) => e.kind === 'left').length;
    expect(left).toBeGreaterThanOrEqual(1);
    expect(error).toMatchObject({ code: 'WORKER_GAVE_UP', leftPending: left });
    expect(events.filter((e) => e.kind === 'outage')).toEqual([expect.objectContaining({ state: 'down' })]);
    expect(await redis.xlen(`${stream}:results`)).toBe(0);
    // Pending, delivered once: the next worker's claim is their second delivery, not a sixth. The
    // rest was never read: it waits in the stream for a worker that can classify it.
    const pendingJobs = (await redis.xpending(stream, 'g', '-', '+', 10)) as Array<[string, string, number, number]>;
    expect(pendingJobs).toHaveLength(left);
    expect(pendingJobs.every(([id, , , deliveries]) => ids.includes(id) && deliveries === 1)).toBe(true);
    for (const id of ids) expect(await redis.exists(`${stream}:history:${id}`)).toBe(0);
  }, 30_000);
});

describe('redisWorker when the service goes while a read is on its way', () => {
  it('says the service is down only once that read has returned: the jobs it then says it holds are all that Redis gave it', async () => {
    const stream = 'read-in-outage';
    await enqueueJobs(
      redis,
      stream,
      Array.from({ length: 40 }, () => ({ path: sample })),
    );
    const server = await startAthenaServer({});
    server.faults.latency(50);
    const direct = createAthenaClient({ address: server.address, credentials: insecure() });
    // The worker's blocking reads go through this connection: Redis answers them at once, but the
    // answer to the read the test picks reaches the worker only when the test lets it.
    let delivered = 0;
    let holdNext = false;
    let release: (() => void) | undefined;
    const gated: RedisConnection = {
      call: (command, ...args) => redis.call(command, ...args),
      disconnect: () => undefined,
      duplicate() {
        const reader = redis.duplicate();
        return {
          async call(command, ...args) {
            const reply = await reader.call(command, ...args);
            if (command === 'XREADGROUP') {
              const n = (reply as Array<[string, unknown[]]> | null)?.[0]?.[1].length ?? 0;
              delivered += n;
              if (holdNext && n > 0) {
                holdNext = false;
                await new Promise<void>((resolve) => (release = resolve));
              }
            }
            return reply;
          },
          duplicate: () => gated.duplicate(),
          disconnect: () => reader.disconnect(),
          on: (event, listener) => reader.on(event, listener),
        };
      },
    };
    const stats = workerStats();
    let left = 0;
    // What the worker holds by its own count, and what Redis gave it, the moment it says the service is down.
    let atDown: { held: number; delivered: number } | undefined;
    const stop = new Subject<void>();
    const done = lastValueFrom(
      redisWorker(gated, direct, { stream, group: 'g', consumer: 'c', blockMs: 100, window: 4, stats, until: stop }).pipe(
        tap((e) => {
          if (e.kind === 'left') left++;
          if (e.kind === 'outage' && e.state === 'down') atDown ??= { held: stats.held + stats.written + left, delivered };
        }),
        toArray(),
      ),
    ).catch((err: unknown) => err);
    try {
      await until('8 results', async () => (await redis.xlen(`${stream}:results`)) >= 8, 30_000);
      holdNext = true;
      await until('a read held on its way', () => release !== undefined, 30_000);
      await server.stop();
      await until('the worker to find the service gone', () => stats.athenaDown, 30_000);
      release!();
      await until('the outage announced', () => atDown !== undefined, 30_000);
      // Written back, left, or held: every job Redis delivered to it is counted.
      expect(atDown).toEqual({ held: atDown!.delivered, delivered: atDown!.delivered });
      expect(atDown!.delivered).toBeGreaterThan(8);
    } finally {
      // The jobs held finish once the service is back; then the worker stops.
      release?.();
      const back = await startAthenaServer({ port: server.port });
      stop.next();
      await done;
      direct.close();
      await back.stop();
    }
  }, 60_000);
});
