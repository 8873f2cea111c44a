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
