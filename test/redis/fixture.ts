import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Redis from 'ioredis';
import { parseResult, type JobResult } from '../../src/redis/index';
import { startAthenaServer, type AthenaTestServer } from '../../src/testing/index';
import { transpiledPackage, type PackageCopy } from '../examples/transpiledPackage';
import { startRedis, type RedisServer } from './redisServer';
import { makeImages, WorkerProcess } from './workerProcess';

/**
 * What the suites that run `athena-rx worker` as processes share (service.spec, fleet.spec): a
 * real redis-server, the in-process Athena server, the package built from the current sources,
 * and a folder of tiny images. Call it at the top of a spec file: it registers the hooks that
 * start it all once for the file, kill the workers a case left running after each case, and stop
 * it all at the end. Fields are set once `beforeAll` has run.
 */
export interface WorkerFixture {
  readonly redisServer: RedisServer;
  /** A client of `redisServer` (`maxRetriesPerRequest: null`: it waits out a restart). */
  readonly redis: Redis;
  readonly pkg: PackageCopy;
  /** The folder of images (`img0000.png`...), the workers' `--root`. */
  readonly images: string;
  /**
   * The Athena server. A case may replace it (an outage stops it and starts another on the same
   * port): the fixture stops whichever is set when the file ends.
   */
  athena: AthenaTestServer;
  /** The first `n` image paths. */
  imagePaths(n: number): string[];
  /** Starts `athena-rx worker` with `args`; killed (SIGKILL) after the case if still running. */
  worker(args: readonly string[]): WorkerProcess;
  /** The workers started in the current case, in order. */
  readonly workers: readonly WorkerProcess[];
  /** Every result written to `<stream>:results`, with its entry id. */
  resultEntries(stream: string): Promise<Array<{ entryId: string; result: JobResult }>>;
}

/**
 * Flags that keep hundreds of jobs cheap for a worker: small batches and windows, no compression
 * or hashes.
 */
export const CHEAP_JOBS = ['--in-flight', '24', '--batch-size', '8', '--concurrency', '2', '--brotli-quality', '0', '--hashes', 'none'];

export function workerFixture(name: string, imageCount: number): WorkerFixture {
  const workers: WorkerProcess[] = [];
  let state: Omit<WorkerFixture, 'athena' | 'imagePaths' | 'worker' | 'workers' | 'resultEntries'> | undefined;
  const ready = () => {
    if (!state) throw new Error('workerFixture: used before its beforeAll ran');
    return state;
  };
  let athena: AthenaTestServer | undefined;

  beforeAll(async () => {
    const images = fs.mkdtempSync(path.join(os.tmpdir(), `athena-rx-${name}-`));
    let redisServer: RedisServer;
    let pkg: PackageCopy;
    [redisServer, athena, pkg] = await Promise.all([
      startRedis(),
      startAthenaServer({}),
      transpiledPackage(),
      makeImages(images, imageCount),
    ]);
    state = { redisServer, pkg, images, redis: new Redis(redisServer.url, { maxRetriesPerRequest: null }) };
  }, 120_000);

  afterEach(async () => {
    for (const w of workers.splice(0)) {
      w.child.kill('SIGKILL');
      await w.exited;
    }
  });

  afterAll(async () => {
    state?.redis.disconnect();
    await Promise.all([state?.redisServer.stop(), athena?.stop()]);
    state?.pkg.remove();
    if (state) fs.rmSync(state.images, { recursive: true, force: true });
  });

  return {
    get redisServer() {
      return ready().redisServer;
    },
    get redis() {
      return ready().redis;
    },
    get pkg() {
      return ready().pkg;
    },
    get images() {
      return ready().images;
    },
    get athena() {
      if (!athena) throw new Error('workerFixture: used before its beforeAll ran');
      return athena;
    },
    set athena(server: AthenaTestServer) {
      athena = server;
    },
    imagePaths: (n) => Array.from({ length: n }, (_, i) => path.join(ready().images, `img${String(i).padStart(4, '0')}.png`)),
    worker(args) {
      const w = new WorkerProcess(ready().pkg.dir, args);
      workers.push(w);
      return w;
    },
    workers,
    async resultEntries(stream) {
      const entries = (await ready().redis.xrange(`${stream}:results`, '-', '+')) as Array<[string, string[]]>;
      return entries.map(([entryId, fields]) => ({ entryId, result: parseResult(fields) }));
    },
  };
}
