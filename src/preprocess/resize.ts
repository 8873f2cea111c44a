import { type BgrImage, MODEL_SIDE } from './bgrImage';

/*
 * OpenCV 4.6 `cv::resize(src, dst, Size(w, h), 0, 0, INTER_LINEAR)` on CV_8UC3, x86, no IPP,
 * reproduced bit for bit (modules/imgproc/src/resize.cpp):
 *
 * - `inv_scale = double(dst) / src`, `scale = 1. / inv_scale` (both double: this is not always the
 *   same double as `src / dst`, so we compute it the same roundabout way).
 * - Exactly 2x in both axes (`|scale - 2| < DBL_EPSILON`) switches INTER_LINEAR to INTER_AREA, whose
 *   integer-scale fast path (`resizeAreaFast_Invoker`) is the rounded mean of each 2x2 block.
 * - Otherwise `resizeGeneric_`: per destination column `fx = float((dx + 0.5) * scale - 0.5)`,
 *   `sx = cvFloor(fx)`, `fx -= sx`; `sx < 0` becomes `sx = 0, fx = 0` and `sx >= src_w - 1` becomes
 *   `sx = src_w - 1, fx = 0`. Rows are computed the same way but never clamped: only the row
 *   indices `sy`, `sy + 1` are clamped when read (`resizeGeneric_Invoker`), the weights stay.
 * - Weights: `saturate_cast<short>(cbuf[k] * INTER_RESIZE_COEF_SCALE)` with `cbuf = {1.f - f, f}`
 *   in float and the scale 2048, i.e. round half to even (`cvRound` is `lrintf`).
 * - `HResizeLinear<uchar, int, short>`: `S[sx] * a0 + S[sx + cn] * a1` in int32, exact.
 * - `VResizeLinear` with `VResizeLinearVec_32s8u` (the SIMD kernel; with 448 * 3 = 1344 bytes per
 *   row, a multiple of every x86 vector width, it covers every column, so the scalar tail
 *   `FixedPtCast` never runs): `v_pack(h >> 4)` to int16, `v_mul_hi` with the int16 row weight
 *   (`(a * b) >> 16`), the two products added, then `v_rshr_pack_u<2>`: `(v + 2) >> 2` saturated to
 *   0..255. The scalar formula `(h0 * b0 + h1 * b1 + (1 << 21)) >> 22` would differ in the last bit.
 */

const COEF_BITS = 11;
const COEF_SCALE = 1 << COEF_BITS; // INTER_RESIZE_COEF_SCALE
const fround = Math.fround;

/** `cvRound` on a float: round half to even (x86 `cvtss2si` in the default rounding mode). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round rounds .5 up; move back to the even neighbour on exact ties.
  return r - x === 0.5 && (r & 1) !== 0 ? r - 1 : r;
}

/** Interpolation tables for one axis, as `resizeGeneric_` builds them. */
interface AxisTable {
  /** First source index (unclamped for rows, clamped for columns). */
  readonly index: Int32Array;
  readonly w0: Int32Array;
  readonly w1: Int32Array;
}

function axisTable(srcSize: number, dstSize: number, clampWeights: boolean): AxisTable {
  const scale = 1 / (dstSize / srcSize);
  const index = new Int32Array(dstSize);
  const w0 = new Int32Array(dstSize);
  const w1 = new Int32Array(dstSize);
  for (let d = 0; d < dstSize; d++) {
    let f = fround((d + 0.5) * scale - 0.5);
    let s = Math.floor(f);
    f = fround(f - s);
    if (clampWeights) {
      if (s < 0) {
        s = 0;
        f = 0;
      }
      if (s >= srcSize - 1) {
        s = srcSize - 1;
        f = 0;
      }
    }
    index[d] = s;
    w0[d] = roundHalfEven(fround(1 - f) * COEF_SCALE);
    w1[d] = roundHalfEven(f * COEF_SCALE);
  }
  return { index, w0, w1 };
}

/** OpenCV's exact-2x INTER_AREA fast path: `(a + b + c + d + 2) >> 2` over each 2x2 block. */
function resizeHalf(src: BgrImage, dstW: number, dstH: number): Buffer {
  const s = src.data;
  const out = Buffer.allocUnsafe(dstW * dstH * 3);
  const srcStride = src.width * 3;
  const rowBytes = dstW * 3;
  let o = 0;
  for (let dy = 0; dy < dstH; dy++) {
    const r0 = 2 * dy * srcStride;
    const r1 = r0 + srcStride;
    for (let dx = 0; dx < rowBytes; dx += 3) {
      const p = r0 + 2 * dx;
      const q = r1 + 2 * dx;
      out[o++] = (s[p]! + s[p + 3]! + s[q]! + s[q + 3]! + 2) >> 2;
      out[o++] = (s[p + 1]! + s[p + 4]! + s[q + 1]! + s[q + 4]! + 2) >> 2;
      out[o++] = (s[p + 2]! + s[p + 5]! + s[q + 2]! + s[q + 5]! + 2) >> 2;
    }
  }
  return out;
}

/**
 * Resize a BGR image to `dstW` x `dstH` exactly as OpenCV 4.6's `cv2.resize(..., INTER_LINEAR)`
 * does for 8-bit 3-channel images on x86 (including the exact-2x box path). Returns a copy when the
 * size is unchanged, as `cv2.resize` does.
 *
 * The vertical pass reproduces the SIMD kernel, which OpenCV uses for every column only when the
 * row holds a multiple of the vector width in bytes (true for 448 wide); for other widths the last
 * few bytes of a real OpenCV row go through the scalar formula and may differ by one.
 */
export function resizeBgr(src: BgrImage, dstW: number, dstH: number): Buffer {
  const { width: srcW, height: srcH, data } = src;
  if (!(srcW > 0 && srcH > 0 && dstW > 0 && dstH > 0)) {
    throw new RangeError(`resize: bad size ${srcW}x${srcH} -> ${dstW}x${dstH}`);
  }
  if (data.length < srcW * srcH * 3) {
    throw new RangeError(`resize: ${data.length} bytes for a ${srcW}x${srcH} BGR image`);
  }
  if (srcW === dstW && srcH === dstH) return Buffer.from(data.subarray(0, srcW * srcH * 3));

  const scaleX = 1 / (dstW / srcW);
  const scaleY = 1 / (dstH / srcH);
  // cv::resize: is_area_fast && iscale_x == 2 && iscale_y == 2 -> INTER_AREA (a 2x2 mean).
  if (Math.abs(scaleX - 2) < Number.EPSILON && Math.abs(scaleY - 2) < Number.EPSILON) {
    return resizeHalf(src, dstW, dstH);
  }

  const cols = axisTable(srcW, dstW, true);
  const rows = axisTable(srcH, dstH, false);
  const rowBytes = dstW * 3;

  // Per output byte: the offsets of its two source samples within a row and their weights, so the
  // horizontal pass is one flat loop (no per-channel inner loop).
  const ofs0 = new Int32Array(rowBytes);
  const ofs1 = new Int32Array(rowBytes);
  const a0 = new Int32Array(rowBytes);
  const a1 = new Int32Array(rowBytes);
  for (let dx = 0; dx < dstW; dx++) {
    const sx = cols.index[dx]!;
    // At the right border OpenCV uses S[sx] * ONE (weight 2048, fx = 0): reading sx twice with
    // weights (2048, 0) gives the same value without reading past the row.
    const sx1 = sx + 1 < srcW ? sx + 1 : sx;
    for (let c = 0; c < 3; c++) {
      const k = dx * 3 + c;
      ofs0[k] = sx * 3 + c;
      ofs1[k] = sx1 * 3 + c;
      a0[k] = cols.w0[dx]!;
      a1[k] = cols.w1[dx]!;
    }
  }

  const srcStride = srcW * 3;
  // Two cached horizontally-resized rows (OpenCV keeps a ring of `ksize` rows the same way).
  let rowA = new Int32Array(rowBytes);
  let rowB = new Int32Array(rowBytes);
  let rowAIndex = -1;
  let rowBIndex = -1;
  const hresize = (sy: number, dst: Int32Array): void => {
    const base = sy * srcStride;
    for (let k = 0; k < rowBytes; k++) {
      dst[k] = data[base + ofs0[k]!]! * a0[k]! + data[base + ofs1[k]!]! * a1[k]!;
    }
  };

  const out = Buffer.allocUnsafe(rowBytes * dstH);
  const last = srcH - 1;
  for (let dy = 0; dy < dstH; dy++) {
    const sy = rows.index[dy]!;
    const sy0 = sy < 0 ? 0 : sy > last ? last : sy;
    const sy1 = sy + 1 < 0 ? 0 : sy + 1 > last ? last : sy + 1;
    // Reuse cached rows: when moving down, the old second row is often the new first row.
    if (rowAIndex !== sy0) {
      if (rowBIndex === sy0) {
        const t = rowA;
        rowA = rowB;
        rowB = t;
        rowAIndex = sy0;
        rowBIndex = -1;
      } else {
        hresize(sy0, rowA);
        rowAIndex = sy0;
      }
    }
    let h1: Int32Array;
    if (sy1 === sy0) {
      h1 = rowA;
    } else {
      if (rowBIndex !== sy1) {
        hresize(sy1, rowB);
        rowBIndex = sy1;
      }
      h1 = rowB;
    }
    const h0 = rowA;
    const b0 = rows.w0[dy]!;
    const b1 = rows.w1[dy]!;
    let o = dy * rowBytes;
    for (let k = 0; k < rowBytes; k++) {
      // v_mul_hi(v_pack(h >> 4), b): products stay below 2^31, so JS doubles are exact here.
      const v = ((((h0[k]! >> 4) * b0) >> 16) + (((h1[k]! >> 4) * b1) >> 16) + 2) >> 2;
      out[o++] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return out;
}

/**
 * The model input: `cv2.resize(img, (448, 448), interpolation=INTER_LINEAR)`, 602112 bytes of
 * B,G,R. An image already 448x448 is copied unchanged, as the reference client skips the resize.
 */
export function resizeToModel(image: BgrImage): Buffer {
  return resizeBgr(image, MODEL_SIDE, MODEL_SIDE);
}
