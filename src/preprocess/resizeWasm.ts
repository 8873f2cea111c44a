import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { channelOffsets, type RawImage } from './bgrImage';
import { axisTable, isExactHalf } from './resizeTables';

/*
 * The resize of `./resize` on WebAssembly SIMD kernels (`resize.wat`, assembled into the committed
 * `resize.wasm`), byte for byte the same as the JavaScript implementation, which stays the
 * reference: tests compare the two on random images of many shapes and on the fixture corpus.
 *
 * The driver here does what is cheap per image in JavaScript (tables, choosing source rows, the
 * two-row cache) and calls one kernel per row: `hrow` for the horizontal pass of one source row,
 * `vrow` (or `vbox` on the exact-2x path) for one output row. Only the source rows the output
 * needs are copied into WebAssembly memory, one at a time, so memory holds a row of the source,
 * never the whole decoded image (52 MB for a 5000x3500 photo): about 1 MB for a 448x448 output.
 */

// The WebAssembly global of Node, typed here: the compiler's lib has no DOM, where TypeScript
// declares it.
interface WasmGlobal {
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object, imports: object) => { readonly exports: unknown };
}
const { WebAssembly: wasm } = globalThis as unknown as { WebAssembly: WasmGlobal };

interface Kernels {
  readonly memory: { readonly buffer: ArrayBuffer; grow(pages: number): number };
  hrow(src: number, tab: number, out: number, n: number, shift: number, mask: number): void;
  vrow(h0: number, h1: number, b0: number, b1: number, out: number, n: number): void;
  vbox(h0: number, h1: number, out: number, n: number): void;
}

let kernels: Kernels | undefined;
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

/** `i8x16.swizzle` masks over [p0 p1 p2 p3 q0 q1 q2 q3]: the (p, q) pair of B, then G, then R. */
function swizzleMask(ob: number, og: number, or: number): Uint8Array {
  const m = new Uint8Array(16).fill(16); // >= 16: zero
  m.set([ob, 4 + ob, og, 4 + og, or, 4 + or]);
  return m;
}

/**
 * `resizeRaw` on the WebAssembly kernels, or `undefined` when they are not available (or the image
 * is too wide for the memory cap), in which case the caller runs the JavaScript implementation.
 * Arguments are checked by the caller.
 */
export function resizeRawWasm(src: RawImage, dstW: number, dstH: number): Buffer | undefined {
  const k = load();
  if (!k) return undefined;
  const { width: srcW, height: srcH, data, channels: cn } = src;
  const half = isExactHalf(srcW, srcH, dstW, dstH);
  const n = dstW * 3; // output bytes per row
  const srcStride = srcW * cn;

  // Memory layout, every part 16-byte aligned and with the slack the kernels need.
  const MASK = 0;
  const TAB = 16;
  const hBytes = (up16(n) + 16) * 2; // int16 row, whole vectors read and one lane written past n
  const H0 = TAB + up16(dstW * 12);
  const H1 = H0 + hBytes;
  const S0 = H1 + hBytes;
  const sBytes = up16(srcStride + 16); // 4-byte loads may start at the last pixel
  const S1 = S0 + sBytes;
  const OUT = S1 + sBytes;
  const outBytes = n * dstH;
  const need = OUT + outBytes + 16;
  if (need > MAX_MEMORY) return undefined;
  const have = k.memory.buffer.byteLength;
  // Grown once to the largest size seen, then reused (WebAssembly memory never shrinks).
  if (need > have) k.memory.grow(Math.ceil((need - have) / PAGE));
  const heap = new Uint8Array(k.memory.buffer);

  const [ob, og, or] = channelOffsets(src);
  heap.set(swizzleMask(ob, og, or), MASK);
  const tab = new Int32Array(k.memory.buffer, TAB, dstW * 3);

  if (half) {
    // OpenCV's exact-2x INTER_AREA path: hrow sums each horizontal pair (weights 1, 1, no shift),
    // vbox adds the two rows and rounds: (a + b + c + d + 2) >> 2.
    for (let dx = 0, t = 0; dx < dstW; dx++, t += 3) {
      tab[t] = 2 * dx * cn;
      tab[t + 1] = (2 * dx + 1) * cn;
      tab[t + 2] = 0x10001;
    }
    for (let dy = 0; dy < dstH; dy++) {
      const r0 = 2 * dy * srcStride;
      // Both source rows in one copy, into S0 and on into S1 (together they hold two rows and slack).
      heap.set(data.subarray(r0, r0 + 2 * srcStride), S0);
      k.hrow(S0, TAB, H0, dstW, 0, MASK);
      k.hrow(S0 + srcStride, TAB, H1, dstW, 0, MASK);
      k.vbox(H0, H1, OUT + dy * n, n);
    }
    return copyOut(heap, OUT, outBytes);
  }

  const cols = axisTable(srcW, dstW, true);
  const rows = axisTable(srcH, dstH, false);
  for (let dx = 0, t = 0; dx < dstW; dx++, t += 3) {
    const sx = cols.index[dx]!;
    tab[t] = sx * cn;
    // At the right border OpenCV uses S[sx] * 2048 (fx = 0): reading sx twice with weights
    // (2048, 0) gives the same sum without reading past the row.
    tab[t + 1] = (sx + 1 < srcW ? sx + 1 : sx) * cn;
    tab[t + 2] = (cols.w1[dx]! << 16) | cols.w0[dx]!;
  }

  // The two cached horizontal rows (OpenCV's ring of ksize = 2), by offset; swapped when moving
  // down by one source row.
  let hA = H0;
  let hB = H1;
  let rowA = -1;
  let rowB = -1;
  const last = srcH - 1;
  const horizontal = (sy: number, dst: number): void => {
    const off = sy * srcStride;
    heap.set(data.subarray(off, off + srcStride), S0);
    k.hrow(S0, TAB, dst, dstW, 4, MASK);
  };
  for (let dy = 0; dy < dstH; dy++) {
    const sy = rows.index[dy]!;
    const sy0 = sy < 0 ? 0 : sy > last ? last : sy;
    const sy1 = sy + 1 > last ? last : sy + 1 < 0 ? 0 : sy + 1;
    if (rowA !== sy0) {
      if (rowB === sy0) {
        const t = hA;
        hA = hB;
        hB = t;
        rowB = rowA;
      } else {
        horizontal(sy0, hA);
      }
      rowA = sy0;
    }
    if (sy1 !== sy0 && rowB !== sy1) {
      horizontal(sy1, hB);
      rowB = sy1;
    }
    k.vrow(hA, sy1 === sy0 ? hA : hB, rows.w0[dy]!, rows.w1[dy]!, OUT + dy * n, n);
  }
  return copyOut(heap, OUT, outBytes);
}

function copyOut(heap: Uint8Array, offset: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  out.set(heap.subarray(offset, offset + length));
  return out;
}
