import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { UsageError } from '../../src/cli/io';
import { DEFAULT_DECODE_THREAD, prepareOptionsOf, resolvePrepare } from '../../src/cli/pipelineOptions';
import { transpiledPackage, type PackageCopy } from '../examples/transpiledPackage';
import { binCommand } from '../helpers/binCommand';

const FIXTURES = join(__dirname, '../fixtures/preprocess/images');
/** One of each way in: JPEG turned by EXIF (both axes swapped or not), PNG, BMP, TIFF, WebP, a 2000x1500 photo. */
const PICKED = [
  'chelsea-exif7.jpg',
  'rocket-exif3.jpg',
  'astronaut-3x2.png',
  'astronaut-bmp24.bmp',
  'coffee-tiff-lzw.tif',
  'retina-lossless.webp',
  'chelsea-2000x1500.jpg',
];

describe('--decode-thread', () => {
  it('takes current or worker, defaults to the measured choice, and reaches prepareImage', () => {
    expect(resolvePrepare({ 'decode-thread': 'worker' })).toMatchObject({ decodeThread: 'worker' });
    expect(resolvePrepare({ 'decode-thread': 'current' })).toMatchObject({ decodeThread: 'current' });
    expect(resolvePrepare({})).toMatchObject({ decodeThread: DEFAULT_DECODE_THREAD });
    expect(prepareOptionsOf(resolvePrepare({ 'decode-thread': 'worker' }), undefined)).toMatchObject({ decodeThread: 'worker' });
    expect(() => resolvePrepare({ 'decode-thread': 'gpu' })).toThrow(new UsageError("--decode-thread takes current or worker; got 'gpu'"));
  });

  describe('the built CLI', () => {
    let pkg: PackageCopy;
    let images: string;
    beforeAll(async () => {
      images = mkdtempSync(join(tmpdir(), 'athena-decode-thread-'));
      for (const name of PICKED) copyFileSync(join(FIXTURES, name), join(images, name));
      pkg = await transpiledPackage();
    }, 120_000);
    afterAll(() => {
      pkg?.remove();
      rmSync(images, { recursive: true, force: true });
    });

    /** `athena-rx classify` of the picked fixtures on the embedded server: each file's labels. */
    async function labels(where: string): Promise<Map<string, unknown>> {
      const bin = binCommand(join(pkg.dir, 'bin/athena-rx.js'), ['classify', images, '--format', 'jsonl', '--decode-thread', where]);
      const { stdout, stderr } = await promisify(execFile)(bin.command, bin.args, { env: bin.env, maxBuffer: 64 * 1024 * 1024 });
      const records = stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { file: string; outcome: string; labels: unknown });
      expect({ where, stderr, failed: records.filter((r) => r.outcome !== 'success') }).toMatchObject({ failed: [] });
      return new Map(records.map((r) => [r.file, r.labels]));
    }

    it('classifies fixture images of every kind on a worker thread with the same answers as on the main thread', async () => {
      const [onWorker, onMain] = [await labels('worker'), await labels('current')];
      expect(onWorker.size).toBe(PICKED.length);
      expect(onWorker).toEqual(onMain);
    }, 120_000);
  });
});
