// The worker fleet on Redis Streams against one `athena-rx classify` process on the same images:
// throughput with 1 and 2 `athena-rx worker` processes (with --drain, so each exits once the
// stream is empty), as ratios to the classify process, every process timed from spawn to exit.
// Then the measurement behind the design (docs/scaling-out.md): two consumers of one shared
// deployment, and how many answers reach the consumer that did not send the image.
//
//   npm run build && node bench/redis.mjs [--quick] [--images N] [--reps N]
//
// With --capacity, the Redis side alone (docs/scaling-out.md, "Capacity"): many workers in this
// process on one redis-server, a latency-only Athena server (its latency fault; jobs carry hashes
// and no pixels, so the server decodes nothing) and a no-op preparer; Redis' own counters
// (INFO commandstats, stats, cpu) give the commands, bytes and Redis CPU per job.
//
//   npm run build && node bench/redis.mjs --capacity [--jobs N] [--workers K] [--latency MS]
//
// Needs redis-server on PATH (or REDIS_SERVER); the Athena server runs in a process of its own
// (bench/server.mjs). Prints ratios, never asserts.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import { distDir, f1, f2, load, median, root, samplePhotos, startServerProcess } from './lib.mjs';

const require = createRequire(import.meta.url);
const REDIS_SERVER = process.env.REDIS_SERVER ?? (existsSync('/usr/bin/redis-server') ? '/usr/bin/redis-server' : 'redis-server');
const BIN = join(root, 'bin', 'athena-rx.js');

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** A throwaway redis-server (no persistence: the bench measures throughput, not durability). */
async function startRedis() {
  const dir = mkdtempSync(join(tmpdir(), 'athena-rx-bench-redis-'));
  const port = await freePort();
  const child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c) => {
      out += c;
      if (out.includes('Ready to accept connections')) resolve(undefined);
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${out}`)));
  });
  child.stdout.resume();
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs `athena-rx args...`; resolves with its wall time (ms) from spawn to exit. */
function timeCli(args) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c) => (err += c));
    child.once('exit', (code) =>
      code === 0 ? resolve(performance.now() - started) : reject(new Error(`athena-rx ${args[0]} exited ${code}: ${err}`)),
    );
  });
}

export async function benchRedis({ quick = false, images, reps, log = console.log } = {}) {
  const { Redis } = require('ioredis');
  const { enqueueJobs } = require(join(distDir(), 'redis', 'index.js'));
  const n = images ?? (quick ? 200 : 600);
  const repeat = reps ?? (quick ? 1 : 3);
  const photos = samplePhotos();
  // N distinct files (copies of the sample photos, not links: classify takes each real path once).
  const dir = mkdtempSync(join(tmpdir(), 'athena-rx-bench-images-'));
  const files = Array.from({ length: n }, (_, i) => {
    const p = photos[i % photos.length];
    const file = join(dir, `${String(i).padStart(5, '0')}-${p.name}`);
    copyFileSync(p.path, file);
    return file;
  });

  const [server, redisServer] = await Promise.all([startServerProcess(), startRedis()]);
  const redis = new Redis(redisServer.url);
  const connection = ['--address', server.address, '--insecure'];
  const rates = { classify: [], worker1: [], worker2: [] };
  try {
    let round = 0;
    const runClassify = async () => {
      const output = join(dir, 'classify.jsonl');
      const ms = await timeCli(['classify', dir, ...connection, '--format', 'jsonl', '--output', output]);
      const lines = readFileSync(output, 'utf8').trim().split('\n').length;
      if (lines !== n) throw new Error(`classify wrote ${lines} results for ${n} images`);
      rmSync(output);
      rates.classify.push((n * 1000) / ms);
    };
    const runWorkers = async (k) => {
      const stream = `bench${round++}`;
      await enqueueJobs(
        redis,
        stream,
        files.map((path) => ({ path })),
      );
      const worker = (i) => [
        'worker',
        '--redis',
        redisServer.url,
        '--stream',
        stream,
        '--group',
        'bench',
        '--consumer',
        `w${i}`,
        '--drain',
        ...connection,
      ];
      const started = performance.now();
      await Promise.all(Array.from({ length: k }, (_, i) => timeCli(worker(i))));
      const ms = performance.now() - started;
      const written = await redis.xlen(`${stream}:results`);
      if (written !== n) throw new Error(`${k} worker(s) wrote ${written} results for ${n} jobs`);
      rates[`worker${k}`].push((n * 1000) / ms);
    };
    const runs = [runClassify, () => runWorkers(1), () => runWorkers(2)];
    for (let rep = 0; rep < repeat; rep++) {
      // The order rotates each repetition, so that a load change from outside does not always
      // hit the same run; the ratios are taken within a repetition.
      for (let i = 0; i < runs.length; i++) await runs[(rep + i) % runs.length]();
      log(
        `  rep ${rep + 1}: classify ${f1(rates.classify[rep])}, 1 worker ${f1(rates.worker1[rep])}, 2 workers ${f1(rates.worker2[rep])} images/s`,
      );
    }

    const shared = await sharedDeployment(server.address, quick ? 100 : 200);
    const result = {
      images: n,
      reps: repeat,
      classify: median(rates.classify),
      worker1: median(rates.worker1),
      worker2: median(rates.worker2),
      shared,
    };
    // The median of the per-repetition ratios: each repetition's runs share the same load.
    result.ratio1 = median(rates.worker1.map((w, i) => w / rates.classify[i]));
    result.ratio2 = median(rates.worker2.map((w, i) => w / rates.classify[i]));
    log(
      `redis fleet (${n} images, medians of ${repeat}; ratios within each repetition): classify ${f1(result.classify)}, 1 worker ${f1(result.worker1)} (${f2(result.ratio1)}), 2 workers ${f1(result.worker2)} (${f2(result.ratio2)}) images/s`,
    );
    log(
      `shared deployment, 2 consumers x ${shared.perConsumer} images: ${shared.foreign} of ${shared.answers} answers (${f1(shared.foreignShare * 100)}%) reached the other consumer; ` +
        `${shared.timedOut} results RESPONSE_TIMEOUT after ${shared.responseTimeout} ms; own deployments: ${shared.ownForeign} foreign, ${shared.ownTimedOut} timed out`,
    );
    return result;
  } finally {
    redis.disconnect();
    await Promise.all([server.stop(), redisServer.stop()]);
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Two pipelines of one process on one shared deployment (as two workers sharing a deployment
 * would be), each sending its own raw images: how many answers reach the pipeline that did not
 * send the image, and how many images of each then end as RESPONSE_TIMEOUT. The same with a
 * deployment each, for comparison.
 */
async function sharedDeployment(address, perConsumer) {
  const { athena, rxjs } = load();
  const { from, lastValueFrom, toArray } = rxjs;
  // Long enough that a loaded machine does not time out answers that do come (3 s did, at load 20).
  const responseTimeout = 10_000;
  const pixels = new Uint8Array(448 * 448 * 3).map((_, i) => (i * 7) % 251);
  const run = async (deploymentId) => {
    const clients = [0, 1].map(() => athena.createAthenaClient({ address, credentials: athena.insecure() }));
    try {
      const events = await Promise.all(
        clients.map((client, c) =>
          lastValueFrom(
            from(Array.from({ length: perConsumer }, (_, i) => ({ source: { bgr: pixels }, ref: `${c}-${i}` }))).pipe(
              athena.classifyImages(client, {
                retry: false,
                classify: deploymentId ? { deploymentId, responseTimeout } : { responseTimeout },
              }),
              toArray(),
            ),
          ),
        ),
      );
      const all = events.flat();
      return {
        foreign: all.filter((e) => e.kind === 'foreign').length,
        timedOut: all.filter((e) => e.kind === 'failure' && e.code === 'RESPONSE_TIMEOUT').length,
      };
    } finally {
      for (const c of clients) c.close();
    }
  };
  const shared = await run(`bench-shared-${process.pid}-${Date.now()}`);
  const own = await run(undefined);
  const answers = 2 * perConsumer;
  return {
    perConsumer,
    answers,
    foreign: shared.foreign,
    foreignShare: shared.foreign / answers,
    timedOut: shared.timedOut,
    responseTimeout,
    ownForeign: own.foreign,
    ownTimedOut: own.timedOut,
  };
}

/** Redis' counters: calls and µs per command, bytes in and out, CPU seconds. */
async function redisCounters(redis) {
  const info = await redis.info('all');
  const commands = {};
  for (const m of info.matchAll(/^cmdstat_(\w+):calls=(\d+),usec=(\d+)/gm)) commands[m[1]] = { calls: Number(m[2]), usec: Number(m[3]) };
  const num = (name) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  return {
    commands,
    bytesIn: num('total_net_input_bytes'),
    bytesOut: num('total_net_output_bytes'),
    cpu: num('used_cpu_user') + num('used_cpu_sys'),
  };
}

/**
 * The Redis work per job, and the jobs per second of `workers` in-process workers against a
 * latency-only server: what one stream costs Redis, to find where one Redis core saturates.
 */
export async function benchRedisCapacity({ jobs = 20_000, workers = 8, latency = 20, log = console.log } = {}) {
  const { Redis } = require('ioredis');
  const { athena, rxjs } = load();
  const { redisWorker, enqueueJobs } = require(join(distDir(), 'redis', 'index.js'));
  const [server, redisServer] = await Promise.all([startServerProcess({ latency }), startRedis()]);
  const producer = new Redis(redisServer.url);
  const connections = [];
  const clients = [];
  const stream = `capacity-${process.pid}`;
  try {
    // A job names a path it never reads: the no-op preparer sends an MD5 and no pixels.
    await enqueueJobs(
      producer,
      stream,
      Array.from({ length: jobs }, (_, i) => ({ path: `/bench/${i}.jpg`, fields: { n: i } })),
    );
    const noop = (input) =>
      rxjs.of({
        kind: 'prepared',
        correlationId: input.correlationId,
        format: 'IMAGE_FORMAT_JPEG',
        encoding: 'REQUEST_ENCODING_UNCOMPRESSED',
        data: Buffer.alloc(0),
        hashes: [{ type: 'HASH_TYPE_MD5', value: '0'.repeat(32) }],
        pixelHashes: [],
        passedThrough: false,
        sourceFormat: 'IMAGE_FORMAT_JPEG',
        sizes: { original: 0, prepared: 0, wire: 0 },
        timings: { readMs: 0, decodeMs: 0, resizeMs: 0, hashMs: 0, compressMs: 0, totalMs: 0 },
        ref: input.ref,
      });
    const before = await redisCounters(producer);
    const started = performance.now();
    const runs = Array.from({ length: workers }, (_, w) => {
      const redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
      connections.push(redis);
      const client = athena.createAthenaClient({ address: server.address, credentials: athena.insecure() });
      clients.push(client);
      return rxjs.lastValueFrom(
        redisWorker(redis, client, {
          stream,
          group: 'capacity',
          consumer: `w${w}`,
          drain: true,
          window: 64,
          pipeline: { metrics: false, preprocess: { prepare: noop }, batch: { maxCount: 32 } },
        }).pipe(rxjs.count((e) => e.kind === 'written')),
      );
    });
    const written = (await Promise.all(runs)).reduce((a, b) => a + b, 0);
    const seconds = (performance.now() - started) / 1000;
    const after = await redisCounters(producer);
    const per = (x) => x / written;
    const byCommand = Object.entries(after.commands)
      .map(([name, c]) => ({
        name,
        calls: c.calls - (before.commands[name]?.calls ?? 0),
        usec: c.usec - (before.commands[name]?.usec ?? 0),
      }))
      .filter((c) => c.calls > 0 && !['info'].includes(c.name))
      .sort((a, b) => b.calls - a.calls);
    const cpuPerJob = per(after.cpu - before.cpu);
    const memory = async (key) => Number((await producer.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) ?? 0);
    const [jobBytes, resultBytes] = [await memory(stream), await memory(`${stream}:results`)];
    const result = {
      jobs,
      written,
      workers,
      latency,
      jobsPerSecond: written / seconds,
      commandsPerJob: per(byCommand.reduce((a, c) => a + c.calls, 0)),
      byCommand: byCommand.map((c) => ({ name: c.name, perJob: per(c.calls), usecPerCall: c.usec / c.calls })),
      bytesInPerJob: per(after.bytesIn - before.bytesIn),
      bytesOutPerJob: per(after.bytesOut - before.bytesOut),
      redisCpuUsPerJob: cpuPerJob * 1e6,
      redisCpuShare: (after.cpu - before.cpu) / seconds,
      saturatesAt: 1 / cpuPerJob,
      memoryPerJob: jobBytes / jobs,
      memoryPerResult: resultBytes / written,
    };
    log(`capacity: ${written} of ${jobs} jobs by ${workers} workers (server latency ${latency} ms): ${f1(result.jobsPerSecond)} jobs/s`);
    log(
      `  Redis per job (commands inside scripts counted too): ${f2(result.commandsPerJob)} commands, ${f1(result.bytesInPerJob)} bytes in, ${f1(result.bytesOutPerJob)} bytes out, ${f1(result.redisCpuUsPerJob)} µs CPU`,
    );
    for (const c of result.byCommand) log(`    ${c.name.padEnd(12)} ${f2(c.perJob)} per job, ${f1(c.usecPerCall)} µs per call`);
    log(`  Redis memory: ${f1(result.memoryPerJob)} bytes per job entry, ${f1(result.memoryPerResult)} per result entry (until trimmed)`);
    log(`  Redis used ${f2(result.redisCpuShare)} of a core; one core would saturate near ${f1(result.saturatesAt)} jobs/s`);
    return result;
  } finally {
    for (const c of clients) c.close();
    for (const r of connections) r.disconnect();
    producer.disconnect();
    await Promise.all([server.stop(), redisServer.stop()]);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href || fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      images: { type: 'string' },
      reps: { type: 'string' },
      capacity: { type: 'boolean', default: false },
      jobs: { type: 'string' },
      workers: { type: 'string' },
      latency: { type: 'string' },
    },
  });
  if (values.capacity) {
    await benchRedisCapacity({
      jobs: values.jobs ? Number(values.jobs) : undefined,
      workers: values.workers ? Number(values.workers) : undefined,
      latency: values.latency ? Number(values.latency) : undefined,
    });
    process.exit(0);
  }
  await benchRedis({
    quick: values.quick,
    images: values.images ? Number(values.images) : undefined,
    reps: values.reps ? Number(values.reps) : undefined,
  });
}
