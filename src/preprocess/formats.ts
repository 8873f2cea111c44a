import type { ImageFormat } from '../contract/messages';

/**
 * Image format detection by signature (magic bytes), never by file name.
 *
 * The `ImageFormat` enum of the contract mirrors OpenCV's list of file extensions, so several
 * names share one file format and one signature. Detection returns one canonical name per
 * signature:
 *
 * | signature                         | result   | why                                                         |
 * |-----------------------------------|----------|-------------------------------------------------------------|
 * | `FF D8 FF`                        | JPEG     |                                                             |
 * | `89 P N G \r \n 1A \n`            | PNG      |                                                             |
 * | `GIF87a`, `GIF89a`                | GIF      |                                                             |
 * | `BM` + a known info header size    | BMP      | DIB is OpenCV's other extension for the same files; a       |
 * |                                   |          | headerless DIB has no signature (and `imdecode` refuses it) |
 * | `RIFF....WEBP`                    | WEBP     |                                                             |
 * | `II*\0`, `MM\0*` (and BigTIFF +)  | TIFF     |                                                             |
 * | `P1`/`P4`, `P2`/`P5`, `P3`/`P6`   | PBM, PGM, PPM | plain and raw variants of each Netpbm type             |
 * | `P7`                              | PXM      | PAM has no name in the enum; `.pxm` is OpenCV's name for    |
 * |                                   |          | "the Netpbm family, variant chosen by content", the closest |
 * | `PF`, `Pf`                        | PFM      | colour and grey Portable FloatMap                           |
 * | `59 A6 6A 95`                     | SR       | RAS is OpenCV's other extension for Sun raster              |
 * | `#?RADIANCE`, `#?RGBE`            | HDR      | PIC is OpenCV's other extension for Radiance files          |
 * | anything else                     | UNSPECIFIED |                                                          |
 *
 * `PNM` (any of P1-P6), `DIB`, `RAS` and `PIC` are therefore never returned: they name the same
 * bytes as the canonical entry. The server decodes by content (`imdecode` ignores the field), so
 * the choice only has to be consistent and a correct description of the bytes.
 *
 * A Netpbm header needs whitespace after its two magic characters, which keeps text files that
 * happen to start with "P1" from being taken for images.
 *
 * @example
 * ```ts
 * detectFormat(await readFile('cat.jpg')); // 'IMAGE_FORMAT_JPEG'
 * detectFormat(Buffer.from('hello'));      // 'IMAGE_FORMAT_UNSPECIFIED'
 * ```
 */
export function detectFormat(bytes: Uint8Array): ImageFormat {
  const b = bytes;
  const n = b.length;
  const at = (i: number, ...sig: number[]): boolean => n >= i + sig.length && sig.every((v, k) => b[i + k] === v);
  const ascii = (i: number, s: string): boolean => at(i, ...Array.from(s, (c) => c.charCodeAt(0)));

  if (at(0, 0xff, 0xd8, 0xff)) return 'IMAGE_FORMAT_JPEG';
  if (at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'IMAGE_FORMAT_PNG';
  if (ascii(0, 'GIF87a') || ascii(0, 'GIF89a')) return 'IMAGE_FORMAT_GIF';
  if (ascii(0, 'RIFF') && ascii(8, 'WEBP')) return 'IMAGE_FORMAT_WEBP';
  if (at(0, 0x49, 0x49, 0x2a, 0x00) || at(0, 0x4d, 0x4d, 0x00, 0x2a)) return 'IMAGE_FORMAT_TIFF';
  if (at(0, 0x49, 0x49, 0x2b, 0x00) || at(0, 0x4d, 0x4d, 0x00, 0x2b)) return 'IMAGE_FORMAT_TIFF'; // BigTIFF
  if (at(0, 0x59, 0xa6, 0x6a, 0x95)) return 'IMAGE_FORMAT_SR';
  if (ascii(0, '#?RADIANCE') || ascii(0, '#?RGBE')) return 'IMAGE_FORMAT_HDR';
  if (ascii(0, 'BM') && n >= 18 && BMP_INFO_HEADER_SIZES.has(readU32LE(b, 14))) return 'IMAGE_FORMAT_BMP';
  if (n >= 3 && b[0] === 0x50 /* P */ && isNetpbmSpace(b[2]!)) {
    switch (b[1]) {
      case 0x31: case 0x34: return 'IMAGE_FORMAT_PBM'; // P1, P4
      case 0x32: case 0x35: return 'IMAGE_FORMAT_PGM'; // P2, P5
      case 0x33: case 0x36: return 'IMAGE_FORMAT_PPM'; // P3, P6
      case 0x37: return 'IMAGE_FORMAT_PXM'; // P7 (PAM)
      case 0x46: case 0x66: return 'IMAGE_FORMAT_PFM'; // PF, Pf
    }
  }
  return 'IMAGE_FORMAT_UNSPECIFIED';
}

/**
 * Sizes of the BMP info headers that follow the 14-byte file header (core, v1 to v5, OS/2 v2
 * variants): checked so that a text file starting with "BM" is not taken for a bitmap.
 */
const BMP_INFO_HEADER_SIZES = new Set([12, 16, 40, 52, 56, 64, 108, 124]);

function readU32LE(b: Uint8Array, i: number): number {
  return (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16)) + b[i + 3]! * 0x1000000;
}

/** Netpbm headers separate tokens with whitespace (space, tab, CR, LF, VT, FF). */
function isNetpbmSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

/**
 * Formats whose decoding is exact by definition (lossless bitstreams fully specified by their
 * standard), so the pixels any conforming decoder makes, the server's included, equal ours.
 * Only these may be sent as they are (pass-through): a JPEG or lossy WebP decodes to slightly
 * different pixels with different IDCT or upsampling code, and the scores are compared at 1e-4.
 *
 * BMP and the Netpbm family are exact too, but a 448x448 one is never smaller than the raw
 * pixels, so pass-through would never choose them.
 */
export function isExactlyDecodable(bytes: Uint8Array, format: ImageFormat): boolean {
  if (format === 'IMAGE_FORMAT_PNG') return true;
  if (format === 'IMAGE_FORMAT_WEBP') return isLosslessWebp(bytes);
  return false;
}

/**
 * True when a WebP's image bitstream is VP8L (lossless). Walks the RIFF chunks, since an extended
 * (`VP8X`) file puts its `VP8 `/`VP8L` chunk after others; any lossy `VP8 ` or `ALPH` (alpha
 * stored beside a lossy frame) or `ANIM` chunk makes it not exact.
 */
export function isLosslessWebp(bytes: Uint8Array): boolean {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.length < 20 || view.toString('latin1', 0, 4) !== 'RIFF' || view.toString('latin1', 8, 12) !== 'WEBP') return false;
  let sawLossless = false;
  for (let off = 12; off + 8 <= view.length; ) {
    const tag = view.toString('latin1', off, off + 4);
    const size = view.readUInt32LE(off + 4);
    if (tag === 'VP8 ' || tag === 'ALPH' || tag === 'ANIM' || tag === 'ANMF') return false;
    if (tag === 'VP8L') sawLossless = true;
    off += 8 + size + (size & 1); // chunks are padded to even sizes
  }
  return sawLossless;
}
