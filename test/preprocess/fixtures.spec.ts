// The whole golden corpus (test/fixtures/preprocess, a copy of ../shared/fixtures/preprocess):
// every case with a golden must come out of toModelPixels byte for byte as OpenCV 4.6 made it.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { MODEL_BYTES } from '../../src/preprocess/bgrImage';
import { toModelPixels } from '../../src/preprocess/pixels';

const root = path.resolve(__dirname, '../fixtures/preprocess');

interface Case {
  readonly file: string;
  readonly kind: string;
  readonly decoded: readonly [number, number] | null;
  readonly md5_bgr: string | null;
  readonly expected: string | null;
}

const manifest = JSON.parse(readFileSync(path.join(root, 'expected.json'), 'utf8')) as { cases: Case[] };
const withGolden = manifest.cases.filter((c) => c.md5_bgr !== null);
const withoutGolden = manifest.cases.filter((c) => c.md5_bgr === null);

/** How far a wrong output is from the golden, for a readable failure. */
async function describeDifference(pixels: Buffer, c: Case): Promise<string> {
  // Goldens are RGB PNGs of the BGR output (cv2.imwrite order): swap back to compare.
  const rgb = await sharp(path.join(root, c.expected!)).removeAlpha().raw().toBuffer();
  let differing = 0;
  let maxAbs = 0;
  for (let i = 0; i < MODEL_BYTES; i += 3) {
    for (let k = 0; k < 3; k++) {
      const d = Math.abs(rgb[i + 2 - k]! - pixels[i + k]!);
      if (d !== 0) {
        differing++;
        maxAbs = Math.max(maxAbs, d);
      }
    }
  }
  return `${c.kind}: ${differing} of ${MODEL_BYTES} bytes differ, max abs difference ${maxAbs}`;
}

describe('fixture corpus: byte-identical to OpenCV 4.6 imdecode + resize(448x448, INTER_LINEAR)', () => {
  it('holds the 43 goldens and the GIF case', () => {
    expect(withGolden).toHaveLength(43);
    expect(withoutGolden.map((c) => c.kind)).toEqual(['gif']);
  });

  it.each(withGolden.map((c) => [c.kind, c] as const))('%s', async (_kind, c) => {
    const bytes = readFileSync(path.join(root, c.file));
    const { pixels, decoded } = await toModelPixels(bytes);
    expect(pixels).toHaveLength(MODEL_BYTES);
    // `decoded` in the manifest is [height, width] after EXIF orientation.
    expect([decoded.height, decoded.width]).toEqual(c.decoded);
    const md5 = createHash('md5').update(pixels).digest('hex');
    if (md5 !== c.md5_bgr) throw new Error(await describeDifference(pixels, c));
  });

  it.each(withoutGolden.map((c) => [c.kind, c] as const))('%s (no golden): first frame to 448x448', async (_kind, c) => {
    const bytes = readFileSync(path.join(root, c.file));
    const { pixels, decoded } = await toModelPixels(bytes);
    expect(pixels).toHaveLength(MODEL_BYTES);
    // astronaut-gif.gif is the 512x512 astronaut shrunk to 320x320, one frame.
    expect(decoded).toEqual({ width: 320, height: 320 });
  });
});
