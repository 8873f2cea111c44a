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
      case 0x31:
      case 0x34:
        return 'IMAGE_FORMAT_PBM'; // P1, P4
      case 0x32:
      case 0x35:
        return 'IMAGE_FORMAT_PGM'; // P2, P5
      case 0x33:
      case 0x36:
        return 'IMAGE_FORMAT_PPM'; // P3, P6
      case 0x37:
        return 'IMAGE_FORMAT_PXM'; // P7 (PAM)
      case 0x46:
      case 0x66:
        return 'IMAGE_FORMAT_PFM'; // PF, Pf
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
  for (let off = 12; off + 8 <= view.length;) {
    const tag = view.toString('latin1', off, off + 4);
    const size = view.readUInt32LE(off + 4);
    if (tag === 'VP8 ' || tag === 'ALPH' || tag === 'ANIM' || tag === 'ANMF') return false;
    if (tag === 'VP8L') sawLossless = true;
    off += 8 + size + (size & 1); // chunks are padded to even sizes
  }
  return sawLossless;
}

/** The file formats {@link detectFormat} recognises, for messages that list what is supported. */
export const SUPPORTED_FORMATS_TEXT = 'JPEG, PNG, GIF, BMP, WebP, TIFF, Netpbm (PBM, PGM, PPM, PAM, PFM), Sun raster and Radiance HDR';

/**
 * Names a format that {@link detectFormat} does not support, from its signature, so that a
 * refusal can say what the file is (`'HEIC/HEIF'`, `'AVIF'`, `'SVG'`, ...). `undefined` when the
 * bytes match no signature known here. Never returns any of the bytes.
 */
export function describeUnsupportedFormat(bytes: Uint8Array): string | undefined {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 512));
  const ascii = (i: number, s: string): boolean => b.length >= i + s.length && b.toString('latin1', i, i + s.length) === s;
  if (ascii(4, 'ftyp') && b.length >= 12) {
    // ISO base media: the major brand, then compatible brands, say what the file holds.
    const size = Math.min(b.readUInt32BE(0), b.length);
    const brands = [b.toString('latin1', 8, 12)];
    for (let off = 16; off + 4 <= size; off += 4) brands.push(b.toString('latin1', off, off + 4));
    if (brands.some((x) => x === 'avif' || x === 'avis')) return 'AVIF';
    if (brands.some((x) => ['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'mif1', 'msf1'].includes(x))) return 'HEIC/HEIF';
    if (brands.some((x) => x === 'crx ')) return 'Canon CR3 raw';
    if (brands.some((x) => x === 'jp2 ' || x === 'jpx ')) return 'JPEG 2000';
    return 'an ISO media file (MP4/MOV video?)';
  }
  if (b.length >= 2 && b[0] === 0xff && b[1] === 0x0a) return 'JPEG XL';
  if (ascii(4, 'JXL ')) return 'JPEG XL';
  if (ascii(4, 'jP  ')) return 'JPEG 2000';
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0x4f && b[2] === 0xff && b[3] === 0x51) return 'JPEG 2000 codestream';
  if (ascii(0, '%PDF')) return 'PDF';
  if (ascii(0, '8BPS')) return 'Photoshop PSD';
  if (ascii(0, 'qoif')) return 'QOI';
  if (b.length >= 4 && b[0] === 0 && b[1] === 0 && (b[2] === 1 || b[2] === 2) && b[3] === 0) return 'ICO/CUR';
  if (ascii(0, 'II') && (ascii(2, 'RO') || ascii(2, 'U\0'))) return 'a camera raw file';
  const head = b
    .toString('latin1', 0, Math.min(b.length, 256))
    .replace(/^\uFEFF|^\xEF\xBB\xBF/, '')
    .trimStart()
    .toLowerCase();
  if (head.startsWith('<svg') || (head.startsWith('<?xml') && head.includes('<svg'))) return 'SVG';
  if (head.startsWith('<!doctype html') || head.startsWith('<html')) return 'HTML';
  if (ascii(0, 'RIFF')) return `RIFF ${JSON.stringify(b.toString('latin1', 8, 12).replace(/[^\x20-\x7e]/g, '?'))} (not WebP)`;
  return undefined;
}
