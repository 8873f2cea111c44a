import { MODEL_SIDE, type RawImage } from './bgrImage';
import { resizeRaw } from './resize';
import { jpegSegments } from './jpegSegments';
import { type AxisTable, axisTable, isExactHalf } from './resizeTables';
import { resizeRawWasm } from './resizeWasm';

/*
 * EXIF orientation without turning the whole decoded image.
 *
 * OpenCV 4.6 turns a JPEG by its EXIF orientation after decoding it, then `cv2.resize` reads the
 * turned image. libvips' turn (`autoOrient`) copies every pixel byte by byte, column-wise for the
 * quarter turns: 23 ms of CPU for a 7 MP photo against OpenCV's 5.4 (the photo corpus, 11 of 60
 * photos). The resize to 448x448 reads only two columns per output column and two rows per output
 * row, so here the decoded image stays as stored: the pixels the resize reads are gathered from it
 * through the orientation into a small image (at most 896x896), and the resize runs on that with
 * the tables of the turned image. Same pixels as turning first (tests: the fixtures of every
 * orientation against OpenCV's golden output, and random shapes against libvips' turn).
 */

/**
 * The EXIF orientation (1-8) of a JPEG as the decoders read it: IFD0's tag 0x0112 in the Exif APP1
 * segment. `undefined` when there is none, or anything unusual (two Exif segments, a value out of
 * range, a malformed TIFF header or IFD): such files keep libvips' own reading of it.
 */
export function jpegOrientation(bytes: Buffer): number | undefined {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let found: number | undefined;
  let exifSegments = 0;
  for (const { marker, at: p, length } of jpegSegments(bytes)) {
    // APP1 "Exif\0\0" followed by a TIFF header.
    if (marker === 0xe1 && length >= 8 && p + 10 <= bytes.length && view.getUint32(p + 4) === 0x45786966 && view.getUint16(p + 8) === 0) {
      if (p + 2 + length > bytes.length) return undefined;
      exifSegments++;
      found = tiffOrientation(view, p + 10, p + 2 + length);
    }
  }
  return exifSegments === 1 ? found : undefined;
}

function tiffOrientation(view: DataView, tiff: number, end: number): number | undefined {
  if (tiff + 8 > end) return undefined;
  const order = view.getUint16(tiff);
  if (order !== 0x4949 && order !== 0x4d4d) return undefined;
  const le = order === 0x4949;
  if (view.getUint16(tiff + 2, le) !== 42) return undefined;
  const ifd = tiff + view.getUint32(tiff + 4, le);
  if (ifd + 2 > end || ifd < tiff + 8) return undefined;
  const count = view.getUint16(ifd, le);
  if (ifd + 2 + 12 * count > end) return undefined;
  for (let i = 0; i < count; i++) {
    const e = ifd + 2 + 12 * i;
    if (view.getUint16(e, le) !== 0x0112) continue;
    // SHORT, one value, held in the first two bytes of the value field.
    if (view.getUint16(e + 2, le) !== 3 || view.getUint32(e + 4, le) !== 1) return undefined;
    const value = view.getUint16(e + 8, le);
    return value >= 1 && value <= 8 ? value : undefined;
  }
  return 1; // an Exif segment without the tag: as stored
}

/** Whether an orientation swaps width and height (the quarter turns, transpose and transverse). */
export const swapsAxes = (orientation: number): boolean => orientation >= 5;

/**
 * `resizeToModel(orient(image, orientation))`, byte for byte, without making the turned image:
 * `image` is the decoded image as stored, `orientation` its EXIF orientation (1-8).
 */
export function resizeOrientedToModel(image: RawImage, orientation: number): Buffer {
  const swap = swapsAxes(orientation);
  const width = swap ? image.height : image.width; // of the turned image
  const height = swap ? image.width : image.height;
  const side = MODEL_SIDE;
  if (isExactHalf(width, height, side, side) || width * height <= 4 * side * side) {
    // The exact-2x path reads every pixel, and so does any resize of an image this small: turn
    // it whole (at most 896x896) and resize that.
    return resizeRaw(gather(image, orientation, range(width), range(height)), side, side);
  }
  const cols = axisTable(width, side, true);
  const rows = axisTable(height, side, false);
  // Column 2dx of the gathered image is the turned image's column cols.index[dx], column 2dx + 1
  // the next one (clamped: its weight is then 0); rows likewise, clamped as OpenCV clamps them.
  const xs = pairs(cols.index, width - 1);
  const ys = pairs(rows.index, height - 1);
  const gathered = gather(image, orientation, xs, ys);
  const given = { cols: evenTable(cols), rows: evenTable(rows) };
  return resizeRawWasm(gathered, side, side, given) ?? resizeRaw(gather(image, orientation, range(width), range(height)), side, side);
}

function range(n: number): Int32Array {
  const r = new Int32Array(n);
  for (let i = 0; i < n; i++) r[i] = i;
  return r;
}

function pairs(index: Int32Array, last: number): Int32Array {
  const out = new Int32Array(2 * index.length);
  for (let d = 0; d < index.length; d++) {
    const s = index[d]!;
    out[2 * d] = s < 0 ? 0 : s > last ? last : s;
    out[2 * d + 1] = s + 1 < 0 ? 0 : s + 1 > last ? last : s + 1;
  }
  return out;
}

/** The table with every output index pointing at its pair in the gathered image: 0, 2, 4, ... */
function evenTable(t: AxisTable): AxisTable {
  const index = new Int32Array(t.index.length);
  for (let d = 0; d < index.length; d++) index[d] = 2 * d;
  return { index, w0: t.w0, w1: t.w1 };
}

/**
 * The image whose pixel (i, j) is the turned image's pixel (xs[i], ys[j]), read from the stored
 * image through the orientation (EXIF: 2 mirrors left-right, 3 turns 180 degrees, 4 mirrors top to
 * bottom, 5 transposes, 6 turns 90 degrees clockwise, 7 transverses, 8 turns 90 counter-clockwise).
 */
function gather(image: RawImage, orientation: number, xs: Int32Array, ys: Int32Array): RawImage {
  const { data, width: w, height: h, channels: cn } = image;
  const stride = w * cn;
  const swap = swapsAxes(orientation);
  // The stored column and row of turned pixel (x, y): u = f(x or y), v = g(y or x).
  const flipU = orientation === 2 || orientation === 3 || orientation === 7 || orientation === 8;
  const flipV = orientation === 3 || orientation === 4 || orientation === 6 || orientation === 7;
  // Byte offset contributions: of each gathered column, and of each gathered row.
  const colOff = new Int32Array(xs.length);
  const rowOff = new Int32Array(ys.length);
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i]!;
    colOff[i] = swap ? (flipV ? h - 1 - x : x) * stride : (flipU ? w - 1 - x : x) * cn;
  }
  for (let j = 0; j < ys.length; j++) {
    const y = ys[j]!;
    rowOff[j] = swap ? (flipU ? w - 1 - y : y) * cn : (flipV ? h - 1 - y : y) * stride;
  }
  const gw = xs.length;
  const gh = ys.length;
  const out = Buffer.allocUnsafe(gw * gh * cn);
  const outStride = gw * cn;
  // Read the stored image a row at a time: with the axes swapped a stored row is a gathered
  // column, so the outer loop runs over gathered columns and the writes are the strided side.
  if (cn === 3) {
    if (swap) {
      for (let i = 0; i < gw; i++) {
        const c = colOff[i]!;
        for (let j = 0, o = i * 3; j < gh; j++, o += outStride) {
          const s = c + rowOff[j]!;
          out[o] = data[s]!;
          out[o + 1] = data[s + 1]!;
          out[o + 2] = data[s + 2]!;
        }
      }
    } else {
      for (let j = 0, o = 0; j < gh; j++) {
        const r = rowOff[j]!;
        for (let i = 0; i < gw; i++, o += 3) {
          const s = r + colOff[i]!;
          out[o] = data[s]!;
          out[o + 1] = data[s + 1]!;
          out[o + 2] = data[s + 2]!;
        }
      }
    }
  } else if (swap) {
    for (let i = 0; i < gw; i++) {
      const c = colOff[i]!;
      for (let j = 0, o = i; j < gh; j++, o += outStride) out[o] = data[c + rowOff[j]!]!;
    }
  } else {
    for (let j = 0, o = 0; j < gh; j++) {
      const r = rowOff[j]!;
      for (let i = 0; i < gw; i++, o++) out[o] = data[r + colOff[i]!]!;
    }
  }
  return { data: out, width: gw, height: gh, channels: cn, order: image.order };
}
