import { type BgrImage, channelOffsets, MODEL_SIDE, type RawImage } from './bgrImage';
import { axisTable, isExactHalf } from './resizeTables';
import { resizeRawWasm } from './resizeWasm';
import { InvalidOptionError } from '../core/invalidOptionError';

// A module constant, not `Math.imul` in the loops: under jest (a vm context) every lookup of the
// global `Math` goes through the context's interceptor, which made the resizer 60x slower there.
const imul = Math.imul;

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

/** OpenCV's exact-2x INTER_AREA fast path: `(a + b + c + d + 2) >> 2` over each 2x2 block. */
function resizeHalf(src: RawImage, dstW: number, dstH: number): Buffer {
  const s = src.data;
  const cn = src.channels;
  const [ob, og, or] = channelOffsets(src);
  const out = Buffer.allocUnsafe(dstW * dstH * 3);
  const srcStride = src.width * cn;
  let o = 0;
  for (let dy = 0; dy < dstH; dy++) {
    const r0 = 2 * dy * srcStride;
    const r1 = r0 + srcStride;
    for (let dx = 0; dx < dstW; dx++) {
      const p = r0 + 2 * dx * cn;
      const q = r1 + 2 * dx * cn;
      out[o++] = (s[p + ob]! + s[p + cn + ob]! + s[q + ob]! + s[q + cn + ob]! + 2) >> 2;
      out[o++] = (s[p + og]! + s[p + cn + og]! + s[q + og]! + s[q + cn + og]! + 2) >> 2;
      out[o++] = (s[p + or]! + s[p + cn + or]! + s[q + or]! + s[q + cn + or]! + 2) >> 2;
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
  return resizeRaw({ ...src, channels: 3, order: 'bgr' }, dstW, dstH);
}

/**
 * {@link resizeBgr} on decoded samples in any layout (grey, R,G,B or B,G,R); the output is always
 * B,G,R. Grey is resized as OpenCV resizes its three identical channels.
 *
 * Runs on the WebAssembly SIMD kernels (`./resizeWasm`, 5-10x faster), which give the same bytes
 * as the JavaScript implementation below ({@link resizeRawJs}, the tested reference); that one
 * runs only if the kernels cannot be loaded. An unchanged size goes through the general path,
 * which is then an exact copy (weights 2048 and 0: `((s * 128 * 2048) >> 16 + 2) >> 2 = s`).
 */
export function resizeRaw(src: RawImage, dstW: number, dstH: number): Buffer {
  checkResize(src, dstW, dstH);
  return resizeRawWasm(src, dstW, dstH) ?? resizeRawJs(src, dstW, dstH);
}

function checkResize(src: RawImage, dstW: number, dstH: number): void {
  const { width: srcW, height: srcH, data, channels: cn } = src;
  if (!(srcW > 0 && srcH > 0 && dstW > 0 && dstH > 0)) {
    throw new InvalidOptionError(`resize: bad size ${srcW}x${srcH} -> ${dstW}x${dstH}`);
  }
  if (data.length < srcW * srcH * cn) {
    throw new InvalidOptionError(`resize: ${data.length} bytes for a ${srcW}x${srcH}x${cn} image`);
  }
}

/**
 * The plain JavaScript implementation: the reference that the WebAssembly kernels
 * (`./resizeWasm`) are tested against, and the fallback when they cannot be loaded.
 */
export function resizeRawJs(src: RawImage, dstW: number, dstH: number): Buffer {
  checkResize(src, dstW, dstH);
  const { width: srcW, height: srcH, data, channels: cn } = src;
  const [ob, og, or] = channelOffsets(src);
  if (srcW === dstW && srcH === dstH) {
    const n = srcW * srcH;
    const out = Buffer.allocUnsafe(n * 3);
    for (let i = 0, p = 0, o = 0; i < n; i++, p += cn, o += 3) {
      out[o] = data[p + ob]!;
      out[o + 1] = data[p + og]!;
      out[o + 2] = data[p + or]!;
    }
    return out;
  }

  // cv::resize: is_area_fast && iscale_x == 2 && iscale_y == 2 -> INTER_AREA (a 2x2 mean).
  if (isExactHalf(srcW, srcH, dstW, dstH)) {
    return resizeHalf(src, dstW, dstH);
  }

  const cols = axisTable(srcW, dstW, true);
  const rows = axisTable(srcH, dstH, false);
  // Per destination pixel, the source byte offsets of its two neighbours (plus the channel offset).
  // At the right border OpenCV uses S[sx] * ONE (weight 2048, fx = 0): reading sx twice with
  // weights (2048, 0) gives the same value without reading past the row.
  const x0 = new Int32Array(dstW);
  const x1 = new Int32Array(dstW);
  for (let dx = 0; dx < dstW; dx++) {
    const sx = cols.index[dx]!;
    x0[dx] = sx * cn;
    x1[dx] = (sx + 1 < srcW ? sx + 1 : sx) * cn;
  }
  const tables: HTables = { x0, x1, w0: cols.w0, w1: cols.w1, ob, og, or };

  const rowBytes = dstW * 3;
  const out = Buffer.allocUnsafe(rowBytes * dstH);
  // Two cached horizontally resized rows, stored already shifted (`h >> 4`), which is all the
  // vertical pass uses. OpenCV keeps a ring of `ksize` = 2 rows the same way.
  let rowA = new Int32Array(rowBytes);
  let rowB = new Int32Array(rowBytes);
  let rowAIndex = -1;
  let rowBIndex = -1;
  const srcStride = srcW * cn;
  const last = srcH - 1;
  for (let dy = 0; dy < dstH; dy++) {
    const sy = rows.index[dy]!;
    const sy0 = sy < 0 ? 0 : sy > last ? last : sy;
    const sy1 = sy + 1 > last ? last : sy + 1 < 0 ? 0 : sy + 1;
    if (rowAIndex !== sy0) {
      if (rowBIndex === sy0) {
        // Moving down by one source row: the old second row becomes the first.
        const t = rowA;
        rowA = rowB;
        rowB = t;
        rowBIndex = rowAIndex;
      } else {
        horizontal(data, sy0 * srcStride, tables, rowA);
      }
      rowAIndex = sy0;
    }
    if (sy1 !== sy0 && rowBIndex !== sy1) {
      horizontal(data, sy1 * srcStride, tables, rowB);
      rowBIndex = sy1;
    }
    vertical(rowA, sy1 === sy0 ? rowA : rowB, rows.w0[dy]!, rows.w1[dy]!, out, dy * rowBytes);
  }
  return out;
}

interface HTables {
  readonly x0: Int32Array;
  readonly x1: Int32Array;
  readonly w0: Int32Array;
  readonly w1: Int32Array;
  readonly ob: number;
  readonly og: number;
  readonly or: number;
}

/** `HResizeLinear`: one source row to `h >> 4` per output byte (int32 sums, exact). */
function horizontal(src: Uint8Array, base: number, t: HTables, dst: Int32Array): void {
  const { x0, x1, w0, w1, ob, og, or } = t;
  const n = x0.length;
  for (let dx = 0, k = 0; dx < n; dx++, k += 3) {
    const p = base + x0[dx]!;
    const q = base + x1[dx]!;
    const a = w0[dx]!;
    const b = w1[dx]!;
    dst[k] = (imul(src[p + ob]!, a) + imul(src[q + ob]!, b)) >> 4;
    dst[k + 1] = (imul(src[p + og]!, a) + imul(src[q + og]!, b)) >> 4;
    dst[k + 2] = (imul(src[p + or]!, a) + imul(src[q + or]!, b)) >> 4;
  }
}

/**
 * `VResizeLinearVec_32s8u`: `v_mul_hi` of each (already shifted) row with its int16 weight, summed,
 * then `(v + 2) >> 2`. OpenCV saturates to 0..255 here, but it never has to: `h >> 4 <= 255 * 2048
 * >> 4 = 32640` and `b0 + b1 <= 2049`, so `v <= 1020` and the result `<= 255`; it is never negative.
 * A plain byte store is therefore exact (and faster than a Uint8ClampedArray).
 */
function vertical(h0: Int32Array, h1: Int32Array, b0: number, b1: number, out: Uint8Array, offset: number): void {
  const n = h0.length;
  for (let k = 0; k < n; k++) {
    out[offset + k] = ((imul(h0[k]!, b0) >> 16) + (imul(h1[k]!, b1) >> 16) + 2) >> 2;
  }
}

/**
 * The model input: `cv2.resize(img, (448, 448), interpolation=INTER_LINEAR)`, 602112 bytes of
 * B,G,R. An image already 448x448 is copied unchanged, as the reference client skips the resize.
 */
export function resizeToModel(image: BgrImage | RawImage): Buffer {
  const raw: RawImage = 'channels' in image ? image : { ...image, channels: 3, order: 'bgr' };
  return resizeRaw(raw, MODEL_SIDE, MODEL_SIDE);
}
