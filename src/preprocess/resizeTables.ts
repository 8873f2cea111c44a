/*
 * The coordinate and weight tables of OpenCV 4.6's INTER_LINEAR (`resizeGeneric_` in
 * modules/imgproc/src/resize.cpp), shared by the JavaScript resizer (`./resize`, the reference)
 * and the WebAssembly one (`./resizeWasm`). See `./resize` for the arithmetic.
 */

export const COEF_BITS = 11;
/** INTER_RESIZE_COEF_SCALE: weights are 11-bit fixed point. */
export const COEF_SCALE = 1 << COEF_BITS;
const fround = Math.fround;

/** `cvRound` on a float: round half to even (x86 `cvtss2si` in the default rounding mode). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round rounds .5 up; move back to the even neighbour on exact ties.
  return r - x === 0.5 && (r & 1) !== 0 ? r - 1 : r;
}

/** Interpolation tables for one axis, as `resizeGeneric_` builds them. */
export interface AxisTable {
  /** First source index (unclamped for rows, clamped for columns). */
  readonly index: Int32Array;
  readonly w0: Int32Array;
  readonly w1: Int32Array;
}

/**
 * Tables built so far, by size pair: a batch of photos from one camera has one or two source sizes,
 * and building a table costs more than resizing a row. Bounded: cleared when full.
 */
const tables = new Map<string, AxisTable>();
const MAX_TABLES = 64;

/**
 * The table for one axis, cached per (srcSize, dstSize, clampWeights). The arrays are shared
 * between calls: callers only read them.
 */
export function axisTable(srcSize: number, dstSize: number, clampWeights: boolean): AxisTable {
  const key = `${srcSize}:${dstSize}:${clampWeights ? 1 : 0}`;
  let table = tables.get(key);
  if (!table) {
    if (tables.size >= MAX_TABLES) tables.clear();
    table = buildAxisTable(srcSize, dstSize, clampWeights);
    tables.set(key, table);
  }
  return table;
}

function buildAxisTable(srcSize: number, dstSize: number, clampWeights: boolean): AxisTable {
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

/**
 * `cv::resize` switches INTER_LINEAR to INTER_AREA's 2x2 mean when the scale is exactly 2 in both
 * axes (`is_area_fast && iscale_x == 2 && iscale_y == 2`, tested as `|scale - 2| < DBL_EPSILON`).
 */
export function isExactHalf(srcW: number, srcH: number, dstW: number, dstH: number): boolean {
  const scaleX = 1 / (dstW / srcW);
  const scaleY = 1 / (dstH / srcH);
  return Math.abs(scaleX - 2) < Number.EPSILON && Math.abs(scaleY - 2) < Number.EPSILON;
}
