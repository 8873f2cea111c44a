import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { prepareImage as prepareFromSources } from '../../src/preprocess/prepare';
import { InvalidOptionError } from '../../src/core/invalidOptionError';
import { builtDist } from '../helpers/builtDist';
import { fixtureCases, fixturePath, image } from './fixtures';

/**
 * `decodeThread: 'worker'` (src/preprocess/decodeThread.ts). The worker thread runs the built
 * package's JavaScript, so these cases load the package as built from the current sources
 * (test/helpers/builtDist.ts), as an application loads it from node_modules.
 */
type Prepare = typeof prepareFromSources;
let prepareImage: Prepare;
let dist: string;
beforeAll(async () => {
  dist = await builtDist();
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the built package, by path
  prepareImage = (require(path.join(dist, 'cjs/index.js')) as { prepareImage: Prepare }).prepareImage;
}, 120_000);

const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');
const sha1 = (b: Uint8Array) => createHash('sha1').update(b).digest('hex');
const goldens = fixtureCases().filter((c) => c.md5_bgr !== null);
const WORKER = { decodeThread: 'worker' } as const;

/** The failure as the caller sees it, or 'prepared'. */
const outcome = (p: Promise<unknown>) =>
  p.then(
    () => 'prepared',
    (e: unknown) => {
      const { name, code, message, details } = e as { name: string; code?: string; message: string; details?: string };
      return { name, code, message, details };
    },
  );

describe("prepareImage with decodeThread: 'worker'", () => {
  it('prepares every golden of the fixture corpus byte for byte as OpenCV, from paths all at once, with the hashes of the file', async () => {
    expect(goldens).toHaveLength(43);
    // All at once: the replies of the one worker must reach the images they belong to.
    const prepared = await Promise.all(goldens.map((c) => prepareImage(fixturePath(c.file), WORKER)));
    expect(prepared.map((p) => md5(p.data))).toEqual(goldens.map((c) => c.md5_bgr));
    expect(prepared.map((p) => [p.hashes[0]!.value, p.hashes[1]!.value])).toEqual(goldens.map((c) => [c.md5_original, c.sha1_original]));
    expect(prepared.map((p) => p.sizes.original)).toEqual(goldens.map((c) => fs.statSync(fixturePath(c.file)).size));
    // `decoded` in the manifest is [height, width] after EXIF orientation.
    expect(prepared.map((p) => [p.sizes.decoded?.height, p.sizes.decoded?.width])).toEqual(goldens.map((c) => c.decoded));
    // Again one by one: the files' memory that came back from the worker is read into again.
    for (const c of goldens.slice(0, 8)) expect(md5((await prepareImage(fixturePath(c.file), WORKER)).data)).toBe(c.md5_bgr);
  }, 120_000);

  it("leaves a caller's Buffer whole and unchanged (the worker gets a copy)", async () => {
    const c = goldens.find((g) => g.kind === 'jpeg-baseline') ?? goldens[0]!;
    const bytes = fs.readFileSync(fixturePath(c.file));
    const before = sha1(bytes);
    const p = await prepareImage(bytes, WORKER);
    expect(md5(p.data)).toBe(c.md5_bgr);
    expect(bytes.length).toBe(fs.statSync(fixturePath(c.file)).size);
    expect(sha1(bytes)).toBe(before);
  });

  it('gives an image that cannot be prepared the same PreprocessError as the calling thread, and goes on with the next', async () => {
    const jpg = fs.readFileSync(image('rocket-original.jpg'));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'athena-decode-thread-'));
    try {
      const truncated = path.join(dir, 'truncated.jpg');
      fs.writeFileSync(truncated, jpg.subarray(0, jpg.length >> 1));
      const cases: Array<[string | Buffer, object]> = [
        [truncated, {}],
        [jpg.subarray(0, 600), {}],
        [image('rocket-original.jpg'), { maxPixels: 100 }],
      ];
      // One at a time: libvips keeps one error log for the whole process, so two decodes failing
      // at once may swap their words or leave one with 'Unknown error' (lovell/sharp#902,
      // libvips/libvips#707; seen once in this case, run as cloudsdk from a fresh clone).
      const onWorker: unknown[] = [];
      for (const [source, options] of cases) onWorker.push(await outcome(prepareImage(source, { ...options, ...WORKER })));
      const onCaller: unknown[] = [];
      for (const [source, options] of cases) onCaller.push(await outcome(prepareFromSources(source, options)));
      expect(onWorker.map((o) => (o as { code: string }).code)).toEqual(['DECODE_FAILED', 'DECODE_FAILED', 'TOO_MANY_PIXELS']);
      // The same name, code, message and details (the decoder's own words, the pixel counts).
      expect(onWorker).toEqual(onCaller);
      expect(await prepareImage(truncated, WORKER).catch((e: unknown) => e)).toBeInstanceOf(Error);
      expect(md5((await prepareImage(fixturePath(goldens[0]!.file), WORKER)).data)).toBe(goldens[0]!.md5_bgr);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("moves a read buffer's memory to the worker and back, and copies any other", async () => {
    type OnWorker = (bytes: Buffer, options: object, move: boolean) => Promise<{ bytes: Buffer; outcome: { pixels?: Buffer } }>;
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the built module, by path
    const { toModelPixelsOnWorker } = require(path.join(dist, 'cjs/preprocess/decodeThread.js')) as { toModelPixelsOnWorker: OnWorker };
    const c = goldens[0]!;
    const file = fs.readFileSync(fixturePath(c.file));
    const memory = new ArrayBuffer(file.length + 1000); // a read buffer is larger than its file
    const bytes = Buffer.from(memory, 0, file.length);
    file.copy(bytes);
    const moved = await toModelPixelsOnWorker(bytes, {}, true);
    expect(memory.byteLength).toBe(0); // it left this thread (detached)...
    expect(moved.bytes.buffer.byteLength).toBe(file.length + 1000); // ...and came back whole, unchanged
    expect(md5(moved.bytes)).toBe(md5(file));
    expect(md5(moved.outcome.pixels!)).toBe(c.md5_bgr);
    const kept = await toModelPixelsOnWorker(file, {}, false);
    expect(kept.bytes).toBe(file);
    expect(file.buffer.byteLength).toBeGreaterThanOrEqual(file.length);
    expect(md5(kept.outcome.pixels!)).toBe(c.md5_bgr);
  });

  it('reads the next file into the memory that came back from the worker, and moves it again', async () => {
    type Read = { bytes: Buffer; release?: (cameBack?: Buffer) => void };
    type OnWorker = (bytes: Buffer, options: object, move: boolean) => Promise<{ bytes: Buffer }>;
    let sources!: { readSource(path: string, max: number, reuse: boolean): Promise<Read>; onReadBuffer(b: Buffer): boolean };
    let thread!: { toModelPixelsOnWorker: OnWorker };
    jest.isolateModules(() => {
      // Fresh modules: no read buffer left idle by the cases above.
      /* eslint-disable @typescript-eslint/no-require-imports -- the built modules, by path */
      sources = require(path.join(dist, 'cjs/preprocess/sources.js')) as typeof sources;
      thread = require(path.join(dist, 'cjs/preprocess/decodeThread.js')) as typeof thread;
      /* eslint-enable @typescript-eslint/no-require-imports */
    });
    const file = fixturePath(goldens[0]!.file);
    let read = await sources.readSource(file, 1 << 26, true);
    for (let round = 0; round < 3; round++) {
      expect(sources.onReadBuffer(read.bytes)).toBe(true); // so prepareImage moves it
      const back = await thread.toModelPixelsOnWorker(read.bytes, {}, true);
      read.release!(back.bytes);
      read = await sources.readSource(file, 1 << 26, true);
      expect(read.bytes.buffer).toBe(back.bytes.buffer);
    }
    read.release!();
  });

  it('fails the images a worker held when it stops, each once with DECODE_FAILED, and starts another for the next image', async () => {
    // A copy of the built package whose worker entry throws as it loads: the worker stops at
    // once, holding every image sent to it. The copy sits under node_modules/ so that its own
    // requires (sharp, rxjs) resolve as the package's do.
    const caches = path.join(__dirname, '../../node_modules/.cache/athena-rx');
    fs.mkdirSync(caches, { recursive: true });
    const broken = fs.mkdtempSync(path.join(caches, 'broken-worker-'));
    try {
      fs.cpSync(dist, broken, { recursive: true });
      fs.writeFileSync(path.join(broken, 'cjs/preprocess/decodeWorker.js'), "throw new Error('the worker broke on purpose');\n");
      const files = goldens.slice(0, 3).map((c) => fixturePath(c.file));
      const script = `const { prepareImage } = require(${JSON.stringify(path.join(broken, 'cjs/index.js'))});
        const files = ${JSON.stringify(files)};
        const outcome = (f) => prepareImage(f, { decodeThread: 'worker' }).then(() => 'prepared', (e) => e.code + ': ' + e.message);
        Promise.all(files.map(outcome)).then(async (held) => console.log(JSON.stringify({ held, next: await outcome(files[0]) })));`;
      // The bound is for a failed worker that kept the process alive: it would never exit.
      const { stdout } = await promisify(execFile)(process.execPath, ['-e', script], { timeout: 60_000 });
      const stopped = 'DECODE_FAILED: the decoding worker thread stopped (the worker broke on purpose) before this image was decoded';
      expect(JSON.parse(stdout)).toEqual({ held: [stopped, stopped, stopped], next: stopped });
    } finally {
      fs.rmSync(broken, { recursive: true, force: true });
    }
  }, 90_000);

  it('refuses an unknown value, and from the TypeScript sources says that the built package is needed, before reading anything', async () => {
    const missing = path.join(os.tmpdir(), 'athena-no-such-file.jpg');
    const bogus = await prepareFromSources(missing, { decodeThread: 'gpu' as 'worker' }).catch((e: unknown) => e);
    expect(bogus).toBeInstanceOf(InvalidOptionError);
    expect((bogus as Error).message).toContain(`decodeThread must be 'current' or 'worker', got "gpu"`);
    const fromSources = await prepareFromSources(missing, WORKER).catch((e: unknown) => e);
    expect(fromSources).toBeInstanceOf(InvalidOptionError);
    expect((fromSources as Error).message).toMatch(/needs athena-rx's built files: .*decodeWorker\.js is missing/);
  });

  it('keeps a program alive while an image is on the worker, and lets it exit once the worker is idle', async () => {
    // The program's only pending work is an image, twice (the second after the worker went idle):
    // it must print both results, then exit by itself.
    const [a, b] = [goldens[0]!, goldens[1]!];
    const script = `const { prepareImage } = require(${JSON.stringify(path.join(dist, 'cjs/index.js'))});
      const md5 = (p) => require('node:crypto').createHash('md5').update(p.data).digest('hex');
      prepareImage(${JSON.stringify(fixturePath(a.file))}, { decodeThread: 'worker' }).then((p) => {
        console.log(md5(p));
        setImmediate(() => prepareImage(${JSON.stringify(fixturePath(b.file))}, { decodeThread: 'worker' }).then((q) => console.log(md5(q))));
      });`;
    // The bound is for a worker that kept the process alive: it would never exit.
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', script], { timeout: 60_000 });
    expect(stdout.trim().split('\n')).toEqual([a.md5_bgr, b.md5_bgr]);
  }, 90_000);
});
