import { MODEL_BYTES, type RawImage } from '../../src/preprocess/bgrImage';
import { resizeBgr, resizeToModel } from '../../src/preprocess/resize';
import { noise as noiseBytes } from './noise';

/** A deterministic pseudo-random image, so failures reproduce. */
const noise = (width: number, height: number, seed = 1): Buffer => noiseBytes(width * height * 3, seed);

/**
 * OpenCV's INTER_LINEAR written pixel by pixel straight from the facts in section 6 of the
 * contract, without tables or row caches: an independent check of the optimised implementation.
 */
function naiveLinear(src: Buffer, sw: number, sh: number, dw: number, dh: number): Buffer {
  // Local names: inside Jest's VM context every lookup of the global `Math` is a slow property
  // read on the sandbox's global (this function spent 98% of its time there: 7 s instead of 0.1 s).
  const { floor, fround: f32, max, min, round } = Math;
  const rint = (v: number): number => {
    const r = round(v);
    return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
  };
  const coord = (d: number, scale: number): [number, number] => {
    const f = f32((d + 0.5) * scale - 0.5);
    const s = floor(f);
    return [s, f32(f - s)];
  };
  const sx = 1 / (dw / sw);
  const sy = 1 / (dh / sh);
  // Column facts: source column, its right neighbour and the two weights (clamped at the borders).
  const cx0: number[] = [];
  const cx1: number[] = [];
  const ca0: number[] = [];
  const ca1: number[] = [];
  for (let x = 0; x < dw; x++) {
    let [x0, fx] = coord(x, sx);
    if (x0 < 0) [x0, fx] = [0, 0];
    if (x0 >= sw - 1) [x0, fx] = [sw - 1, 0];
    cx0.push(x0);
    cx1.push(min(x0 + 1, sw - 1));
    ca0.push(rint(f32(1 - fx) * 2048));
    ca1.push(rint(fx * 2048));
  }
  const out = Buffer.alloc(dw * dh * 3);
  for (let y = 0; y < dh; y++) {
    // Rows: weights never clamped, only the indices when read.
    const [y0, fy] = coord(y, sy);
    const b0 = rint(f32(1 - fy) * 2048);
    const b1 = rint(fy * 2048);
    const r0 = min(max(y0, 0), sh - 1) * sw * 3;
    const r1 = min(max(y0 + 1, 0), sh - 1) * sw * 3;
    for (let x = 0; x < dw; x++) {
      const p0 = cx0[x]! * 3;
      const p1 = cx1[x]! * 3;
      for (let c = 0; c < 3; c++) {
        const h0 = src[r0 + p0 + c]! * ca0[x]! + src[r0 + p1 + c]! * ca1[x]!;
        const h1 = src[r1 + p0 + c]! * ca0[x]! + src[r1 + p1 + c]! * ca1[x]!;
        const v = (floor(((h0 >> 4) * b0) / 65536) + floor(((h1 >> 4) * b1) / 65536) + 2) >> 2;
        out[(y * dw + x) * 3 + c] = min(255, max(0, v));
      }
    }
  }
  return out;
}

describe('resize: OpenCV 4.6 INTER_LINEAR on 8-bit BGR', () => {
  it('upscales 2x1 to 4x1 as hand-computed', () => {
    // scale 0.5: fx = -0.25 (clamped to sx 0, fx 0), 0.25, 0.75, 1.25 (clamped to sx 1, fx 0);
    // weights (2048,0), (1536,512), (512,1536), (2048,0); h = 0, 130560, 391680, 522240;
    // ((h >> 4) * 2048 >> 16 + 2) >> 2 = 0, 64, 191, 255.
    const src = Buffer.from([0, 0, 0, 255, 255, 255]);
    const out = resizeBgr({ data: src, width: 2, height: 1 }, 4, 1);
    expect([...out]).toEqual([0, 0, 0, 64, 64, 64, 191, 191, 191, 255, 255, 255]);
  });

  it('stretches a single pixel over the whole output', () => {
    const out = resizeToModel({ data: Buffer.from([10, 20, 30]), width: 1, height: 1 });
    expect(out).toHaveLength(MODEL_BYTES);
    for (let i = 0; i < out.length; i += 3) {
      if (out[i] !== 10 || out[i + 1] !== 20 || out[i + 2] !== 30) throw new Error(`pixel ${i / 3}`);
    }
  });

  it('returns a copy, not the input, when already 448x448', () => {
    const data = noise(448, 448);
    const out = resizeToModel({ data, width: 448, height: 448 });
    expect(out.equals(data)).toBe(true);
    out[0] = out[0]! ^ 1;
    expect(out.equals(data)).toBe(false);
  });

  it('takes the 2x2 box path, (a + b + c + d + 2) >> 2, for exactly 896x896', () => {
    const w = 896;
    const data = Buffer.alloc(w * w * 3);
    // Top-left block of the blue channel: 0,1 / 1,1 -> (3 + 2) >> 2 = 1.
    // Next block: 0,0 / 0,1 -> (1 + 2) >> 2 = 0.  Next: 1,1 / 1,2 -> 7 >> 2 = 1. Next: 0,0/1,1 -> 1.
    const set = (x: number, y: number, v: number): void => {
      data[(y * w + x) * 3] = v;
    };
    [
      [0, 1, 1, 1],
      [0, 0, 0, 1],
      [1, 1, 1, 2],
      [0, 0, 1, 1],
    ].forEach(([a, b, c, d], i) => {
      set(2 * i, 0, a!);
      set(2 * i + 1, 0, b!);
      set(2 * i, 1, c!);
      set(2 * i + 1, 1, d!);
    });
    const out = resizeToModel({ data, width: w, height: w });
    expect([out[0], out[3], out[6], out[9]]).toEqual([1, 0, 1, 1]);

    // On any image, the box path is exactly the 2x2 mean.
    const img = noise(w, w, 7);
    const box = resizeToModel({ data: img, width: w, height: w });
    for (let y = 0; y < 448; y += 37) {
      for (let x = 0; x < 448; x += 41) {
        for (let c = 0; c < 3; c++) {
          const p = (yy: number, xx: number): number => img[(yy * w + xx) * 3 + c]!;
          const mean = (p(2 * y, 2 * x) + p(2 * y, 2 * x + 1) + p(2 * y + 1, 2 * x) + p(2 * y + 1, 2 * x + 1) + 2) >> 2;
          expect(box[(y * 448 + x) * 3 + c]).toBe(mean);
        }
      }
    }
  });

  it('does not take the box path when only one axis is 2x (896x448)', () => {
    const img = noise(896, 448, 3);
    expect(resizeToModel({ data: img, width: 896, height: 448 }).equals(naiveLinear(img, 896, 448, 448, 448))).toBe(true);
  });

  it.each([
    [3, 2],
    [100, 60],
    [447, 449],
    [449, 447],
    [640, 427],
    [4000, 12],
    [12, 4000],
    [1000, 1000],
    [895, 897],
  ])('matches the pixel-by-pixel reference for %ix%i -> 448x448', (w, h) => {
    const img = noise(w, h, w * 31 + h);
    expect(resizeToModel({ data: img, width: w, height: h }).equals(naiveLinear(img, w, h, 448, 448))).toBe(true);
  });

  it('matches the reference for small arbitrary targets', () => {
    for (const [sw, sh, dw, dh] of [
      [7, 5, 3, 4],
      [3, 2, 5, 7],
      [1, 9, 4, 2],
      [10, 1, 3, 3],
    ] as const) {
      const img = noise(sw, sh, sw + 100 * sh);
      expect(resizeBgr({ data: img, width: sw, height: sh }, dw, dh).equals(naiveLinear(img, sw, sh, dw, dh))).toBe(true);
    }
  });

  it('reads R,G,B and grey layouts as their B,G,R equivalents', () => {
    const w = 123;
    const h = 77;
    const bgr = noise(w, h, 5);
    const rgb = Buffer.alloc(bgr.length);
    for (let i = 0; i < bgr.length; i += 3) {
      rgb[i] = bgr[i + 2]!;
      rgb[i + 1] = bgr[i + 1]!;
      rgb[i + 2] = bgr[i]!;
    }
    const expected = resizeToModel({ data: bgr, width: w, height: h });
    const fromRgb: RawImage = { data: rgb, width: w, height: h, channels: 3, order: 'rgb' };
    expect(resizeToModel(fromRgb).equals(expected)).toBe(true);

    const grey = noise(w, h, 9).subarray(0, w * h);
    const greyAsBgr = Buffer.alloc(w * h * 3);
    for (let i = 0; i < w * h; i++) greyAsBgr.fill(grey[i]!, i * 3, i * 3 + 3);
    const fromGrey: RawImage = { data: grey, width: w, height: h, channels: 1, order: 'rgb' };
    expect(resizeToModel(fromGrey).equals(resizeToModel({ data: greyAsBgr, width: w, height: h }))).toBe(true);
    // Grey at the box-path and copy sizes too.
    for (const side of [896, 448]) {
      const g = noise(side, side, side).subarray(0, side * side);
      const g3 = Buffer.alloc(side * side * 3);
      for (let i = 0; i < side * side; i++) g3.fill(g[i]!, i * 3, i * 3 + 3);
      const raw: RawImage = { data: g, width: side, height: side, channels: 1, order: 'bgr' };
      expect(resizeToModel(raw).equals(resizeToModel({ data: g3, width: side, height: side }))).toBe(true);
    }
  });

  it('rejects sizes and buffers that do not agree', () => {
    expect(() => resizeToModel({ data: Buffer.alloc(5), width: 2, height: 1 })).toThrow(RangeError);
    expect(() => resizeToModel({ data: Buffer.alloc(0), width: 0, height: 0 })).toThrow(RangeError);
  });
});
