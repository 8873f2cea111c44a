/**
 * A decoded 8-bit image as OpenCV holds it after `imdecode(IMREAD_COLOR)`: three channels,
 * B,G,R interleaved, rows top to bottom, no padding (`data.length === width * height * 3`).
 */
export interface BgrImage {
  readonly data: Buffer;
  readonly width: number;
  readonly height: number;
}

/** The side of the square the model takes (`cv2.resize(img, (448, 448))`). */
export const MODEL_SIDE = 448;

/** Bytes of one prepared image: 448 x 448 x 3. */
export const MODEL_BYTES = MODEL_SIDE * MODEL_SIDE * 3;

/**
 * Decoded 8-bit samples as a decoder hands them over, before they are laid out as B,G,R: grey
 * (one channel) or colour in either order. The resizer reads this directly, so that the usual
 * R,G,B output of libvips need not be swapped (a pass over every decoded pixel) before resizing.
 */
export interface RawImage {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
  /** 1: grey, which OpenCV's IMREAD_COLOR replicates into B, G and R; 3: colour. */
  readonly channels: 1 | 3;
  /** Order of the colour channels in `data` (ignored for grey). */
  readonly order: 'bgr' | 'rgb';
}

/** Source offsets, within one pixel, of the B, G and R output channels. */
export function channelOffsets(image: RawImage): readonly [number, number, number] {
  if (image.channels === 1) return [0, 0, 0];
  return image.order === 'rgb' ? [2, 1, 0] : [0, 1, 2];
}

/** Lay any `RawImage` out as B,G,R (a copy unless it already is one). */
export function toBgrImage(image: RawImage): BgrImage {
  const { width, height, channels } = image;
  const n = width * height;
  if (channels === 3 && image.order === 'bgr') {
    const data = Buffer.isBuffer(image.data) ? image.data : Buffer.from(image.data.buffer, image.data.byteOffset, n * 3);
    return { data, width, height };
  }
  const [ob, og, or] = channelOffsets(image);
  const s = image.data;
  const out = Buffer.allocUnsafe(n * 3);
  for (let i = 0, p = 0, o = 0; i < n; i++, p += channels, o += 3) {
    out[o] = s[p + ob]!;
    out[o + 1] = s[p + og]!;
    out[o + 2] = s[p + or]!;
  }
  return { data: out, width, height };
}
