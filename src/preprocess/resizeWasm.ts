import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RawImage } from './bgrImage';
import { type AxisTable, axisTable, isExactHalf } from './resizeTables';

/*
 * The resize of `./resize` on WebAssembly SIMD kernels (`resize.wat`, assembled into the committed
 * `resize.wasm`), byte for byte the same as the JavaScript implementation, which stays the
 * reference: tests compare the two on random images of many shapes and on the fixture corpus.
 *
 * The driver here does what is cheap per image in JavaScript (tables, choosing source rows, the
 * two-row cache) and calls one kernel per row: `hrow3` (`hrow3swap` for R,G,B, which reorders the
 * channels as it goes, at no cost; `hrow1` for grey) for the horizontal pass of one source row,
 * `vrow` (or `vbox` on the exact-2x path) for one output row; downscales by 2 or more do both in
 * one kernel (`hv3`, `hv3swap`). `grey3` lays a grey result out as B,G,R (and `swaprb` an R,G,B
 * image already 448x448). Only the source rows the output needs are copied into WebAssembly
 * memory, a block at a time, so memory holds a few rows of the source, never the whole decoded
 * image (52 MB for a 5000x3500 photo): about 1 MB for a 448x448 output.
 */

// The WebAssembly global of Node, typed here: the compiler's lib has no DOM, where TypeScript
// declares it.
interface WasmGlobal {
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object, imports: object) => { readonly exports: unknown };
}
const { WebAssembly: wasm } = globalThis as unknown as { WebAssembly: WasmGlobal };

// The exports are plain functions that use no `this`: typed as function properties, so that one
// can be picked off the object (`cn === 3 ? k.hrow3 : k.hrow1`) and called alone.
interface Kernels {
  readonly memory: { readonly buffer: ArrayBuffer; grow(pages: number): number };
  readonly hrow3: (src: number, tab: number, out: number, groups: number, shift: number) => void;
  readonly hrow3swap: (src: number, tab: number, out: number, groups: number, shift: number) => void;
  readonly hrow1: (src: number, tab: number, out: number, groups: number, shift: number) => void;
  readonly hv3: (r0: number, r1: number, tab: number, out: number, groups: number, b0: number, b1: number) => void;
  readonly hv3swap: (r0: number, r1: number, tab: number, out: number, groups: number, b0: number, b1: number) => void;
  readonly vrow: (h0: number, h1: number, b0: number, b1: number, out: number, n: number) => void;
  readonly vbox: (h0: number, h1: number, out: number, n: number) => void;
  readonly swaprb: (src: number, dst: number, n: number) => void;
  readonly grey3: (src: number, dst: number, n: number) => void;
  readonly paeth: (cur: number, prev: number, out: number, n: number) => void;
}

let kernels: Kernels | undefined;
/** What the horizontal table at offset 0 of memory was last written for: rewritten only on change. */
let tableKey = '';
let loadError: Error | undefined;

function load(): Kernels | undefined {
  if (kernels || loadError) return kernels;
  try {
    // Synchronous: the module is 600 bytes and compiles in well under a millisecond.
    const module = new wasm.Module(readFileSync(join(__dirname, 'resize.wasm')));
    kernels = new wasm.Instance(module, {}).exports as Kernels;
  } catch (err) {
    loadError = err instanceof Error ? err : new Error(String(err));
  }
  return kernels;
}

/**
 * Which resizer `resizeRaw` uses: `'wasm'`, or `'js'` when the WebAssembly module cannot be loaded
 * (with the reason). The results are identical; only the speed differs.
 */
export function resizeBackend(): { readonly backend: 'wasm' | 'js'; readonly error?: Error } {
  return load() ? { backend: 'wasm' } : { backend: 'js', ...(loadError ? { error: loadError } : {}) };
}

/** Beyond this much WebAssembly memory (only absurdly wide images need it), the JS path runs. */
const MAX_MEMORY = 256 * 1024 * 1024;
const PAGE = 65536;

const up16 = (n: number): number => (n + 15) & ~15;

/** Bytes of consecutive source rows staged per copy (at least two rows whatever the width). */
const BLOCK_BYTES = 64 * 1024;

/**
 * Writes the horizontal table of `hrow3` / `hrow1` (see resize.wat): per group of four output
 * pixels their left neighbours' byte offsets, then their int16 weight pairs `(w1 << 16) | w0` laid
 * out for `i32x4.dot_i16x8_s` over the channels of the group.
 */
function writeTable(key: string, tab: Int32Array, cn: 1 | 3, x0: (dx: number) => number, w: (dx: number) => number, dstW: number): void {
  if (tableKey === key) return; // already in memory
  tableKey = key;
  const groups = (dstW + 3) >> 2;
  const entry = cn === 3 ? 16 : 8; // i32 per group
  for (let g = 0; g < groups; g++) {
    const t = g * entry;
    for (let i = 0; i < 4; i++) {
      const dx = 4 * g + i;
      // Padding pixels past the row: offset 0, weights 0 (their results land in the slack).
      tab[t + i] = dx < dstW ? x0(dx) : 0;
      const wi = dx < dstW ? w(dx) : 0;
      if (cn === 1) {
        tab[t + 4 + i] = wi;
      } else {
        // Channel pairs a0 a1 a2 b0 | b1 b2 c0 c1 | c2 d0 d1 d2: pixel i owns lanes 3i..3i+2.
        for (let c = 0; c < 3; c++) tab[t + 4 + 3 * i + c] = wi;
      }
    }
  }
}

/**
 * Tables that replace the ones of the source's size: the source is then a gathered image whose
 * column `cols.index[dx]` and the next hold the two pixels output column `dx` reads (likewise rows),
 * with the weights of the image they were gathered from (see `./orient`). No exact-2x path.
 */
export interface GivenTables {
  readonly cols: AxisTable;
  readonly rows: AxisTable;
}

let givenTables = 0;

/**
 * `resizeRaw` on the WebAssembly kernels, or `undefined` when they are not available (or the image
 * is too wide for the memory cap), in which case the caller runs the JavaScript implementation.
 * Arguments are checked by the caller.
 */
export function resizeRawWasm(src: RawImage, dstW: number, dstH: number, tables?: GivenTables): Buffer | undefined {
  const k = load();
  if (!k) return undefined;
  const { width: srcW, height: srcH, data, channels: cn } = src;
  const half = tables === undefined && isExactHalf(srcW, srcH, dstW, dstH);
  const groups = (dstW + 3) >> 2;
  const n = dstW * cn; // bytes per output row, in the decoder's layout
  const srcStride = srcW * cn;

  // Memory layout, every part 16-byte aligned and with the slack the kernels need.
  const TAB = 0;
  const hBytes = (up16(groups * 4 * cn) + 16) * 2; // int16 row; vrow reads whole vectors
  const H0 = TAB + groups * (cn === 3 ? 64 : 32);
  const H1 = H0 + hBytes;
  const S0 = H1 + hBytes;
  // The staging block: consecutive source rows copied in one piece (at least the two rows of a
  // pair), with slack for the 8-byte loads that start at the last pixel.
  const blockRows = Math.max(2, Math.floor(BLOCK_BYTES / srcStride));
  const OUT = S0 + up16(blockRows * srcStride + 16);
  const outBytes = n * dstH;
  const OUT3 = OUT + up16(outBytes + 16); // the result as B,G,R, unless the rows already are
  const need = OUT3 + 3 * outBytes + 64;
  if (need > MAX_MEMORY) return undefined;
  const have = k.memory.buffer.byteLength;
  // Grown once to the largest size seen, then reused (WebAssembly memory never shrinks).
  if (need > have) k.memory.grow(Math.ceil((need - have) / PAGE));
  const heap = new Uint8Array(k.memory.buffer);
  const tab = new Int32Array(k.memory.buffer, TAB, groups * (cn === 3 ? 16 : 8));
  // R,G,B sources go through hrow3swap, whose int16 rows are already B,G,R: the passes after it
  // then write B,G,R rows, and no swaprb pass over the result is needed.
  const swapped = cn === 3 && src.order === 'rgb';
  const hrow = cn === 3 ? (swapped ? k.hrow3swap : k.hrow3) : k.hrow1;

  if (tables === undefined && srcW === dstW && srcH === dstH) {
    // Already the output size: the reference does not call resize, and the general path would
    // give the same bytes (weights 2048 and 0) after two passes over every row; only the layout
    // changes (B,G,R from R,G,B or grey). Measured on a 448x448 JPEG: 0.69 -> 0.41 ms of CPU.
    heap.set(data.subarray(0, outBytes), OUT);
    return finish(k, heap, src, OUT, OUT3, outBytes);
  }

  if (half) {
    // OpenCV's exact-2x INTER_AREA path: hrow sums each horizontal pair (weights 1, 1, no shift),
    // vbox adds the two rows and rounds: (a + b + c + d + 2) >> 2.
    const key = `half:${cn}:${dstW}`;
    writeTable(
      key,
      tab,
      cn,
      (dx) => 2 * dx * cn,
      () => 0x10001,
      dstW,
    );
    for (let dy = 0; dy < dstH; dy++) {
      const r0 = 2 * dy * srcStride;
      // Both source rows in one copy, into S0 and on (the two staging rows hold them with slack).
      heap.set(data.subarray(r0, r0 + 2 * srcStride), S0);
      hrow(S0, TAB, H0, groups, 0);
      hrow(S0 + srcStride, TAB, H1, groups, 0);
      k.vbox(H0, H1, OUT + dy * n, n);
    }
    return finish(k, heap, src, OUT, OUT3, outBytes, swapped);
  }

  const cols = tables?.cols ?? axisTable(srcW, dstW, true);
  const rows = tables?.rows ?? axisTable(srcH, dstH, false);
  // The right neighbour is always `cn` bytes on: where OpenCV clamps a column to the last one it
  // also sets fx = 0, so the weight of that neighbour is 0 (the byte read is slack or the next
  // pixel, and adds nothing). Given tables are written every time (their key is never reused).
  const key = tables === undefined ? `${srcW}:${cn}:${dstW}` : `given:${++givenTables}`;
  writeTable(
    key,
    tab,
    cn,
    (dx) => cols.index[dx]! * cn,
    (dx) => (cols.w1[dx]! << 16) | cols.w0[dx]!,
    dstW,
  );

  // The two cached horizontal rows (OpenCV's ring of ksize = 2), by offset; swapped when moving
  // down by one source row.
  let hA = H0;
  let hB = H1;
  let rowA = -1;
  let rowB = -1;
  const rowsIn = new Stager(heap, data, srcStride, S0, blockRows, rows.index, srcH - 1);
  if (cn === 3 && srcH >= 2 * dstH) {
    // Downscale by 2 or more: no source row serves two output rows, so hv3 makes each output row
    // from its two source rows in one pass (hv3swap: R,G,B in, B,G,R out, so no swaprb pass).
    onePass(src.order === 'rgb' ? k.hv3swap : k.hv3, rowsIn, rows, TAB, OUT, n, groups);
    const result = Buffer.allocUnsafe(outBytes);
    result.set(heap.subarray(OUT, OUT + outBytes));
    return result;
  }
  for (let dy = 0; dy < dstH; dy++) {
    const sy0 = rowsIn.top(dy);
    const sy1 = rowsIn.bottom(dy);
    const needA = rowA !== sy0 && rowB !== sy0;
    const needB = sy1 !== sy0 && rowB !== sy1;
    if ((needA && !rowsIn.has(sy0)) || (needB && !rowsIn.has(sy1))) rowsIn.stage(needA ? sy0 : sy1, sy1, dy);
    if (rowA !== sy0) {
      if (rowB === sy0) {
        const t = hA;
        hA = hB;
        hB = t;
        rowB = rowA;
      } else {
        hrow(rowsIn.at(sy0), TAB, hA, groups, 4);
      }
      rowA = sy0;
    }
    if (sy1 !== sy0 && rowB !== sy1) {
      hrow(rowsIn.at(sy1), TAB, hB, groups, 4);
      rowB = sy1;
    }
    k.vrow(hA, sy1 === sy0 ? hA : hB, rows.w0[dy]!, rows.w1[dy]!, OUT + dy * n, n);
  }
  return finish(k, heap, src, OUT, OUT3, outBytes, swapped);
}

/** The one-pass downscale (`hv3` or `hv3swap`) of every output row into memory at `out`. */
function onePass(hv: Kernels['hv3'], rowsIn: Stager, rows: AxisTable, tab: number, out: number, n: number, groups: number): void {
  const dstH = rows.index.length;
  for (let dy = 0; dy < dstH; dy++) {
    const sy0 = rowsIn.top(dy);
    const sy1 = rowsIn.bottom(dy);
    if (!rowsIn.has(sy0) || !rowsIn.has(sy1)) rowsIn.stage(sy0, sy1, dy);
    hv(rowsIn.at(sy0), rowsIn.at(sy1), tab, out + dy * n, groups, rows.w0[dy]!, rows.w1[dy]!);
  }
}

/**
 * The source rows in WebAssembly memory: rows [first, end) of the image, staged at `base`. They
 * are copied a block at a time: the rows that this and the next output rows read, as long as they
 * follow one another and fit in the block. One copy per block, not per row: right after decoding
 * the rows are cold, and each copy pays for reaching memory again (two 6 KB row copies cost about
 * twice one 12 KB copy of the same pair).
 */
class Stager {
  private first = 0;
  private end = 0;
  constructor(
    private readonly heap: Uint8Array,
    private readonly data: Uint8Array,
    private readonly stride: number,
    private readonly base: number,
    private readonly blockRows: number,
    private readonly index: Int32Array,
    private readonly last: number,
  ) {}

  /** The two source rows of output row `dy`, clamped as OpenCV clamps them when reading. */
  top(dy: number): number {
    return this.clamp(this.index[dy]!);
  }

  bottom(dy: number): number {
    return this.clamp(this.index[dy]! + 1);
  }

  has(y: number): boolean {
    return y >= this.first && y < this.end;
  }

  /** The offset of staged row `y` in memory. */
  at(y: number): number {
    return this.base + (y - this.first) * this.stride;
  }

  /** Stages rows y0..y1 (output row `dy` reads them), and the following rows that fit. */
  stage(y0: number, y1: number, dy: number): void {
    let stop = y1 + 1;
    for (let d = dy + 1; d < this.index.length; d++) {
      const n0 = this.clamp(this.index[d]!);
      const n1 = this.clamp(this.index[d]! + 1) + 1;
      if (n0 > stop || n1 - y0 > this.blockRows) break;
      if (n1 > stop) stop = n1;
    }
    this.heap.set(this.data.subarray(y0 * this.stride, stop * this.stride), this.base);
    this.first = y0;
    this.end = stop;
  }

  private clamp(y: number): number {
    return y < 0 ? 0 : y > this.last ? this.last : y;
  }
}

/**
 * The resized image to B,G,R (from the decoder's layout unless `swapped`: already B,G,R), copied
 * out of WebAssembly memory.
 */
function finish(k: Kernels, heap: Uint8Array, src: RawImage, out: number, out3: number, length: number, swapped = false): Buffer {
  let offset = out;
  if (src.channels === 1) {
    k.grey3(out, out3, length);
    offset = out3;
    length *= 3;
  } else if (src.order === 'rgb' && !swapped) {
    k.swaprb(out, out3, length);
    offset = out3;
  }
  const result = Buffer.allocUnsafe(length);
  result.set(heap.subarray(offset, offset + length));
  return result;
}

/**
 * The PNG filter bytes of B,G,R pixels as R,G,B rows (`./pngEncode`), on the `paeth` kernel: each
 * row's filter-type byte, then its residuals (row 0 Sub, which is Paeth against a row of zeros;
 * every other row Paeth), computed in the B,G,R order and laid out as R,G,B by `swaprb`. Byte for
 * byte the JavaScript filter of `./pngEncode` (tested); `undefined` when the kernels are not
 * available or the image too large for the memory cap. Shares the module's memory with the
 * resizer, whose cached table it overwrites (so it is rewritten on the next resize).
 */
export function pngFilterWasm(bgr: Uint8Array, width: number, height: number): Buffer | undefined {
  const k = load();
  if (!k) return undefined;
  const stride = width * 3;
  const Z = 0;
  const IMG = up16(stride + 16);
  const RES = IMG + up16(stride * height + 16);
  const OUT = RES + up16(stride + 32);
  const outBytes = height * (stride + 1);
  const need = OUT + outBytes + 32;
  if (need > MAX_MEMORY) return undefined;
  const have = k.memory.buffer.byteLength;
  if (need > have) k.memory.grow(Math.ceil((need - have) / PAGE));
  tableKey = '';
  const heap = new Uint8Array(k.memory.buffer);
  heap.fill(0, Z, IMG);
  heap.set(bgr, IMG);
  heap.fill(0, IMG + stride * height, RES);
  for (let y = 0; y < height; y++) {
    const cur = IMG + y * stride;
    const prev = y === 0 ? Z : cur - stride;
    k.paeth(cur, prev, RES, stride);
    // The first pixel has no left neighbour: Paeth (and Sub) predict it from the pixel above.
    for (let c = 0; c < 3 && c < stride; c++) heap[RES + c] = ((heap[cur + c] as number) - (heap[prev + c] as number)) & 0xff;
    const o = OUT + y * (stride + 1);
    k.swaprb(RES, o + 1, stride);
    heap[o] = y === 0 ? 1 : 4; // Sub, then Paeth (the row before may have written slack here)
  }
  const result = Buffer.allocUnsafe(outBytes);
  result.set(heap.subarray(OUT, OUT + outBytes));
  return result;
}
