import type { BgrImage } from '../bgrImage';
import { PreprocessError } from '../errors';

/*
 * Netpbm P1-P6 as OpenCV 4.6 reads them (modules/imgcodecs/src/grfmt_pxm.cpp, PxMDecoder):
 *
 * - Signature `P1`..`P6` followed by a whitespace byte.
 * - Header numbers (`ReadNumber`): whitespace and `#` comments (to the end of the line) are skipped;
 *   the byte that ends a number is consumed, so binary data starts right after the single byte that
 *   follows maxval (or the height, for P1/P4, whose maxval is 1). maxval must be 1..65535.
 * - Binary 8-bit (P5/P6, maxval <= 255): the bytes are used as they are, NOT scaled to maxval.
 * - ASCII 8-bit (P2/P3): each value is clamped to maxval, then mapped through `i * 255 / maxval`
 *   (integer division).
 * - 16-bit (maxval > 255), binary big-endian or ASCII (clamped to maxval): the high byte `v >> 8`,
 *   not scaled to maxval (IMREAD_COLOR asks for an 8-bit Mat).
 * - Bitmaps (P1 ASCII one digit per pixel, P4 packed MSB first, rows padded to a byte): 1 is black
 *   (0), 0 is white (255).
 * - Grey is replicated to B,G,R; RGB samples are swapped to BGR.
 * - Reading past the end fails the decode (RLByteStream throws, imdecode returns an empty Mat).
 *   Unlike OpenCV we accept an ASCII file whose last number is not followed by a separator.
 */

export interface PnmHeader {
  /** 1..6, the digit after `P`. */
  readonly kind: number;
  readonly width: number;
  readonly height: number;
  readonly maxval: number;
  /** Offset of the first pixel byte (binary) or of the first sample token (ASCII). */
  readonly offset: number;
}

/** `P1`..`P6` followed by whitespace (OpenCV's `PxMDecoder::checkSignature`). */
export function isPnm(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0x50 && bytes[1]! >= 0x31 && bytes[1]! <= 0x36 && isSpace(bytes[2]!);
}

function isSpace(c: number): boolean {
  // C isspace: space, \t, \n, \v, \f, \r
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function fail(message: string): PreprocessError {
  return new PreprocessError('DECODE_FAILED', `cannot decode the PNM image: ${message}`, message);
}

/** A cursor over the file that reads numbers the way OpenCV's `ReadNumber` does. */
class Reader {
  pos: number;
  constructor(
    private readonly bytes: Uint8Array,
    pos: number,
  ) {
    this.pos = pos;
  }

  private byte(): number {
    if (this.pos >= this.bytes.length) throw fail('unexpected end of file');
    return this.bytes[this.pos++]!;
  }

  /** `maxDigits` 1 reads a single digit (P1 pixels may be written without separators). */
  number(maxDigits = 0, atEnd = false): number {
    let c = this.byte();
    while (!isDigit(c)) {
      if (c === 0x23 /* # */) {
        do c = this.byte();
        while (c !== 0x0a && c !== 0x0d);
        c = this.byte();
      } else if (isSpace(c)) {
        while (isSpace(c)) c = this.byte();
      } else {
        throw fail(`unexpected byte 0x${c.toString(16)} in a number`);
      }
    }
    let value = 0;
    let digits = 0;
    for (;;) {
      value = value * 10 + (c - 0x30);
      if (value > 0x7fffffff) throw fail('number too large');
      digits++;
      if (maxDigits !== 0 && digits >= maxDigits) break;
      if (atEnd && this.pos >= this.bytes.length) break;
      c = this.byte();
      if (!isDigit(c)) break;
    }
    return value;
  }
}

/** Reads and checks a PBM/PGM/PPM header (`P1`..`P6`); throws `PreprocessError` (`DECODE_FAILED`). */
export function readPnmHeader(bytes: Uint8Array): PnmHeader {
  if (!isPnm(bytes)) throw fail('no P1-P6 signature');
  const kind = bytes[1]! - 0x30;
  const r = new Reader(bytes, 2);
  const width = r.number();
  const height = r.number();
  const maxval = kind === 1 || kind === 4 ? 1 : r.number();
  if (!(width > 0 && height > 0 && maxval > 0 && maxval < 65536)) {
    throw fail(`bad header: ${width}x${height}, maxval ${maxval}`);
  }
  return { kind, width, height, maxval, offset: r.pos };
}

/** Decodes a PBM/PGM/PPM to B,G,R pixels as OpenCV does, by the rules at the top of this file. */
export function decodePnm(bytes: Uint8Array, header: PnmHeader = readPnmHeader(bytes)): BgrImage {
  const { kind, width, height, maxval, offset } = header;
  const binary = kind >= 4;
  const channels = kind === 3 || kind === 6 ? 3 : 1;
  const n = width * height;
  const out = Buffer.allocUnsafe(n * 3);
  const put = (i: number, b: number, g: number, r: number): void => {
    out[i * 3] = b;
    out[i * 3 + 1] = g;
    out[i * 3 + 2] = r;
  };

  if (kind === 1 || kind === 4) {
    if (binary) {
      const pitch = (width + 7) >> 3;
      if (offset + pitch * height > bytes.length) throw fail('truncated bitmap data');
      for (let y = 0; y < height; y++) {
        const row = offset + y * pitch;
        for (let x = 0; x < width; x++) {
          const v = (bytes[row + (x >> 3)]! >> (7 - (x & 7))) & 1 ? 0 : 255;
          put(y * width + x, v, v, v);
        }
      }
    } else {
      const r = new Reader(bytes, offset);
      for (let i = 0; i < n; i++) {
        const v = r.number(1, i === n - 1) !== 0 ? 0 : 255;
        put(i, v, v, v);
      }
    }
    return { data: out, width, height };
  }

  const count = n * channels;
  const samples = new Uint8Array(count);
  if (binary) {
    const wide = maxval > 255;
    const size = count * (wide ? 2 : 1);
    if (offset + size > bytes.length) throw fail('truncated pixel data');
    if (wide) {
      // Big-endian 16-bit: keep the high byte.
      for (let i = 0; i < count; i++) samples[i] = bytes[offset + 2 * i]!;
    } else {
      samples.set(bytes.subarray(offset, offset + count));
    }
  } else {
    const r = new Reader(bytes, offset);
    for (let i = 0; i < count; i++) {
      let v = r.number(0, i === count - 1);
      if (v > maxval) v = maxval;
      samples[i] = maxval > 255 ? v >> 8 : Math.floor((v * 255) / maxval);
    }
  }
  if (channels === 3) {
    for (let i = 0; i < n; i++) put(i, samples[i * 3 + 2]!, samples[i * 3 + 1]!, samples[i * 3]!);
  } else {
    for (let i = 0; i < n; i++) put(i, samples[i]!, samples[i]!, samples[i]!);
  }
  return { data: out, width, height };
}
