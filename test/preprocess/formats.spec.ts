import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { detectFormat, isExactlyDecodable, isLosslessWebp } from '../../src/preprocess/formats';
import { fixtureCases, fixturePath } from './fixtures';

const bytes = (...parts: Array<string | number[]>): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));

describe('detectFormat', () => {
  it.each([
    ['JPEG', bytes([0xff, 0xd8, 0xff, 0xe0])],
    ['PNG', bytes([0x89], 'PNG\r\n', [0x1a], '\n')],
    ['GIF', bytes('GIF87a')],
    ['GIF', bytes('GIF89a')],
    ['BMP', bytes('BM', [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], [40, 0, 0, 0])],
    ['WEBP', bytes('RIFF', [0, 0, 0, 0], 'WEBPVP8L')],
    ['TIFF', bytes('II', [0x2a, 0])],
    ['TIFF', bytes('MM', [0, 0x2a])],
    ['TIFF', bytes('II', [0x2b, 0])],
    ['PBM', bytes('P1\n')],
    ['PBM', bytes('P4 ')],
    ['PGM', bytes('P2\n')],
    ['PGM', bytes('P5\t')],
    ['PPM', bytes('P3\r')],
    ['PPM', bytes('P6\n')],
    ['PXM', bytes('P7\nWIDTH 1\n')],
    ['PFM', bytes('PF\n')],
    ['PFM', bytes('Pf\n')],
    ['SR', bytes([0x59, 0xa6, 0x6a, 0x95])],
    ['HDR', bytes('#?RADIANCE\n')],
    ['HDR', bytes('#?RGBE\n')],
  ])('%s', (name, input) => {
    expect(detectFormat(input)).toBe(`IMAGE_FORMAT_${name}`);
  });

  it.each([
    ['empty', bytes()],
    ['text', bytes('hello, world')],
    ['SVG', bytes('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>')],
    ['text starting with P1', bytes('P1ease read me')],
    ['text starting with BM', bytes('BMW 320i, 1998, 250000 km')],
    ['a lone FF D8', bytes([0xff, 0xd8])],
    ['RIFF that is not WebP', bytes('RIFF', [0, 0, 0, 0], 'WAVEfmt ')],
  ])('UNSPECIFIED for %s', (_, input) => {
    expect(detectFormat(input)).toBe('IMAGE_FORMAT_UNSPECIFIED');
  });

  it('accepts a Uint8Array view into a larger buffer', () => {
    const backing = bytes('xxxx', [0xff, 0xd8, 0xff]);
    expect(detectFormat(new Uint8Array(backing.buffer, backing.byteOffset + 4, 3))).toBe('IMAGE_FORMAT_JPEG');
  });

  it('names every fixture by its file extension', () => {
    const byExt: Record<string, string> = {
      '.jpg': 'IMAGE_FORMAT_JPEG',
      '.png': 'IMAGE_FORMAT_PNG',
      '.gif': 'IMAGE_FORMAT_GIF',
      '.bmp': 'IMAGE_FORMAT_BMP',
      '.webp': 'IMAGE_FORMAT_WEBP',
      '.tif': 'IMAGE_FORMAT_TIFF',
      '.ppm': 'IMAGE_FORMAT_PPM',
      '.pgm': 'IMAGE_FORMAT_PGM',
    };
    for (const c of fixtureCases()) {
      expect([c.file, detectFormat(readFileSync(fixturePath(c.file)))]).toEqual([c.file, byExt[extname(c.file)]]);
    }
  });
});

describe('isExactlyDecodable', () => {
  it('allows PNG and lossless WebP, not JPEG or lossy WebP', () => {
    const png = readFileSync(fixturePath('images/rocket-rgb8.png'));
    const lossless = readFileSync(fixturePath('images/retina-lossless.webp'));
    const lossy = readFileSync(fixturePath('images/rocket-lossy.webp'));
    const jpeg = readFileSync(fixturePath('images/coffee-448x448.jpg'));
    expect(isExactlyDecodable(png, 'IMAGE_FORMAT_PNG')).toBe(true);
    expect(isExactlyDecodable(lossless, 'IMAGE_FORMAT_WEBP')).toBe(true);
    expect(isExactlyDecodable(lossy, 'IMAGE_FORMAT_WEBP')).toBe(false);
    expect(isExactlyDecodable(jpeg, 'IMAGE_FORMAT_JPEG')).toBe(false);
  });

  it('reads past VP8X to the image chunk, and refuses lossy alpha', () => {
    const chunk = (tag: string, size: number) => bytes(tag, [size & 0xff, 0, 0, 0], Array(size + (size & 1)).fill(0));
    const webp = (...chunks: Buffer[]) => bytes('RIFF', [0, 0, 0, 0], 'WEBP', ...chunks.map((c) => [...c]));
    expect(isLosslessWebp(webp(chunk('VP8X', 10), chunk('VP8L', 5)))).toBe(true);
    expect(isLosslessWebp(webp(chunk('VP8X', 10), chunk('ALPH', 3), chunk('VP8 ', 8)))).toBe(false);
    expect(isLosslessWebp(webp(chunk('VP8X', 10), chunk('ICCP', 7)))).toBe(false);
  });
});
