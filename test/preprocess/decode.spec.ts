import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { decodeImage, readHeader } from '../../src/preprocess/decode';
import { PreprocessError } from '../../src/preprocess/errors';
import { toModelPixels } from '../../src/preprocess/pixels';

const images = path.resolve(__dirname, '../fixtures/preprocess/images');
const fixture = (name: string): Buffer => readFileSync(path.join(images, name));

function crc32(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? 0xedb88320 ^ (crc >>> 1) : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** A valid-looking 8-bit RGB PNG header declaring width x height, with a tiny IDAT. */
function pngDeclaring(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(64))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A baseline JPEG whose SOF0 declares height x width: the real rocket file with its size patched. */
function jpegDeclaring(width: number, height: number): Buffer {
  const jpg = Buffer.from(fixture('rocket-original.jpg'));
  for (let p = 2; p < jpg.length;) {
    const marker = jpg[p + 1]!;
    if (marker === 0xc0 || marker === 0xc2) {
      jpg.writeUInt16BE(height, p + 5);
      jpg.writeUInt16BE(width, p + 7);
      return jpg;
    }
    p += 2 + jpg.readUInt16BE(p + 2);
  }
  throw new Error('no SOF marker');
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'resolved';
  } catch (err) {
    expect(err).toBeInstanceOf(PreprocessError);
    return (err as PreprocessError).code;
  }
}

describe('decodeImage: bad input is a typed PreprocessError', () => {
  it('an empty buffer is EMPTY_INPUT', async () => {
    expect(await codeOf(decodeImage(Buffer.alloc(0)))).toBe('EMPTY_INPUT');
  });

  it('a truncated JPEG is DECODE_FAILED (libjpeg would only warn and fill grey; we refuse)', async () => {
    const jpg = fixture('rocket-original.jpg');
    expect(await codeOf(decodeImage(jpg.subarray(0, jpg.length >> 1)))).toBe('DECODE_FAILED');
    expect(await codeOf(decodeImage(jpg.subarray(0, 600)))).toBe('DECODE_FAILED');
  });

  it('random bytes are UNSUPPORTED_FORMAT', async () => {
    const noise = randomBytes(4096);
    noise[0] = 0; // never a signature we read
    expect(await codeOf(decodeImage(noise))).toBe('UNSUPPORTED_FORMAT');
  });

  it('a GIF cut inside its header is DECODE_FAILED, not an unknown format', async () => {
    expect(await codeOf(decodeImage(fixture('astronaut-gif.gif').subarray(0, 20)))).toBe('DECODE_FAILED');
  });

  it('a PNG declaring 100000 x 100000 is TOO_MANY_PIXELS, read from the header without allocating', async () => {
    const bomb = pngDeclaring(100_000, 100_000);
    const before = process.memoryUsage().rss;
    const err = await decodeImage(bomb).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TOO_MANY_PIXELS' });
    expect((err as PreprocessError).details).toContain('width=100000 height=100000');
    // 10^10 pixels would be 30 GB; nothing near even 100 MB was allocated on the way.
    expect(process.memoryUsage().rss - before).toBeLessThan(100 * 1024 * 1024);
  });

  it('a JPEG declaring 60000 x 60000 is TOO_MANY_PIXELS', async () => {
    expect(await codeOf(decodeImage(jpegDeclaring(60_000, 60_000)))).toBe('TOO_MANY_PIXELS');
  });

  it('honours a smaller maxPixels, counting the declared (pre-rotation) size', async () => {
    const big = fixture('chelsea-2000x1500.jpg');
    expect(await codeOf(decodeImage(big, { maxPixels: 2_999_999 }))).toBe('TOO_MANY_PIXELS');
    expect(await codeOf(decodeImage(big, { maxPixels: 3_000_000 }))).toBe('resolved');
  });

  it('a small PNG with broken pixel data is DECODE_FAILED', async () => {
    expect(await codeOf(decodeImage(pngDeclaring(10, 10)))).toBe('DECODE_FAILED');
  });
});

describe('decodeImage: what OpenCV imdecode(IMREAD_COLOR) returns', () => {
  it('replicates grey into B, G and R', async () => {
    const img = await decodeImage(fixture('camera-gray8.png'));
    expect([img.width, img.height, img.data.length]).toEqual([512, 512, 512 * 512 * 3]);
    for (let i = 0; i < img.data.length; i += 3 * 997) {
      expect(img.data[i + 1]).toBe(img.data[i]);
      expect(img.data[i + 2]).toBe(img.data[i]);
    }
  });

  it('applies the EXIF orientation of a JPEG (6: rotate 90 degrees clockwise)', async () => {
    const plain = await decodeImage(fixture('rocket-exif3.jpg')); // same pixels, orientation 3
    const rotated = await decodeImage(fixture('rocket-exif6.jpg'));
    expect([plain.width, plain.height]).toEqual([640, 427]);
    expect([rotated.width, rotated.height]).toEqual([427, 640]);
  });

  it('uses the first frame of a GIF, which OpenCV 4.6 cannot read', async () => {
    const { pixels, decoded } = await toModelPixels(fixture('astronaut-gif.gif'));
    expect(decoded).toEqual({ width: 320, height: 320 });
    expect(pixels).toHaveLength(448 * 448 * 3);
  });
});

describe('readHeader: JPEG and PNG headers read without libvips, as sharp metadata() reports them', () => {
  async function expectSameAsSharp(name: string, bytes: Buffer): Promise<void> {
    const header = readHeader(bytes);
    if (!header) throw new Error(`${name}: no header read`);
    const meta = await sharp(bytes).metadata();
    expect({ name, ...header }).toEqual({
      name,
      format: meta.format,
      width: meta.width,
      height: meta.pageHeight ?? meta.height,
      space: meta.space,
      sixteenBit: meta.depth === 'ushort',
    });
  }

  it('every JPEG and PNG fixture', async () => {
    const names = readdirSync(images).filter((n) => /\.(jpg|png)$/.test(n));
    expect(names.length).toBeGreaterThan(30);
    for (const name of names) await expectSameAsSharp(name, fixture(name));
  });

  it('PNG colour types and depths, palettes included (grey-only palettes load as sRGB)', async () => {
    const colour = sharp({ create: { width: 9, height: 5, channels: 3, background: { r: 10, g: 200, b: 30 } } });
    const grey = sharp({ create: { width: 9, height: 5, channels: 3, background: { r: 90, g: 90, b: 90 } } });
    const rgb = await colour.png().toBuffer();
    const g = await grey.png().toBuffer();
    const cases: Array<[string, Promise<Buffer>]> = [
      ['rgb8', Promise.resolve(rgb)],
      ['rgba8', sharp(rgb).ensureAlpha().png().toBuffer()],
      ['rgb16', sharp(rgb).toColourspace('rgb16').png().toBuffer()],
      ['rgba16', sharp(rgb).toColourspace('rgb16').ensureAlpha().png().toBuffer()],
      ['grey8', sharp(g).toColourspace('b-w').png().toBuffer()],
      ['grey-alpha8', sharp(g).toColourspace('b-w').ensureAlpha().png().toBuffer()],
      ['grey16', sharp(g).toColourspace('grey16').png().toBuffer()],
      ['palette', sharp(rgb).png({ palette: true }).toBuffer()],
      ['grey palette', sharp(g).png({ palette: true }).toBuffer()],
      ['1-bit palette', sharp(g).png({ palette: true, colours: 2 }).toBuffer()],
    ];
    for (const [name, bytes] of cases) await expectSameAsSharp(name, await bytes);
  });

  it('JPEG grey, CMYK and progressive', async () => {
    const base = sharp({ create: { width: 9, height: 5, channels: 3, background: { r: 10, g: 200, b: 30 } } });
    const rgb = await base.jpeg().toBuffer();
    await expectSameAsSharp('grey', await sharp(rgb).toColourspace('b-w').jpeg().toBuffer());
    await expectSameAsSharp('cmyk', await sharp(rgb).toColourspace('cmyk').jpeg().toBuffer());
    await expectSameAsSharp('progressive', await sharp(rgb).jpeg({ progressive: true }).toBuffer());
  });

  it('leaves other formats and odd headers to libvips', () => {
    expect(readHeader(fixture('retina-lossless.webp'))).toBeUndefined();
    expect(readHeader(fixture('coffee-tiff-lzw.tif'))).toBeUndefined();
    expect(readHeader(fixture('astronaut-gif.gif'))).toBeUndefined();
    expect(readHeader(Buffer.from([0xff, 0xd8, 0xff, 0xda, 0, 2]))).toBeUndefined(); // scan before any frame
    expect(readHeader(pngDeclaring(10, 10).subarray(0, 20))).toBeUndefined(); // IHDR cut short
    const twelveBit = jpegDeclaring(10, 10);
    const sof = [0xc0, 0xc2].map((m) => twelveBit.indexOf(Buffer.from([0xff, m]))).find((i) => i >= 0)!;
    twelveBit[sof + 4] = 12;
    expect(readHeader(twelveBit)).toBeUndefined();
  });
});
