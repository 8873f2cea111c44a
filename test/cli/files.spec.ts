/**
 * Hostile folders (issue 12): FIFOs, names that are not UTF-8, symlink loops and files that
 * are not images, through `athena-rx classify` in process with the embedded server.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { escapeInvalidUtf8, findInputs } from '../../src/cli/files';
import { main } from '../../src/cli/main';
import { fakeIo } from './fakeIo';

const DUCK = join(__dirname, '../../samples/duck-pond.png');
let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'athena-files-'));
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

const jsonl = (out: string) =>
  out
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { file: string; outcome: string; errorCode: string | null; errorMessage: string | null });

describe('classify: files that are not what they seem', () => {
  it('a FIFO named on the command line is reported as a FIFO, not as missing (and nothing waits on it)', async () => {
    execFileSync('mkfifo', [join(tmp, 'pipe.png')]);
    const io = fakeIo({ cwd: tmp });
    expect(await main(['classify', 'pipe.png'], io)).toBe(2);
    expect(io.err()).toContain("athena-rx classify: 'pipe.png' is a named pipe (FIFO), not an image file or folder");
  });

  it('a file name that is not valid UTF-8 is classified, and shown with its bad bytes escaped', async () => {
    const name = Buffer.concat([Buffer.from(tmp + '/caf'), Buffer.from([0xe9]), Buffer.from('.png')]);
    copyFileSync(DUCK, name);
    copyFileSync(DUCK, join(tmp, 'plain.png'));
    const io = fakeIo({ cwd: tmp });
    expect(await main(['classify', '.', '--format', 'jsonl'], io)).toBe(0);
    const records = jsonl(io.out());
    // Results come in the order they finish.
    expect(records.map((r) => [r.file, r.outcome]).sort()).toEqual([
      ['caf\\xe9.png', 'success'],
      ['plain.png', 'success'],
    ]);
  });

  it('a glob matches names that are not valid UTF-8 too (the glob reads names as text; the bytes are found again)', async () => {
    mkdirSync(join(tmp, 'd'));
    copyFileSync(DUCK, Buffer.concat([Buffer.from(tmp + '/d/caf'), Buffer.from([0xe9]), Buffer.from('.png')]));
    const io = fakeIo({ cwd: tmp });
    expect(await main(['classify', 'd/*.png', '--format', 'jsonl'], io)).toBe(0);
    expect(jsonl(io.out()).map((r) => [r.file, r.outcome])).toEqual([['d/caf\\xe9.png', 'success']]);
  });

  it("a '**' glob through a symlink loop classifies each file once", async () => {
    mkdirSync(join(tmp, 'd'));
    copyFileSync(DUCK, join(tmp, 'd/a.png'));
    symlinkSync('..', join(tmp, 'd/loop'));
    // A file linked under another name, and the same file named twice, count once too.
    symlinkSync('a.png', join(tmp, 'd/b.png'));
    const io = fakeIo({ cwd: tmp });
    expect(await main(['classify', '**/*.png', 'd', 'd/a.png', '--format', 'jsonl'], io)).toBe(0);
    expect(jsonl(io.out()).map((r) => r.file)).toEqual(['d/a.png']);
  });

  it('files in a folder that are not images by name are counted in the summary; --verbose lists them', async () => {
    copyFileSync(DUCK, join(tmp, 'duck.png'));
    writeFileSync(join(tmp, 'IMG_0001.HEIC'), 'x');
    writeFileSync(join(tmp, 'IMG_0002.heic'), 'x');
    writeFileSync(join(tmp, 'pic.avif'), 'x');
    writeFileSync(join(tmp, '.hidden.heic'), 'x');
    const io = fakeIo({ cwd: tmp });
    expect(await main(['classify', '.', '--format', 'jsonl'], io)).toBe(0);
    expect(io.err()).toContain('skipped 3 files that are not images by name: .heic 2, .avif 1 (--verbose lists them)\n');
    const verbose = fakeIo({ cwd: tmp });
    expect(await main(['classify', '.', '--format', 'jsonl', '--verbose'], verbose)).toBe(0);
    expect(verbose.err()).toContain(
      'skipped 3 files that are not images by name: .heic 2, .avif 1\n  IMG_0001.HEIC\n  IMG_0002.heic\n  pic.avif\n',
    );
  });

  it('naming a HEIC file outright: a failure that names the format and the supported ones', async () => {
    writeFileSync(
      join(tmp, 'IMG_0001.HEIC'),
      Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypheic\0\0\0\0mif1heic'), Buffer.alloc(100)]),
    );
    const io = fakeIo({ cwd: tmp });
    expect(await main(['classify', 'IMG_0001.HEIC', '--format', 'jsonl'], io)).toBe(1);
    const [record] = jsonl(io.out());
    expect(record?.errorCode).toBe('UNSUPPORTED_FORMAT');
    expect(record?.errorMessage).toMatch(
      /^not an image format the reference pipeline decodes \(detected HEIC\/HEIF; supported: JPEG, PNG, GIF, BMP, WebP, TIFF/,
    );
  });
});

describe('findInputs', () => {
  it('escapeInvalidUtf8 keeps valid text (any script) and escapes each stray byte', () => {
    expect(escapeInvalidUtf8(Buffer.from('日本/é.png'))).toBe('日本/é.png');
    expect(escapeInvalidUtf8(Buffer.from([0x61, 0xff, 0xc3, 0x28, 0xe2, 0x82]))).toBe('a\\xff\\xc3(\\xe2\\x82');
  });

  it('a FIFO inside a folder is skipped as not a regular file, never opened', async () => {
    copyFileSync(DUCK, join(tmp, 'a.png'));
    execFileSync('mkfifo', [join(tmp, 'b.png')]);
    const found = await findInputs(['.'], tmp);
    expect(found.files.map((f) => f.display)).toEqual(['a.png']);
    expect(found.skipped).toEqual([{ display: 'b.png', kind: '(not a regular file)' }]);
    expect(readFileSync(join(tmp, 'a.png')).length).toBeGreaterThan(0);
  });
});
