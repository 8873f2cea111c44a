import sharp from 'sharp';
import { type BgrImage, type RawImage, toBgrImage } from './bgrImage';
import { decodeBmp, isBmp, readBmpHeader } from './decoders/bmp';
import { decodePnm, isPnm, readPnmHeader } from './decoders/pnm';
import { PreprocessError } from './errors';
import { jpegSegments } from './jpegSegments';
import { jpegOrientation } from './orient';

/** Default cap on the declared pixel count (width x height) of an input: 100 megapixels. */
export const DEFAULT_MAX_PIXELS = 100_000_000;

/** Options of the decoders; every field is optional. */
export interface DecodeOptions {
  /**
   * Refuse images whose header declares more pixels than this (a decompression bomb), before
   * decoding them. Default {@link DEFAULT_MAX_PIXELS}.
   */
  readonly maxPixels?: number;
}

/** A decoded image with the container format the decoder saw (`jpeg`, `png`, `bmp`, `pnm`, ...). */
export interface DecodedImage extends BgrImage {
  readonly format: string;
}

/** Decoded samples in the decoder's own layout (see {@link RawImage}), with their format. */
export interface DecodedRaw extends RawImage {
  readonly format: string;
}

function checkPixels(width: number, height: number, maxPixels: number, format: string): void {
  if (!(width > 0 && height > 0)) {
    throw new PreprocessError('DECODE_FAILED', `${format} header declares an empty image`, `${width}x${height}`);
  }
  if (width * height > maxPixels) {
    throw new PreprocessError(
      'TOO_MANY_PIXELS',
      `image declares ${width}x${height} = ${width * height} pixels, more than the limit of ${maxPixels}`,
      `width=${width} height=${height} format=${format}`,
    );
  }
}

/**
 * Whether a JPEG carries an Adobe APP14 marker. libjpeg hands Adobe CMYK/YCCK samples to OpenCV as
 * stored (inverted, as Photoshop writes them); libvips inverts them back on load, so we undo that.
 */
function hasAdobeMarker(bytes: Buffer): boolean {
  for (const { marker, at, length } of jpegSegments(bytes)) {
    if (marker === 0xee && length >= 14 && bytes.toString('latin1', at + 4, at + 9) === 'Adobe') return true;
  }
  return false;
}

/** Expand or reorder decoded samples (R,G,B[,A] / grey[,A], 8 or 16 bits) into B,G,R. */
function toBgr(data: Buffer, width: number, height: number, channels: number, sixteenBit: boolean): Buffer {
  const n = width * height;
  const out = Buffer.allocUnsafe(n * 3);
  // 16-bit samples: OpenCV (libpng png_set_strip_16, libtiff, ...) keeps the high byte, which in
  // the little-endian raw output of libvips is the second byte of each sample.
  const step = sixteenBit ? 2 : 1;
  const hi = sixteenBit ? 1 : 0;
  const px = channels * step;
  if (channels >= 3) {
    for (let i = 0, s = hi, o = 0; i < n; i++, s += px, o += 3) {
      out[o] = data[s + 2 * step]!;
      out[o + 1] = data[s + step]!;
      out[o + 2] = data[s]!;
    }
  } else {
    // Grey (with or without alpha): OpenCV's IMREAD_COLOR replicates it into three channels.
    for (let i = 0, s = hi, o = 0; i < n; i++, s += px, o += 3) {
      const g = data[s]!;
      out[o] = g;
      out[o + 1] = g;
      out[o + 2] = g;
    }
  }
  return out;
}

/**
 * OpenCV's `icvCvt_CMYK2BGR_8u_C4C3R` on the samples libjpeg returns for `JCS_CMYK` (no colour
 * management): `R = k - ((255 - c) * k >> 8)`, likewise G from m and B from y.
 * `inverted`: the samples given are the complement of libjpeg's (libvips inverted Adobe data).
 */
function cmykToBgr(data: Buffer, width: number, height: number, inverted: boolean): Buffer {
  const n = width * height;
  const out = Buffer.allocUnsafe(n * 3);
  const x = inverted ? 255 : 0;
  for (let i = 0, s = 0, o = 0; i < n; i++, s += 4, o += 3) {
    const c = data[s]! ^ x;
    const m = data[s + 1]! ^ x;
    const y = data[s + 2]! ^ x;
    const k = data[s + 3]! ^ x;
    out[o] = k - (((255 - y) * k) >> 8);
    out[o + 1] = k - (((255 - m) * k) >> 8);
    out[o + 2] = k - (((255 - c) * k) >> 8);
  }
  return out;
}

function decodeFailed(format: string, err: unknown): PreprocessError {
  const msg = err instanceof Error ? err.message : String(err);
  return new PreprocessError('DECODE_FAILED', `cannot decode the ${format} image`, msg.split('\n')[0] ?? '', {
    cause: err,
  });
}

/** What the decoder needs to know before decoding: the declared size and the stored samples. */
export interface ImageHeader {
  /** sharp's name of the format (`jpeg`, `png`, ...). */
  readonly format: string;
  /** As stored, before EXIF orientation; for a multi-page image, one page. */
  readonly width: number;
  readonly height: number;
  /** libvips' interpretation of the stored samples: `srgb`, `b-w`, `rgb16`, `grey16`, `cmyk`, ... */
  readonly space: string;
  /** 16 bits per sample (libvips `ushort`). */
  readonly sixteenBit: boolean;
}

/**
 * The header facts of a JPEG or PNG read straight from its bytes (the SOF segment, the IHDR
 * chunk), the same facts sharp's `metadata()` reports, without a second libvips call per image.
 * `undefined` for any other format and for anything unusual (12-bit JPEG, 2-component JPEG, no
 * SOF before the scan, zero sizes), which then goes through `metadata()`.
 */
export function readHeader(bytes: Buffer): ImageHeader | undefined {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return jpegHeader(bytes);
  if (bytes.length >= 33 && bytes.readUInt32BE(0) === 0x89504e47 && bytes.readUInt32BE(4) === 0x0d0a1a0a) return pngHeader(bytes);
  return undefined;
}

function jpegHeader(bytes: Buffer): ImageHeader | undefined {
  for (const { marker, at: p, length: len } of jpegSegments(bytes)) {
    // SOF0-SOF15, except DHT (C4), JPG (C8) and DAC (CC), which share the range.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (len < 8 || p + 10 > bytes.length) return undefined;
      const precision = bytes[p + 4];
      const height = bytes.readUInt16BE(p + 5);
      const width = bytes.readUInt16BE(p + 7);
      const components = bytes[p + 9];
      if (precision !== 8 || width === 0 || height === 0) return undefined;
      // libjpeg's output colour space as libvips asks for it: grey, RGB (from YCbCr or RGB), or
      // CMYK (from CMYK or YCCK).
      const space = components === 1 ? 'b-w' : components === 3 ? 'srgb' : components === 4 ? 'cmyk' : undefined;
      return space === undefined ? undefined : { format: 'jpeg', width, height, space, sixteenBit: false };
    }
  }
  return undefined; // no frame header before the scan
}

function pngHeader(bytes: Buffer): ImageHeader | undefined {
  if (bytes.readUInt32BE(8) !== 13 || bytes.toString('latin1', 12, 16) !== 'IHDR') return undefined;
  const width = bytes.readUInt32BE(16);
  const height = bytes.readUInt32BE(20);
  const depth = bytes[24]!;
  const type = bytes[25]!;
  if (width === 0 || height === 0 || ![1, 2, 4, 8, 16].includes(depth)) return undefined;
  // libvips: grey (0) and grey + alpha (4) load as b-w or grey16; RGB (2), RGBA (6) and palette
  // (3, always 8-bit, even when every entry is grey) as srgb or rgb16.
  const grey = type === 0 || type === 4;
  if (!grey && type !== 2 && type !== 6 && type !== 3) return undefined;
  const sixteenBit = depth === 16;
  const space = grey ? (sixteenBit ? 'grey16' : 'b-w') : sixteenBit ? 'rgb16' : 'srgb';
  return { format: 'png', width, height, space, sixteenBit };
}

/** The header as sharp's `metadata()` reports it (a libvips header read). */
async function sharpHeader(bytes: Buffer): Promise<ImageHeader> {
  let meta: sharp.Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false, failOn: 'error' }).metadata();
  } catch (err) {
    const text = errorText(err);
    // libvips found no loader for the signature: not a format we read. Any other header error
    // (a GIF or PNG cut short, a corrupt header) is a recognised format that cannot be decoded.
    const code = /unsupported image format/i.test(text) ? 'UNSUPPORTED_FORMAT' : 'DECODE_FAILED';
    const message = code === 'UNSUPPORTED_FORMAT' ? 'not an image format this library can decode' : 'cannot read the image header';
    throw new PreprocessError(code, message, text, { cause: err });
  }
  return {
    format: meta.format,
    width: meta.width,
    height: meta.pageHeight ?? meta.height,
    space: meta.space ?? '',
    sixteenBit: meta.depth === 'ushort',
  };
}

/** {@link DecodedRaw} as stored, before its EXIF `orientation` (1-8; 1: nothing left to do). */
export interface StoredRaw extends DecodedRaw {
  readonly orientation: number;
}

async function decodeWithSharp(bytes: Buffer, maxPixels: number, turnLater = false): Promise<StoredRaw> {
  // Header first, so that a bomb is refused before any pixel is decoded or any large buffer
  // allocated: JPEG and PNG headers are read here in a few microseconds; other formats through
  // libvips, which reads only the metadata.
  const header = readHeader(bytes) ?? (await sharpHeader(bytes));
  const format = header.format;
  checkPixels(header.width, header.height, maxPixels, format);

  // OpenCV 4.6 applies the EXIF orientation it reads from JPEG files only (JpegDecoder fills the
  // EXIF reader; the PNG/WebP/TIFF decoders of 4.6 do not), so only JPEGs are auto-oriented.
  const orient = format === 'jpeg';
  const sixteenBit = header.sixteenBit;
  // The caller may turn an 8-bit JPEG itself (`./orient`, far cheaper than libvips' turn); anything
  // unusual about its EXIF leaves the turn to libvips.
  const later = turnLater && orient && (header.space === 'srgb' || header.space === 'b-w') ? jpegOrientation(bytes) : undefined;
  const orientation = later !== undefined && later !== 1 ? later : 1;
  try {
    let pipeline = sharp(bytes, {
      // A truncated or corrupt stream is a failure here, where libjpeg would only warn and fill grey.
      failOn: 'error',
      limitInputPixels: maxPixels,
      // Embedded ICC profiles are ignored by OpenCV: never colour-manage.
      ignoreIcc: true,
      autoOrient: orient && orientation === 1,
      pages: 1,
      page: 0,
    });
    if (header.space === 'cmyk') {
      // Keep the CMYK samples themselves; sharp would otherwise convert them to sRGB through lcms.
      pipeline = pipeline.pipelineColourspace('cmyk').toColourspace('cmyk');
      const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
      if (info.channels !== 4) throw new Error(`expected 4 CMYK channels, got ${info.channels}`);
      const inverted = format === 'jpeg' && hasAdobeMarker(bytes);
      const bgr = cmykToBgr(data, info.width, info.height, inverted);
      return { data: bgr, width: info.width, height: info.height, channels: 3, order: 'bgr', format, orientation: 1 };
    }
    const grey = header.space === 'b-w' || header.space === 'grey16';
    // Keep the decoded colourspace as it is (no sRGB conversion, no 16-to-8-bit scaling by libvips).
    const space = sixteenBit ? (grey ? 'grey16' : 'rgb16') : grey ? 'b-w' : 'srgb';
    pipeline = pipeline.pipelineColourspace(space).toColourspace(space);
    if (sixteenBit) {
      const { data, info } = await pipeline.raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
      const bytesPerSample = data.length / (info.width * info.height * info.channels);
      const bgr = toBgr(data, info.width, info.height, info.channels, bytesPerSample === 2);
      return { data: bgr, width: info.width, height: info.height, channels: 3, order: 'bgr', format, orientation: 1 };
    }
    // removeAlpha drops the band without compositing, as OpenCV does.
    const { data, info } = await pipeline.removeAlpha().raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 1 && info.channels !== 3) throw new Error(`unexpected ${info.channels} channels`);
    return { data, width: info.width, height: info.height, channels: info.channels, order: 'rgb', format, orientation };
  } catch (err) {
    if (err instanceof PreprocessError) throw err;
    // The header check above refuses bombs first; this is the decoder's own limit, which holds
    // should a header ever declare less than the image has.
    if (/exceeds pixel limit/i.test(errorText(err))) {
      throw new PreprocessError('TOO_MANY_PIXELS', `image has more pixels than the limit of ${maxPixels}`, errorText(err), { cause: err });
    }
    throw decodeFailed(format, err);
  }
}

function errorText(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}

/**
 * {@link decodeImage} without the final B,G,R layout: the samples as the decoder produced them
 * (libvips gives R,G,B or grey), for callers that resize next and can read any layout.
 */
export async function decodeRaw(bytes: Buffer, options: DecodeOptions = {}): Promise<DecodedRaw> {
  // Turned by libvips (`turnLater` false): the orientation is always 1 here.
  const { data, width, height, channels, order, format } = await decodeStored(bytes, options, false);
  return { data, width, height, channels, order, format };
}

/**
 * {@link decodeRaw}, except that an 8-bit JPEG with an EXIF orientation other than 1 may come back
 * as stored, with its `orientation` for the caller to apply (`resizeOrientedToModel`).
 */
export async function decodeStored(bytes: Buffer, options: DecodeOptions = {}, turnLater = true): Promise<StoredRaw> {
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (bytes.length === 0) throw new PreprocessError('EMPTY_INPUT', 'the image is empty (0 bytes)');
  if (isBmp(bytes)) {
    const h = readBmpHeader(bytes);
    checkPixels(h.width, h.height, maxPixels, 'bmp');
    return { ...decodeBmp(bytes, h), channels: 3, order: 'bgr', format: 'bmp', orientation: 1 };
  }
  if (isPnm(bytes)) {
    const h = readPnmHeader(bytes);
    checkPixels(h.width, h.height, maxPixels, 'pnm');
    return { ...decodePnm(bytes, h), channels: 3, order: 'bgr', format: 'pnm', orientation: 1 };
  }
  return decodeWithSharp(bytes, maxPixels, turnLater);
}

/**
 * Decode an encoded image into 8-bit B,G,R exactly as OpenCV 4.6's `cv2.imdecode(buf,
 * IMREAD_COLOR)`: EXIF orientation applied (JPEG), ICC profiles ignored, alpha dropped without
 * compositing, grey replicated to three channels, 16-bit samples reduced to their high byte, CMYK
 * by OpenCV's own formula, GIF (which OpenCV 4.6 cannot read) by its first frame.
 *
 * @throws PreprocessError `EMPTY_INPUT`, `TOO_MANY_PIXELS` (checked from the header, before
 *   decoding), `UNSUPPORTED_FORMAT` or `DECODE_FAILED`.
 */
export async function decodeImage(bytes: Buffer, options: DecodeOptions = {}): Promise<DecodedImage> {
  const raw = await decodeRaw(bytes, options);
  return { ...toBgrImage(raw), format: raw.format };
}
