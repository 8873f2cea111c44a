import type { BgrImage } from '../bgrImage';
import { PreprocessError } from '../errors';

/*
 * Windows BMP as OpenCV 4.6 reads it for IMREAD_COLOR (modules/imgcodecs/src/grfmt_bmp.cpp,
 * BmpDecoder):
 *
 * - `BM`, pixel data offset at byte 10, info header size at 14. Header size >= 36
 *   (BITMAPINFOHEADER and later): int32 width and height, bit count, compression, colours used;
 *   size 12 (OS/2 BITMAPCOREHEADER): int16 width and height, 3-byte palette entries.
 * - Accepted: 1/4/8/24/32 bpp BI_RGB, 16/32 bpp BI_RGB or BI_BITFIELDS (16-bit bitfields only with
 *   the 5-5-5 or 5-6-5 masks, read right after the info header; 32-bit bitfields ignore the masks
 *   and take the bytes as B,G,R,A), 4-bit RLE4 and 8-bit RLE8 (not supported here yet).
 * - Height > 0 is bottom-up, < 0 top-down. Rows are padded to 4 bytes; every row, padding
 *   included, must be present, or the read fails.
 * - Palettes: `colours used` entries (all 2^bpp when 0) of B,G,R,x; missing entries are black.
 *   IMREAD_COLOR asks for 3 channels, so even a grey palette is looked up as colour.
 * - 16 bpp: 5-6-5 gives `B = t << 3, G = (t >> 3) & ~3, R = (t >> 8) & ~7`; 5-5-5 gives
 *   `B = t << 3, G = (t >> 2) & ~7, R = (t >> 7) & ~7` (low bits zero, not replicated).
 * - 32 bpp: alpha dropped.
 */

export interface BmpHeader {
  readonly width: number;
  /** Absolute height. */
  readonly height: number;
  readonly topDown: boolean;
  /** Bits per pixel; 15 for 5-5-5 16-bit pixels, as OpenCV relabels them. */
  readonly bpp: number;
  readonly compression: number;
  readonly dataOffset: number;
  /** Palette entries as B,G,R triplets (256 entries), for bpp <= 8. */
  readonly palette: Uint8Array;
}

const BI_RGB = 0;
const BI_RLE8 = 1;
const BI_RLE4 = 2;
const BI_BITFIELDS = 3;

/** Whether the bytes start with the `BM` signature. */
export function isBmp(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x42 && bytes[1] === 0x4d;
}

function fail(message: string, code: 'DECODE_FAILED' | 'UNSUPPORTED_FORMAT' = 'DECODE_FAILED'): PreprocessError {
  return new PreprocessError(code, `cannot decode the BMP image: ${message}`, message);
}

/** Reads and checks a BMP's headers; throws `PreprocessError` (`DECODE_FAILED`, `UNSUPPORTED_FORMAT`). */
export function readBmpHeader(bytes: Uint8Array): BmpHeader {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const need = (end: number): void => {
    if (end > buf.length) throw fail('truncated header');
  };
  need(18);
  const dataOffset = buf.readInt32LE(10);
  const size = buf.readInt32LE(14);
  const palette = new Uint8Array(256 * 3);
  let width: number;
  let rawHeight: number;
  let bpp: number;
  let compression = BI_RGB;
  if (size >= 36) {
    need(50);
    width = buf.readInt32LE(18);
    rawHeight = buf.readInt32LE(22);
    bpp = buf.readUInt32LE(26) >>> 16;
    compression = buf.readUInt32LE(30);
    const clrUsed = buf.readInt32LE(46);
    const ok =
      width > 0 &&
      rawHeight !== 0 &&
      (([1, 4, 8, 24, 32].includes(bpp) && compression === BI_RGB) ||
        ((bpp === 16 || bpp === 32) && (compression === BI_RGB || compression === BI_BITFIELDS)) ||
        (bpp === 4 && compression === BI_RLE4) ||
        (bpp === 8 && compression === BI_RLE8));
    if (!ok) throw fail(`unsupported header: ${width}x${rawHeight}, ${bpp} bpp, compression ${compression}`);
    const after = 14 + size;
    if (bpp <= 8) {
      if (clrUsed < 0 || clrUsed > 256) throw fail(`bad palette size ${clrUsed}`);
      const entries = clrUsed === 0 ? 1 << bpp : clrUsed;
      need(after + entries * 4);
      for (let i = 0; i < entries; i++) palette.set(buf.subarray(after + i * 4, after + i * 4 + 3), i * 3);
    } else if (bpp === 16 && compression === BI_BITFIELDS) {
      need(after + 12);
      const red = buf.readUInt32LE(after);
      const green = buf.readUInt32LE(after + 4);
      const blue = buf.readUInt32LE(after + 8);
      if (blue === 0x1f && green === 0x3e0 && red === 0x7c00) bpp = 15;
      else if (!(blue === 0x1f && green === 0x7e0 && red === 0xf800)) {
        throw fail('16-bit bitfields other than 5-5-5 and 5-6-5', 'UNSUPPORTED_FORMAT');
      }
    } else if (bpp === 16) {
      bpp = 15;
    }
  } else if (size === 12) {
    need(26);
    width = buf.readUInt16LE(18);
    rawHeight = buf.readUInt16LE(20);
    bpp = buf.readUInt32LE(22) >>> 16;
    if (!(width > 0 && rawHeight !== 0 && [1, 4, 8, 24, 32].includes(bpp))) {
      throw fail(`unsupported OS/2 header: ${width}x${rawHeight}, ${bpp} bpp`);
    }
    if (bpp <= 8) {
      const entries = 1 << bpp;
      need(26 + entries * 3);
      palette.set(buf.subarray(26, 26 + entries * 3));
    }
  } else {
    throw fail(`unknown info header size ${size}`);
  }
  return {
    width,
    height: Math.abs(rawHeight),
    topDown: rawHeight < 0,
    bpp,
    compression,
    dataOffset,
    palette,
  };
}

/** Decodes a BMP to B,G,R pixels as OpenCV's `imdecode(IMREAD_COLOR)` does; RLE is refused (`UNSUPPORTED_FORMAT`). */
export function decodeBmp(bytes: Uint8Array, header: BmpHeader = readBmpHeader(bytes)): BgrImage {
  const { width, height, topDown, bpp, compression, dataOffset, palette } = header;
  if (compression === BI_RLE4 || compression === BI_RLE8) {
    throw fail('RLE-compressed BMP is not supported', 'UNSUPPORTED_FORMAT');
  }
  const pitch = (((width * (bpp === 15 ? 16 : bpp) + 7) >> 3) + 3) & ~3;
  if (dataOffset < 0 || dataOffset + pitch * height > bytes.length) throw fail('truncated pixel data');
  const out = Buffer.allocUnsafe(width * height * 3);
  for (let y = 0; y < height; y++) {
    const src = dataOffset + y * pitch;
    const dstRow = topDown ? y : height - 1 - y;
    let o = dstRow * width * 3;
    switch (bpp) {
      case 24:
        out.set(bytes.subarray(src, src + width * 3), o);
        break;
      case 32:
        for (let x = 0, s = src; x < width; x++, s += 4) {
          out[o++] = bytes[s]!;
          out[o++] = bytes[s + 1]!;
          out[o++] = bytes[s + 2]!;
        }
        break;
      case 16:
      case 15:
        for (let x = 0, s = src; x < width; x++, s += 2) {
          const t = bytes[s]! | (bytes[s + 1]! << 8);
          out[o++] = (t << 3) & 0xff;
          if (bpp === 16) {
            out[o++] = (t >> 3) & 0xfc;
            out[o++] = (t >> 8) & 0xf8;
          } else {
            out[o++] = (t >> 2) & 0xf8;
            out[o++] = (t >> 7) & 0xf8;
          }
        }
        break;
      default: {
        // 1, 4, 8 bpp: palette indices, most significant bits first.
        const perByte = 8 / bpp;
        const mask = (1 << bpp) - 1;
        for (let x = 0; x < width; x++) {
          const b = bytes[src + Math.floor(x / perByte)]!;
          const idx = (b >> (8 - bpp * ((x % perByte) + 1))) & mask;
          out[o++] = palette[idx * 3]!;
          out[o++] = palette[idx * 3 + 1]!;
          out[o++] = palette[idx * 3 + 2]!;
        }
      }
    }
  }
  return { data: out, width, height };
}
