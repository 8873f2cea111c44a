import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PreprocessError } from '../../src/preprocess/errors';
import { readFileSource, readSource } from '../../src/preprocess/sources';
import { prepareImage } from '../../src/preprocess/prepare';
import type { PreparedImage } from '../../src/preprocess/types';
import { fixtureCases, fixturePath, image } from './fixtures';

describe('reading a file source', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'athena-sources-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('gives the file byte for byte, whatever its size', async () => {
    // Sizes around the old 64 KiB chunking and a photo-sized one.
    for (const size of [1, 65_535, 65_536, 65_537, 3 * 1024 * 1024 + 7]) {
      const bytes = randomBytes(size);
      const path = join(dir, `f${size}`);
      writeFileSync(path, bytes);
      const read = await readSource(path);
      expect(read.kind).toBe('encoded');
      expect(read.bytes.equals(bytes)).toBe(true);
    }
    const photo = image('coffee-5000x3500.jpg');
    expect((await readFileSource(photo)).equals(readFileSync(photo))).toBe(true);
  });

  // Files whose size the kernel reports as 0 (procfs) or that grow after fstat are read on past
  // the size fstat gave, with the cap still applying.
  const linux = process.platform === 'linux' ? it : it.skip;
  linux('reads on past the size fstat gave (a /proc file reports 0), under the cap', async () => {
    const status = await readFileSource('/proc/self/status');
    expect(status.toString('latin1')).toMatch(/^Name:/);
    const capped = await readFileSource('/proc/self/status', 64).catch((e: unknown) => e);
    expect(capped).toBeInstanceOf(PreprocessError);
    expect((capped as PreprocessError).code).toBe('SOURCE_TOO_LARGE');
  });

  it('refuses an empty file and a file over the cap before reading it', async () => {
    const empty = join(dir, 'empty');
    writeFileSync(empty, Buffer.alloc(0));
    await expect(readSource(empty)).rejects.toMatchObject({ code: 'EMPTY_INPUT' });
    const big = join(dir, 'big');
    writeFileSync(big, Buffer.alloc(1000));
    await expect(readSource(big, 999)).rejects.toMatchObject({ code: 'SOURCE_TOO_LARGE', details: 'size=1000 maxSourceBytes=999' });
  });

  // prepareImage reads files into reused buffers (no fresh pages per file): many files at once,
  // twice over, must each still come out as their own bytes and pixels.
  it('many files prepared at once, twice over: each its own hashes and golden pixels', async () => {
    const cases = fixtureCases().filter((c) => c.md5_bgr !== null);
    const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');
    // Three at a time, as the preprocess operator runs them: reads and decodes overlap.
    const prepareAll = async () => {
      const out: PreparedImage[] = [];
      let next = 0;
      const worker = async () => {
        while (next < cases.length) {
          const i = next++;
          out[i] = await prepareImage(fixturePath(cases[i]!.file), { pixelHashes: ['md5'] });
        }
      };
      await Promise.all([worker(), worker(), worker()]);
      return out;
    };
    for (let round = 0; round < 2; round++) {
      const results = await prepareAll();
      expect(results.map((r) => [r.hashes[0]!.value, r.hashes[1]!.value, r.pixelHashes[0]!.value])).toEqual(
        cases.map((c) => [c.md5_original, c.sha1_original, c.md5_bgr]),
      );
      expect(results.map((r) => md5(r.data))).toEqual(cases.map((c) => c.md5_bgr));
    }
  });

  it("a caller's id factory is given bytes that stay the file's after later reads", async () => {
    const seen: Uint8Array[] = [];
    const files = ['rocket-original.jpg', 'coffee-444.jpg', 'chelsea-422.jpg'].map(image);
    for (const f of files) await prepareImage(f, { correlationId: (content) => (seen.push(content), `id-${seen.length}`) });
    expect(seen.map((b) => Buffer.from(b).equals(readFileSync(files[seen.indexOf(b)]!)))).toEqual([true, true, true]);
  });
});
