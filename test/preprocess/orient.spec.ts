import sharp from 'sharp';
import type { RawImage } from '../../src/preprocess/bgrImage';
import { decodeRaw } from '../../src/preprocess/decode';
import { jpegOrientation, resizeOrientedToModel } from '../../src/preprocess/orient';
import { toModelPixels } from '../../src/preprocess/pixels';
import { resizeRawJs, resizeToModel } from '../../src/preprocess/resize';

// A module constant: under jest every lookup of the global `Math` in a loop is slow (see ./resize).
const imul = Math.imul;

/** Smooth gradients plus seeded noise: every pixel differs, as a photo's do. */
function photoLike(width: number, height: number, channels: 1 | 3, seed: number): Buffer {
  const out = Buffer.alloc(width * height * channels);
  let s = seed >>> 0;
  for (let y = 0, o = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++, o++) {
        s = (imul(s, 1664525) + 1013904223) >>> 0;
        out[o] = ((x * (c + 1) + y * (3 - c)) % 200) + (s >>> 27);
      }
    }
  }
  return out;
}

/** The pixels of each shape, made once: every orientation of a shape encodes the same ones. */
const made = new Map<string, Buffer>();

async function jpegWith(width: number, height: number, channels: 1 | 3, orientation: number): Promise<Buffer> {
  const key = `${width}x${height}x${channels}`;
  const raw = made.get(key) ?? photoLike(width, height, channels, width * 31 + height);
  made.set(key, raw);
  return sharp(raw, { raw: { width, height, channels } }).jpeg({ quality: 90 }).withMetadata({ orientation }).toBuffer();
}

describe('EXIF orientation applied by the resize (./orient)', () => {
  // Shapes that take each path of the resize once turned: downscales by 2 or more (one pass), by
  // less than 2 (two passes, the row cache), a small image (turned whole), grey (one channel), an
  // exact 2x (the INTER_AREA path) and a size only one axis of which is downscaled.
  const shapes: [number, number, 1 | 3][] = [
    [1201, 917, 3],
    [700, 1013, 3],
    [640, 410, 3],
    [1100, 950, 1],
    [896, 896, 3],
    [1500, 600, 3],
  ];
  for (const [width, height, channels] of shapes) {
    it(`gives libvips' turned-then-resized pixels for orientations 1-8 on ${width}x${height}x${channels}`, async () => {
      for (let orientation = 1; orientation <= 8; orientation++) {
        const jpeg = await jpegWith(width, height, channels, orientation);
        expect(jpegOrientation(jpeg)).toBe(orientation);
        // The reference: libvips turns the decoded image (autoOrient), then our resize. The
        // fixture suite checks that this equals OpenCV for every orientation.
        const reference = resizeToModel(await decodeRaw(jpeg));
        const prepared = await toModelPixels(jpeg);
        expect(prepared.pixels.equals(reference)).toBe(true);
        const swapped = orientation >= 5;
        expect(prepared.decoded).toEqual({ width: swapped ? height : width, height: swapped ? width : height });
      }
    }, 120_000); // 16 encodes and decodes: generous on a shared machine
  }

  it('matches the JavaScript reference resize of the turned image on a stored image', () => {
    const pixels = photoLike(1333, 777, 3, 7);
    const stored: RawImage = { data: pixels, width: 1333, height: 777, channels: 3, order: 'rgb' };
    // Turn 6 by hand: turned (x, y) = stored (y, h - 1 - x).
    const w = stored.height;
    const h = stored.width;
    const turned = Buffer.alloc(w * h * 3);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const s = ((stored.height - 1 - x) * stored.width + y) * 3;
        pixels.copy(turned, (y * w + x) * 3, s, s + 3);
      }
    }
    const expected = resizeRawJs({ data: turned, width: w, height: h, channels: 3, order: 'rgb' }, 448, 448);
    expect(resizeOrientedToModel(stored, 6).equals(expected)).toBe(true);
  });

  it('reads no orientation from JPEGs without one, or with an unusual Exif segment', async () => {
    const plain = await sharp(photoLike(64, 48, 3, 1), { raw: { width: 64, height: 48, channels: 3 } })
      .jpeg()
      .toBuffer();
    expect(jpegOrientation(plain)).toBeUndefined();
    const six = await jpegWith(64, 48, 3, 6);
    expect(jpegOrientation(six)).toBe(6);
    // Two Exif segments: left to libvips.
    const app1 = six.subarray(2, 4 + six.readUInt16BE(4));
    expect(app1[1]).toBe(0xe1);
    const twice = Buffer.concat([six.subarray(0, 2), app1, six.subarray(2)]);
    expect(jpegOrientation(twice)).toBeUndefined();
    // A value out of range.
    const bad = Buffer.from(six);
    const at = bad.indexOf(Buffer.from([0x01, 0x12, 0x00, 0x03])); // big-endian tag, SHORT
    const le = bad.indexOf(Buffer.from([0x12, 0x01, 0x03, 0x00])); // little-endian
    expect(Math.max(at, le)).toBeGreaterThan(0); // else the write below would hit the Exif marker instead
    if (at > 0) bad.writeUInt16BE(9, at + 8);
    else bad.writeUInt16LE(9, le + 8);
    expect(jpegOrientation(bad)).toBeUndefined();
  });
});
