import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { deflateSync } from 'node:zlib';
import { decodeImage } from '../../src/preprocess/decode';
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
  for (let p = 2; p < jpg.length; ) {
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
