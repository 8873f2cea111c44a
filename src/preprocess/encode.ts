import { promisify } from 'node:util';
import { brotliCompress, constants } from 'node:zlib';
import { InvalidOptionError } from '../core/invalidOptionError';

const brotli = promisify(brotliCompress);
const MAX_CHUNK = 4 * 1024 * 1024;

/** Brotli quality used when none is given; chosen from the table in docs/preprocessing.md. */
export const DEFAULT_BROTLI_QUALITY = 1;

/**
 * Brotli-compresses prepared pixels on libuv's thread pool (Node's own zlib, asynchronous, so the
 * event loop stays free).
 *
 * - `BROTLI_PARAM_SIZE_HINT` is the input length: the encoder sizes its window and hash tables
 *   for it instead of assuming an unknown stream.
 * - `BROTLI_MODE_GENERIC`: pixels are neither UTF-8 text nor font data, the two modes Brotli
 *   tunes for.
 * - `chunkSize` a little over the input (at most 4 MiB): Node's asynchronous zlib hands each
 *   output chunk back from the thread pool on its own (16 KiB by default, so about 25 round trips
 *   and a concatenation for one image); one chunk cut quality 1 from 5.4 to 4.0 ms of CPU per
 *   448x448 image (the same bytes; libbrotli called in one shot, as Python's `brotli` does, takes
 *   2.8).
 *
 * @example
 * ```ts
 * const wire = await brotliEncode(pixels, 1); // decompresses with zlib.brotliDecompressSync
 * ```
 */
export function brotliEncode(data: Uint8Array, quality = DEFAULT_BROTLI_QUALITY): Promise<Buffer> {
  if (!Number.isInteger(quality) || quality < 0 || quality > 11) {
    throw new InvalidOptionError(`brotliQuality must be an integer from 0 to 11, got ${quality}`);
  }
  return brotli(data, {
    chunkSize: Math.min(MAX_CHUNK, Math.max(constants.Z_DEFAULT_CHUNK, data.length + 1024)),
    params: {
      [constants.BROTLI_PARAM_QUALITY]: quality,
      [constants.BROTLI_PARAM_SIZE_HINT]: data.length,
      [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_GENERIC,
    },
  });
}
