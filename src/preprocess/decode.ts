import sharp from 'sharp';
import { type BgrImage, type RawImage, toBgrImage } from './bgrImage';
import { decodeBmp, isBmp, readBmpHeader } from './decoders/bmp';
import { decodePnm, isPnm, readPnmHeader } from './decoders/pnm';
import { PreprocessError } from './errors';

/** Default cap on the declared pixel count (width x height) of an input: 100 megapixels. */
export const DEFAULT_MAX_PIXELS = 100_000_000;

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
  let p = 2;
  while (p + 4 <= bytes.length && bytes[p] === 0xff) {
    const marker = bytes[p + 1]!;
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01 || marker === 0xff) {
      p += marker === 0xff ? 1 : 2;
      continue;
    }
    if (marker === 0xda || marker === 0xd9) return false; // start of scan: no more headers
    const len = bytes.readUInt16BE(p + 2);
    if (marker === 0xee && len >= 14 && bytes.toString('latin1', p + 4, p + 9) === 'Adobe') return true;
    p += 2 + len;
  }
  return false;
}

/** Expand or reorder decoded samples (R,G,B[,A] / grey[,A], 8 or 16 bits) into B,G,R. */
function toBgr(
  data: Buffer,
  width: number,
  height: number,
  channels: number,
  sixteenBit: boolean,
): Buffer {
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

async function decodeWithSharp(bytes: Buffer, maxPixels: number): Promise<DecodedRaw> {
  // Header first: libvips reads only the metadata here, so a bomb is refused before any pixel is
  // decoded or any large buffer allocated.
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
  const format = meta.format;
  const frameHeight = meta.pageHeight ?? meta.height;
  checkPixels(meta.width, frameHeight, maxPixels, format);

  // OpenCV 4.6 applies the EXIF orientation it reads from JPEG files only (JpegDecoder fills the
  // EXIF reader; the PNG/WebP/TIFF decoders of 4.6 do not), so only JPEGs are auto-oriented.
  const orient = format === 'jpeg';
  const sixteenBit = meta.depth === 'ushort';
  try {
    let pipeline = sharp(bytes, {
      // A truncated or corrupt stream is a failure here, where libjpeg would only warn and fill grey.
      failOn: 'error',
      limitInputPixels: maxPixels,
      // Embedded ICC profiles are ignored by OpenCV: never colour-manage.
      ignoreIcc: true,
      autoOrient: orient,
      pages: 1,
      page: 0,
    });
    if (meta.space === 'cmyk') {
      // Keep the CMYK samples themselves; sharp would otherwise convert them to sRGB through lcms.
      pipeline = pipeline.pipelineColourspace('cmyk').toColourspace('cmyk');
      const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
      if (info.channels !== 4) throw new Error(`expected 4 CMYK channels, got ${info.channels}`);
      const inverted = format === 'jpeg' && hasAdobeMarker(bytes);
      const bgr = cmykToBgr(data, info.width, info.height, inverted);
      return { data: bgr, width: info.width, height: info.height, channels: 3, order: 'bgr', format };
    }
    const grey = meta.space === 'b-w' || meta.space === 'grey16';
    // Keep the decoded colourspace as it is (no sRGB conversion, no 16-to-8-bit scaling by libvips).
    const space = sixteenBit ? (grey ? 'grey16' : 'rgb16') : grey ? 'b-w' : 'srgb';
    pipeline = pipeline.pipelineColourspace(space).toColourspace(space);
    if (sixteenBit) {
      const { data, info } = await pipeline.raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
      const bytesPerSample = data.length / (info.width * info.height * info.channels);
      const bgr = toBgr(data, info.width, info.height, info.channels, bytesPerSample === 2);
      return { data: bgr, width: info.width, height: info.height, channels: 3, order: 'bgr', format };
    }
    // removeAlpha drops the band without compositing, as OpenCV does.
    const { data, info } = await pipeline.removeAlpha().raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 1 && info.channels !== 3) throw new Error(`unexpected ${info.channels} channels`);
    return { data, width: info.width, height: info.height, channels: info.channels, order: 'rgb', format };
  } catch (err) {
    if (err instanceof PreprocessError) throw err;
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
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (bytes.length === 0) throw new PreprocessError('EMPTY_INPUT', 'the image is empty (0 bytes)');
  if (isBmp(bytes)) {
    const h = readBmpHeader(bytes);
    checkPixels(h.width, h.height, maxPixels, 'bmp');
    return { ...decodeBmp(bytes, h), channels: 3, order: 'bgr', format: 'bmp' };
  }
  if (isPnm(bytes)) {
    const h = readPnmHeader(bytes);
    checkPixels(h.width, h.height, maxPixels, 'pnm');
    return { ...decodePnm(bytes, h), channels: 3, order: 'bgr', format: 'pnm' };
  }
  return decodeWithSharp(bytes, maxPixels);
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
