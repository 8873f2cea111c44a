import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { from, lastValueFrom, toArray } from 'rxjs';
import sharp from 'sharp';
import { preprocess, type PreprocessOptions } from '../../src/operators/preprocess';
import { SUPPORTED_FORMATS_TEXT } from '../../src/preprocess/formats';
import type { ClassificationFailure } from '../../src/operators/results';
import type { ImageInput, PreparedImage } from '../../src/preprocess/types';
import { fixtureCases, fixturePath, image } from './fixtures';

/** A PNG whose header declares `width` x `height` but holds almost no data: a decompression bomb's header. */
function pngDeclaring(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(8 + data.length + 4);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body) >>> 0, 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, deflate, no filter, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', Buffer.from([0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01])),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');

describe('bad input: one typed failure per bad image, the good ones around it untouched', () => {
  const good = fixtureCases().find((c) => c.file === 'images/coffee-448x448.jpg')!;
  const goodPath = fixturePath(good.file);
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'athena-bad-input-'));
    writeFileSync(
      join(dir, 'drawing.svg'),
      '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="448" height="448"><rect width="448" height="448" fill="red"/></svg>',
    );
    writeFileSync(join(dir, 'notes.txt'), 'not an image at all\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs the bad input between two good images through the operator, in source order. */
  async function between(bad: ImageInput<string>, options: PreprocessOptions<string> = {}) {
    const results = await lastValueFrom(
      from([{ source: goodPath, ref: 'before' }, bad, { source: goodPath, ref: 'after' }]).pipe(
        preprocess<string>({ concurrency: 2, order: 'source', ...options }),
        toArray(),
      ),
    );
    expect(results.map((r) => [r.ref, r.kind])).toEqual([
      ['before', 'prepared'],
      [bad.ref, 'failure'],
      ['after', 'prepared'],
    ]);
    for (const r of [results[0], results[2]] as PreparedImage<string>[]) expect(md5(r.data)).toBe(good.md5_bgr);
    const failure = results[1] as ClassificationFailure<string>;
    expect(failure).toMatchObject({ stage: 'preprocess', attempts: 0, retryable: false });
    expect(failure.message.length).toBeGreaterThan(0);
    expect(failure.correlationId.length).toBeGreaterThan(0);
    return failure;
  }

  it('an empty buffer: EMPTY_INPUT', async () => {
    const f = await between({ source: Buffer.alloc(0), ref: 'empty' });
    expect(f.code).toBe('EMPTY_INPUT');
  });

  it('an empty file: EMPTY_INPUT naming the file', async () => {
    const path = join(dir, 'empty.jpg');
    writeFileSync(path, '');
    const f = await between({ source: path, ref: 'empty file' });
    expect([f.code, f.message]).toEqual(['EMPTY_INPUT', `${path} is empty`]);
  });

  it('a truncated JPEG: DECODE_FAILED', async () => {
    const jpeg = readFileSync(image('rocket-original.jpg'));
    const f = await between({ source: jpeg.subarray(0, 600), ref: 'truncated' });
    expect(f.code).toBe('DECODE_FAILED');
  });

  it('random bytes: UNSUPPORTED_FORMAT', async () => {
    const bytes = randomBytes(5000);
    bytes[0] = 0; // never a signature by chance
    const f = await between({ source: bytes, ref: 'random' });
    expect(f.code).toBe('UNSUPPORTED_FORMAT');
  });

  it('random bytes after a JPEG signature: DECODE_FAILED', async () => {
    const bytes = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), randomBytes(5000)]);
    const f = await between({ source: bytes, ref: 'random jpeg' });
    expect(f.code).toBe('DECODE_FAILED');
  });

  it('a missing file: SOURCE_UNREADABLE, ENOENT', async () => {
    const path = join(dir, 'nope.jpg');
    const f = await between({ source: path, ref: 'missing' });
    expect([f.code, f.details, f.message]).toEqual(['SOURCE_UNREADABLE', 'ENOENT', `cannot read ${path}: no such file`]);
  });

  it('a directory: SOURCE_UNREADABLE, EISDIR', async () => {
    const f = await between({ source: dir, ref: 'directory' });
    expect([f.code, f.details]).toEqual(['SOURCE_UNREADABLE', 'EISDIR']);
    expect(f.message).toMatch(/is a directory/);
  });

  // A FIFO with no writer used to block open() for ever (and a thread of libuv's pool with it).
  it('a named pipe (FIFO): SOURCE_UNREADABLE at once, never waiting for a writer', async () => {
    const fifo = join(dir, 'swapped.jpg');
    execFileSync('mkfifo', [fifo]);
    try {
      const f = await between({ source: fifo, ref: 'fifo' });
      expect([f.code, f.details, f.message]).toEqual(['SOURCE_UNREADABLE', 'EFIFO', `${fifo} is a named pipe (FIFO), not an image file`]);
    } finally {
      rmSync(fifo);
    }
  });

  it('a device: SOURCE_UNREADABLE (not 64 MiB of /dev/zero read into memory)', async () => {
    const f = await between({ source: '/dev/zero', ref: 'device' });
    expect([f.code, f.message]).toEqual(['SOURCE_UNREADABLE', '/dev/zero is a device, not an image file']);
  });

  it('a Unix socket: SOURCE_UNREADABLE naming it a socket', async () => {
    const path = join(dir, 'sock.png');
    const server = createServer();
    await new Promise<void>((r) => server.listen(path, r));
    try {
      const f = await between({ source: path, ref: 'socket' });
      expect([f.code, f.message]).toEqual(['SOURCE_UNREADABLE', `${path} is a socket, not an image file`]);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it.each([
    ['drawing.svg', 'detected SVG'],
    ['notes.txt', 'unknown signature'],
  ])('an unsupported format (%s): UNSUPPORTED_FORMAT saying what was found and what is supported', async (name, found) => {
    const f = await between({ source: join(dir, name), ref: name });
    expect(f.code).toBe('UNSUPPORTED_FORMAT');
    expect(f.message).toBe(`not an image format the reference pipeline decodes (${found}; supported: ${SUPPORTED_FORMATS_TEXT})`);
  });

  it('HEIC and AVIF (what phones write) are named as such, not as an unknown signature', async () => {
    const avif = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#808080' } })
      .avif()
      .toBuffer();
    const heic = Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypheic\0\0\0\0mif1heic', 'latin1'), randomBytes(200)]);
    expect((await between({ source: avif, ref: 'avif' })).message).toMatch(/\(detected AVIF; supported: JPEG, PNG, /);
    expect((await between({ source: heic, ref: 'heic' })).message).toMatch(/\(detected HEIC\/HEIF; supported: JPEG, PNG, /);
  });

  it('a decompression bomb (huge declared size): TOO_MANY_PIXELS, refused before decoding', async () => {
    const started = performance.now();
    const f = await between({ source: pngDeclaring(60_000, 60_000), ref: 'bomb' });
    expect(f.code).toBe('TOO_MANY_PIXELS');
    expect(f.message).toMatch(/60000x60000/);
    expect(performance.now() - started).toBeLessThan(10_000); // 3.6 gigapixels were never allocated
  });

  it('a caller cap: maxPixels refuses what the default would take', async () => {
    const f = await between({ source: image('rocket-896x896.png'), ref: 'capped' }, { maxPixels: 500_000 });
    expect(f.code).toBe('TOO_MANY_PIXELS');
  });

  it("a caller's correlation id of 65 characters: INVALID_CORRELATION_ID, keeping the id", async () => {
    const id = 'c'.repeat(65);
    const f = await between({ source: goodPath, ref: 'long id', correlationId: id });
    expect([f.code, f.correlationId]).toEqual(['INVALID_CORRELATION_ID', id]);
    expect(f.message).toMatch(/65 characters long; the service accepts at most 64/);
  });

  it("an empty caller's correlation id: INVALID_CORRELATION_ID", async () => {
    const f = await between({ source: goodPath, ref: 'empty id', correlationId: '' });
    expect(f.code).toBe('INVALID_CORRELATION_ID');
  });

  it('a source that is not a source: INVALID_INPUT', async () => {
    const f = await between({ source: 42 as unknown as Buffer, ref: 'number' });
    expect([f.code, f.message]).toEqual(['INVALID_INPUT', expect.stringMatching(/not an image source.*got number/)]);
  });

  it('never carries image bytes in a failure', async () => {
    const secret = Buffer.from('SECRET-PIXELS-0123456789');
    const f = await between({ source: Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), secret]), ref: 'secret' });
    expect(JSON.stringify({ ...f, ref: undefined })).not.toMatch(/SECRET|5345435245/);
  });
});
