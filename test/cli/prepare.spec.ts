import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { PassThrough } from 'node:stream';
import sharp from 'sharp';
import { prepare } from '../../src/cli/commands/prepare';
import { EXIT, UsageError, type CliIo } from '../../src/cli/io';
import { main } from '../../src/cli/main';
import { fixtureCases, fixturePath } from '../preprocess/fixtures';

function fakeIo(cwd: string): CliIo & { out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  return { stdout, stderr, env: {}, cwd, out: () => out, err: () => err };
}

const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');

describe('athena-rx prepare', () => {
  const cases = fixtureCases().filter((c) => ['images/coffee-448x448.jpg', 'images/rocket-896x896.png'].includes(c.file));
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'athena-prepare-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes DIR/<file name>.bgr, the exact prepared pixels, and with --png a viewable PNG of them', async () => {
    const io = fakeIo(dir);
    const inputs = cases.map((c) => fixturePath(c.file));
    const code = await prepare([...inputs, '--out-dir', 'out', '--png'], io);
    expect([code, io.err()]).toEqual([EXIT.ok, '']);
    for (const c of cases) {
      const name = c.file.split('/').pop()!;
      const bgr = readFileSync(join(dir, 'out', `${name}.bgr`));
      expect([name, bgr.length, md5(bgr)]).toEqual([name, 602112, c.md5_bgr]);
      // The PNG holds the same pixels with red first, as the golden PNGs do.
      const png = await sharp(join(dir, 'out', `${name}.png`))
        .raw()
        .toBuffer({ resolveWithObject: true });
      expect(png.info).toMatchObject({ width: 448, height: 448, channels: 3 });
      const golden = await sharp(fixturePath(c.expected!)).raw().toBuffer();
      expect(png.data.equals(golden)).toBe(true);
      expect(io.out()).toContain(`${name}.bgr`);
    }
  });

  it('writes every good input, then exits 1 with one stderr line per failure naming the file and code', async () => {
    const io = fakeIo(dir);
    const bad = join(__dirname, '../fixtures/not-an-image.jpg');
    const good = fixturePath(cases[0]!.file);
    const code = await prepare([bad, good, '--out-dir', join(dir, 'out')], io);
    expect(code).toBe(EXIT.failed);
    expect(io.err()).toMatch(
      new RegExp(`^athena-rx prepare: ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: UNSUPPORTED_FORMAT: [^\n]+\n$`),
    );
    expect(existsSync(join(dir, 'out', 'coffee-448x448.jpg.bgr'))).toBe(true);
    expect(existsSync(join(dir, 'out', 'not-an-image.jpg.bgr'))).toBe(false);
    expect(existsSync(join(dir, 'out', 'coffee-448x448.jpg.png'))).toBe(false);
  });

  it('walks a folder as classify does, keeping its subfolders under --out-dir', async () => {
    const io = fakeIo(dir);
    const tree = join(dir, 'in');
    mkdirSync(join(tree, 'sub'), { recursive: true });
    copyFileSync(fixturePath(cases[0]!.file), join(tree, 'a.jpg'));
    copyFileSync(fixturePath(cases[0]!.file), join(tree, 'sub', 'a.jpg'));
    writeFileSync(join(tree, 'notes.txt'), 'not an image extension: not walked');
    expect(await main(['prepare', 'in', '--out-dir', 'out'], io)).toBe(EXIT.ok);
    expect(readdirSync(join(dir, 'out'), { recursive: true, encoding: 'utf8' }).sort()).toEqual([
      'a.jpg.bgr',
      'sub',
      join('sub', 'a.jpg.bgr'),
    ]);
    expect(io.out()).toContain('in/sub/a.jpg -> ');
  });

  it.each([
    [['missing.jpg', '--out-dir', 'out'], /no such file or folder: 'missing.jpg'/],
    [['empty', '--out-dir', 'out'], /no image files in folder 'empty'/],
  ])('exits 2 before any work for %j', async (args, message) => {
    mkdirSync(join(dir, 'empty'));
    const io = fakeIo(dir);
    expect(await main(['prepare', ...args], io)).toBe(EXIT.usage);
    expect(io.err()).toMatch(message);
    expect(existsSync(join(dir, 'out'))).toBe(false);
  });

  it('resolves relative inputs against the working directory and names outputs after them', async () => {
    const io = fakeIo(dir);
    const rel = relative(dir, fixturePath(cases[0]!.file));
    expect(await prepare([rel, '--out-dir', 'o'], io)).toBe(EXIT.ok);
    expect(readFileSync(join(dir, 'o', 'coffee-448x448.jpg.bgr')).length).toBe(602112);
    expect(io.out()).toContain('coffee-448x448.jpg -> ');
  });

  it.each([
    [['a.jpg'], /--out-dir DIR is required/],
    [['--out-dir', 'x'], /at least one image/],
    [['a.jpg', '--out-dir', 'x', '--max-pixels', 'lots'], /--max-pixels must be a whole number/],
    [['a.jpg', '--out-dir', 'x', '--frobnicate'], /frobnicate/],
  ])('refuses %j with a usage error', async (args, message) => {
    await expect(prepare(args, fakeIo(dir))).rejects.toThrow(UsageError);
    await expect(prepare(args, fakeIo(dir))).rejects.toThrow(message);
  });

  it('refuses two inputs that would be written to one name, before writing anything', async () => {
    for (const sub of ['a', 'b']) {
      mkdirSync(join(dir, sub));
      copyFileSync(fixturePath(cases[0]!.file), join(dir, sub, 'x.jpg'));
    }
    await expect(prepare(['a/x.jpg', 'b/x.jpg', '--out-dir', 'x'], fakeIo(dir))).rejects.toThrow(
      /a\/x.jpg and b\/x.jpg would both be written as x.jpg.bgr/,
    );
    expect(existsSync(join(dir, 'x'))).toBe(false);
  });

  it('is registered with the dispatcher, with --help', async () => {
    const io = fakeIo(dir);
    expect(await main(['prepare', '--help'], io)).toBe(EXIT.ok);
    expect(io.out()).toMatch(/usage: athena-rx prepare <files, folders or globs...> --out-dir DIR/);
    const usage = fakeIo(dir);
    expect(await main(['prepare'], usage)).toBe(EXIT.usage);
    expect(usage.err()).toMatch(/athena-rx prepare: name at least one image/);
  });
});
