import { performance } from 'node:perf_hooks';
import { decodeStored, type DecodeOptions } from './decode';
import { resizeOrientedToModel, swapsAxes } from './orient';
import { resizeToModel } from './resize';

/** The 448x448 model input made from one encoded image, with what it took. */
export interface ModelPixels {
  /** 448 x 448 x 3 = 602112 bytes, B,G,R interleaved, row-major. */
  readonly pixels: Buffer;
  /** Size after decoding (after EXIF orientation), before resizing. */
  readonly decoded: { readonly width: number; readonly height: number };
  readonly decodeMs: number;
  readonly resizeMs: number;
}

/**
 * Encoded image bytes to the pixels the reference client sends: `cv2.imdecode(IMREAD_COLOR)` then,
 * unless already 448x448, `cv2.resize(448x448, INTER_LINEAR)`, byte for byte.
 *
 * @throws PreprocessError (as `decodeImage` in `./decode`).
 */
export async function toModelPixels(bytes: Buffer, options: DecodeOptions = {}): Promise<ModelPixels> {
  const t0 = performance.now();
  // The raw layout saves a B,G,R copy of the whole decoded image: the resizer reads R,G,B or grey.
  // A JPEG's EXIF turn is applied by the resize, on the pixels it reads (`./orient`).
  const image = await decodeStored(bytes, options);
  const t1 = performance.now();
  const { orientation } = image;
  const pixels = orientation === 1 ? resizeToModel(image) : resizeOrientedToModel(image, orientation);
  const t2 = performance.now();
  const swap = swapsAxes(orientation);
  const decoded = { width: swap ? image.height : image.width, height: swap ? image.width : image.height };
  return { pixels, decoded, decodeMs: t1 - t0, resizeMs: t2 - t1 };
}
