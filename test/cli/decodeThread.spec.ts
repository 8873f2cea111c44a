import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { UsageError } from '../../src/cli/io';
import { DEFAULT_DECODE_THREAD, prepareOptionsOf, resolvePrepare } from '../../src/cli/pipelineOptions';
import { transpiledPackage, type PackageCopy } from '../examples/transpiledPackage';
import { binCommand } from '../helpers/binCommand';

const IMAGES = join(__dirname, '../fixtures/preprocess/images');

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
    beforeAll(async () => {
      pkg = await transpiledPackage();
    }, 120_000);
    afterAll(() => pkg?.remove());

    /** `athena-rx classify` of the fixture images on the embedded server: each file's labels. */
    async function labels(where: string): Promise<Map<string, unknown>> {
      const bin = binCommand(join(pkg.dir, 'bin/athena-rx.js'), ['classify', IMAGES, '--format', 'jsonl', '--decode-thread', where]);
      const { stdout, stderr } = await promisify(execFile)(bin.command, bin.args, { env: bin.env, maxBuffer: 64 * 1024 * 1024 });
      const records = stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { file: string; outcome: string; labels: unknown });
      expect({ where, stderr, failed: records.filter((r) => r.outcome !== 'success') }).toMatchObject({ failed: [] });
      return new Map(records.map((r) => [r.file, r.labels]));
    }

    it('classifies every fixture image on a worker thread with the same answers as on the main thread', async () => {
      const [onWorker, onMain] = [await labels('worker'), await labels('current')];
      expect(onWorker.size).toBe(44);
      expect(onWorker).toEqual(onMain);
    }, 120_000);
  });
});
