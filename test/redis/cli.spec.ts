import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import Redis from 'ioredis';
import { EXIT } from '../../src/cli/io';
import { main } from '../../src/cli/main';
import { parseResult } from '../../src/redis/index';
import { fakeIo } from '../cli/fakeIo';
import { startRedis, type RedisServer } from './redisServer';

/** `athena-rx enqueue` and `athena-rx worker` in this process, against a real redis-server. */
const root = path.resolve(__dirname, '../..');
let redisServer: RedisServer;
let redis: Redis;

beforeAll(async () => {
  redisServer = await startRedis();
  redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
}, 20_000);

afterAll(async () => {
  redis?.disconnect();
  await redisServer?.stop();
});

/** `athena-rx worker` on this Redis, `stream` and group `g`, plus `extra`. */
const workerArgs = (stream: string, ...extra: string[]): string[] => [
  'worker',
  '--redis',
  redisServer.url,
  '--stream',
  stream,
  '--group',
  'g',
  ...extra,
];

describe('athena-rx enqueue / worker', () => {
  it('enqueue adds one job per file with its fields; worker --drain writes one result each, summarises, and exits 0', async () => {
    const enqueueIo = fakeIo({ cwd: root });
    const code = await main(
      [
        'enqueue',
        '--redis',
        redisServer.url,
        '--stream',
        'cli',
        'samples/seashore.jpg',
        'test/fixtures/not-an-image.jpg',
        '--fields',
        '{"batch": 7}',
      ],
      enqueueIo,
    );
    expect({ code, err: enqueueIo.err() }).toEqual({ code: EXIT.ok, err: `enqueued 2 jobs on cli at ${redisServer.url}\n` });
    const lines = enqueueIo
      .out()
      .trim()
      .split('\n')
      .map((l) => l.split('\t'));
    expect(lines.map(([, file]) => file)).toEqual(['samples/seashore.jpg', 'test/fixtures/not-an-image.jpg']);

    const io = fakeIo({ cwd: root, env: {} });
    expect(
      await main(
        ['worker', '--redis', redisServer.url, '--stream', 'cli', '--group', 'g', '--consumer', 'c1', '--drain', '--root', root],
        io,
      ),
    ).toBe(EXIT.ok);
    expect(io.err()).toContain('using the embedded test server');
    expect(io.err()).toMatch(/2 images in \d+:\d\d \([\d.]+ images\/s\): 1 succeeded, 1 failed/);
    expect(io.err()).toContain('UNSUPPORTED_FORMAT      1  e.g. test/fixtures/not-an-image.jpg');

    const entries = (await redis.xrange('cli:results', '-', '+')) as Array<[string, string[]]>;
    // In the order they finished: sort by job id (the order of enqueueing).
    const results = entries.map(([, f]) => parseResult(f)).sort((a, b) => (a.job < b.job ? -1 : 1));
    expect(results.map((r) => [r.job, r.kind, r.fields])).toEqual([
      [lines[0][0], 'success', { file: 'samples/seashore.jpg', batch: 7 }],
      [lines[1][0], 'failure', { file: 'test/fixtures/not-an-image.jpg', batch: 7 }],
    ]);
  });

  it('enqueue re-run after a partial failure (Redis out of memory) leaves exactly one job per file, and says what it did', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'athena-rx-enqueue-'));
    const n = 1500;
    for (let i = 0; i < n; i++) fs.writeFileSync(path.join(dir, `f${String(i).padStart(4, '0')}.png`), `not really an image ${i}`);
    const used = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
    // Room for some of the jobs only: XADD and the key hash fail part-way with OOM.
    await redis.config('SET', 'maxmemory', String(used + 256 * 1024));
    try {
      const first = fakeIo({ cwd: root });
      expect(await main(['enqueue', '--redis', redisServer.url, '--stream', 'partial', dir], first)).toBe(EXIT.failed);
      const addedFirst = Number(/; (\d+) of 1500 jobs were added before it stopped/.exec(first.err())?.[1]);
      expect(first.err()).toContain('run the same command again to add the rest');
      expect(addedFirst).toBeGreaterThan(0);
      expect(addedFirst).toBeLessThan(n);
      expect(await redis.xlen('partial')).toBe(addedFirst);
      expect(first.out().trim().split('\n')).toHaveLength(addedFirst);

      await redis.config('SET', 'maxmemory', '0');
      const again = fakeIo({ cwd: root });
      expect(await main(['enqueue', '--redis', redisServer.url, '--stream', 'partial', dir], again)).toBe(EXIT.ok);
      expect(again.err()).toContain(
        `enqueued ${n - addedFirst} jobs on partial at ${redisServer.url}; ${addedFirst} already enqueued, skipped`,
      );
      expect(again.out().trim().split('\n')).toHaveLength(n);

      const entries = (await redis.xrange('partial', '-', '+')) as Array<[string, string[]]>;
      const files = entries.map(([, f]) => (JSON.parse(f[1]) as { path: string }).path).sort();
      expect(files).toEqual(
        fs
          .readdirSync(dir)
          .map((f) => path.join(dir, f))
          .sort(),
      );
    } finally {
      await redis.config('SET', 'maxmemory', '0');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('worker --drain exits 1 and says so while jobs stay pending on a worker that died', async () => {
    await redis.xgroup('CREATE', 'orphans', 'g', '0', 'MKSTREAM');
    for (let i = 0; i < 3; i++) await redis.xadd('orphans', '*', 'job', JSON.stringify({ path: 'samples/seashore.jpg' }));
    // A worker read two of them and was killed: they stay pending under it until --claim-idle.
    await redis.xreadgroup('GROUP', 'g', 'killed', 'COUNT', 2, 'STREAMS', 'orphans', '>');
    const io = fakeIo({ cwd: root, env: {} });
    expect(await main(workerArgs('orphans', '--consumer', 'c2', '--drain', '--root', root), io)).toBe(EXIT.failed);
    expect(io.err()).toContain('1 succeeded');
    expect(io.err()).toContain('drained, but not done: 2 jobs still pending in group g');
  });

  it('worker: a service that cannot be used at all is said once, exit 3, and no job is read', async () => {
    await redis.xadd('down', '*', 'job', JSON.stringify({ path: 'samples/seashore.jpg' }));
    const closed = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = srv.address() as net.AddressInfo;
        srv.close(() => resolve(port));
      });
    });
    const io = fakeIo({ cwd: root, env: {} });
    const args = workerArgs('down', '--address', `127.0.0.1:${closed}`, '--insecure', '--any-path');
    expect(await main(args, io)).toBe(EXIT.unavailable);
    expect(io.err()).toMatch(/athena-rx worker: .*127\.0\.0\.1:\d+[\s\S]*no job was read\n$/);
    // Not even the group was created: the job waits for a worker that can classify it.
    expect(await redis.xinfo('GROUPS', 'down')).toEqual([]);
  });

  it.each([
    [['worker'], '--stream NAME is required'],
    [['worker', '--stream', 's', '--redis', 'http://x'], '--redis must be a redis:// or rediss:// URL'],
    [['worker', '--stream', 's', 'photos/'], "unexpected argument 'photos/'"],
    [['worker', '--stream', 's', '--any-path', '--claim-idle', '0'], '--claim-idle must be between 10 and'],
    // A results stream that is the jobs stream reads every result back as a job: a feedback loop.
    [['worker', '--stream', 's', '--any-path', '--results', 's'], '--results must not be the jobs stream (s)'],
    [['worker', '--stream', 's', '--any-path', '--dead-letter', 's'], '--dead-letter must not be the jobs stream (s)'],
    // Jobs are confined by default: reading any file is a choice made out loud.
    [['worker', '--stream', 's'], 'give --root DIR'],
    [['worker', '--stream', 's', '--root', '.', '--any-path'], '--root and --any-path exclude each other'],
    [['worker', '--stream', 's', '--any-path', '--shutdown-timeout', '0'], '--shutdown-timeout must be between 1 and'],
    [['worker', '--stream', 's', '--group', ''], '--group must not be empty'],
    [['enqueue', '--stream', 's'], 'give at least one image file, folder or glob'],
    [['enqueue', '--stream', 's', 'samples', '--fields', '[1]'], '--fields must be a JSON object'],
  ])('%j is a usage error, before connecting to anything', async (args, message) => {
    const io = fakeIo({ cwd: root, env: {} });
    expect(await main(args, io)).toBe(EXIT.usage);
    expect(io.err()).toContain(message);
    expect(io.err()).not.toContain('embedded');
  });
});
