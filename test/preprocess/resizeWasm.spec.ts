// The WebAssembly SIMD resizer against the JavaScript one (the reference, itself checked against
// a pixel-by-pixel implementation in resize.spec.ts and against OpenCV on the fixture corpus).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RawImage } from '../../src/preprocess/bgrImage';
import { decodeRaw } from '../../src/preprocess/decode';
import { resizeRaw, resizeRawJs, resizeToModel } from '../../src/preprocess/resize';
import { resizeBackend, resizeRawWasm } from '../../src/preprocess/resizeWasm';
import { FIXTURE_DIR } from './fixtures';
import { noise } from './noise';

const LAYOUTS = [
  { channels: 3, order: 'bgr' },
  { channels: 3, order: 'rgb' },
  { channels: 1, order: 'rgb' },
] as const;

function image(width: number, height: number, layout: (typeof LAYOUTS)[number], seed: number): RawImage {
  return { data: noise(width * height * layout.channels, seed), width, height, ...layout };
}

/** Same bytes as the JavaScript reference, with the index of the first difference on failure. */
function expectSame(src: RawImage, dstW: number, dstH: number): void {
  const wasm = resizeRawWasm(src, dstW, dstH);
  const js = resizeRawJs(src, dstW, dstH);
  if (!wasm) throw new Error('the WebAssembly resizer declined the image');
  expect(wasm).toHaveLength(dstW * dstH * 3);
  if (!wasm.equals(js)) {
    let i = 0;
    while (wasm[i] === js[i]) i++;
    throw new Error(
      `${src.width}x${src.height}x${src.channels} ${src.order} -> ${dstW}x${dstH}: byte ${i} (pixel ${Math.floor(i / 3)}, channel ${i % 3}) is ${wasm[i]}, reference ${js[i]}`,
    );
  }
}

describe('resize: WebAssembly SIMD kernels', () => {
  it('are what resizeRaw uses', () => {
    expect(resizeBackend()).toEqual({ backend: 'wasm' });
  });

  it('resize.wasm is exactly what resize.wat assembles to', () => {
    const out = execFileSync(process.execPath, [join(__dirname, '../../scripts/build-wasm.mjs'), '--check'], { encoding: 'utf8' });
    expect(out).toMatch(/matches/);
  });

  // Downscales, upscales, mixed, odd widths, single rows and columns, the exact-2x box path, the
  // identity, 2x in one axis only, and output widths whose rows are not a multiple of 16 bytes.
  const shapes: Array<[number, number, number, number]> = [
    [1, 1, 448, 448],
    [1, 1, 1, 1],
    [2, 1, 4, 1],
    [1, 37, 448, 448],
    [53, 1, 448, 448],
    [3, 2, 448, 448],
    [7, 5, 448, 448],
    [100, 60, 448, 448],
    [447, 449, 448, 448],
    [448, 448, 448, 448],
    [449, 447, 448, 448],
    [640, 427, 448, 448],
    [896, 896, 448, 448],
    [896, 448, 448, 448],
    [12, 4000, 448, 448],
    [4000, 12, 448, 448],
    [2001, 1499, 448, 448],
    // Photo sizes, downscaled 2x or more vertically: the one-pass kernels hv3 / hv3swap.
    [3518, 2639, 448, 448],
    [1629, 1629, 448, 448],
    [900, 896, 448, 448],
    [897, 897, 448, 448],
    [1000, 3000, 7, 448],
    [10, 6, 5, 3],
    [22, 14, 11, 7],
    [9, 9, 4, 4],
    [31, 17, 13, 1],
    [17, 31, 1, 13],
    [5, 5, 23, 19],
    [448, 448, 17, 9],
    [300, 200, 301, 201],
    [123, 77, 1000, 3],
  ];
  for (const layout of LAYOUTS) {
    it.each(shapes)(
      `${layout.channels === 1 ? 'grey' : layout.order} %ix%i -> %ix%i matches the JavaScript reference`,
      (sw, sh, dw, dh) => {
        expectSame(image(sw, sh, layout, sw * 7919 + sh * 31 + dw + layout.channels), dw, dh);
      },
    );
  }

  it('matches on 200 random shapes', () => {
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return 1 + ((seed >>> 8) % n);
    };
    for (let i = 0; i < 200; i++) {
      const sw = rnd(i % 4 === 0 ? 1200 : 90);
      const sh = rnd(i % 5 === 0 ? 900 : 90);
      const dw = i % 3 === 0 ? 448 : rnd(120);
      const dh = i % 3 === 0 ? 448 : rnd(120);
      expectSame(image(sw, sh, LAYOUTS[i % 3]!, i + 1), dw, dh);
    }
  });

  it('matches on extreme pixel values (all 0, all 255, alternating)', () => {
    for (const fill of [0, 255]) {
      expectSame({ data: Buffer.alloc(333 * 222 * 3, fill), width: 333, height: 222, channels: 3, order: 'bgr' }, 448, 448);
    }
    const stripes = Buffer.alloc(301 * 199 * 3);
    for (let i = 0; i < stripes.length; i++) stripes[i] = (i / 3) & 1 ? 255 : 0;
    expectSame({ data: stripes, width: 301, height: 199, channels: 3, order: 'rgb' }, 448, 448);
    expectSame({ data: stripes, width: 301, height: 199, channels: 3, order: 'rgb' }, 1001, 997);
  });

  it('reads a source that is a view into a larger buffer, and does not modify it', () => {
    const backing = noise(50 * 40 * 3 + 100, 3);
    const data = backing.subarray(37, 37 + 50 * 40 * 3);
    const before = Buffer.from(backing);
    expectSame({ data, width: 50, height: 40, channels: 3, order: 'bgr' }, 448, 448);
    expect(backing.equals(before)).toBe(true);
  });

  it('gives results that do not alias WebAssembly memory (a later resize leaves them unchanged)', () => {
    const a = resizeToModel({ data: noise(300 * 200 * 3, 1), width: 300, height: 200 });
    const copy = Buffer.from(a);
    resizeToModel({ data: noise(300 * 200 * 3, 2), width: 300, height: 200 });
    expect(a.equals(copy)).toBe(true);
  });

  it('grows its memory for a wide source and keeps working for small ones after', () => {
    expectSame(image(30_000, 3, LAYOUTS[1], 9), 448, 448);
    expectSame(image(5, 3, LAYOUTS[0], 10), 448, 448);
  });

  it('matches the JavaScript reference on every decodable fixture', async () => {
    const dir = join(FIXTURE_DIR, 'images');
    let n = 0;
    for (const name of readdirSync(dir).sort()) {
      const raw = await decodeRaw(readFileSync(join(dir, name)));
      const wasm = resizeRaw(raw, 448, 448);
      if (!wasm.equals(resizeRawJs(raw, 448, 448))) throw new Error(`${name}: the WebAssembly resize differs from the reference`);
      n++;
    }
    expect(n).toBe(44);
  }, 120_000);
});
