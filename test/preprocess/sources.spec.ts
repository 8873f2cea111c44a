import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PreprocessError } from '../../src/preprocess/errors';
import { readFileSource, readSource } from '../../src/preprocess/sources';
import { image } from './fixtures';

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
});
