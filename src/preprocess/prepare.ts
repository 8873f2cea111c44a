import { performance } from 'node:perf_hooks';
import { RAW_IMAGE_BYTES, type ImageFormat, type RequestEncoding } from '../contract/messages';
import { defaultCorrelationIds, validateCorrelationId, type CorrelationIdFactory } from './correlationId';
import { brotliEncode, DEFAULT_BROTLI_QUALITY } from './encode';
import { encodePngBgr } from './pngEncode';
import { PreprocessError } from './errors';
import { describeUnsupportedFormat, detectFormat, isExactlyDecodable, SUPPORTED_FORMATS_TEXT } from './formats';
import { pixelHashes, wireHashes, type PixelHashAlgorithm, type WireHashAlgorithm } from './hashes';
import { toModelPixelsOnWorker, workerUnavailable } from './decodeThread';
import { toModelPixels, type ModelPixels } from './pixels';
import { DEFAULT_MAX_SOURCE_BYTES, isImageInput, onReadBuffer, readSource, type ReadSource } from './sources';
import type { ImageInput, ImageSource, PreparedImage } from './types';
import { InvalidOptionError } from '../core/invalidOptionError';

/** How `prepareImage` prepares an image; every field is optional. */
export interface PrepareOptions {
  /**
   * Hashes of the original bytes to send as `ImageHash` entries (the service matches them against
   * known images). `[]` sends none. Default `['md5', 'sha1']`.
   */
  readonly hashes?: readonly WireHashAlgorithm[];
  /** Hashes of the prepared pixels, kept on `PreparedImage.pixelHashes` and never sent. Default `[]`. */
  readonly pixelHashes?: readonly PixelHashAlgorithm[];
  /**
   * `'brotli'` compresses the pixels with Node's zlib (asynchronous); when the result is not
   * smaller, the pixels go uncompressed and `encoding` says so. `'png'` sends the prepared
   * pixels as a lossless PNG (`IMAGE_FORMAT_PNG`, about 0.45 of the raw bytes on photographs, for
   * about the CPU of Brotli quality 2-3): a PNG decoder, OpenCV's included, gives back exactly
   * these pixels; when the PNG is not smaller, the raw pixels go instead. Default `'uncompressed'`.
   */
  readonly encoding?: 'uncompressed' | 'brotli' | 'png';
  /** Brotli quality, 0-11. Default 1, the cheapest: see the table in docs/preprocessing.md. */
  readonly brotliQuality?: number;
  /**
   * Send an encoded image that already decodes to 448x448 as it is, with its detected format,
   * when its file is smaller than the 602,112 raw pixels. Only lossless formats (PNG, lossless
   * WebP) qualify: their pixels are the same whatever decoder the server runs, whereas a JPEG's
   * depend on the decoder's IDCT and upsampling, and scores are compared at 1e-4. The image is
   * still decoded here, to check its size and that it decodes at all. Default `false`.
   */
  readonly passThrough?: boolean;
  /** Largest decoded width x height accepted; larger images are refused before decoding them. */
  readonly maxPixels?: number;
  /** Largest source accepted, in bytes; checked before reading a file whole. Default 64 MiB. */
  readonly maxSourceBytes?: number;
  /** Affiliate for images whose `ImageInput` names none. */
  readonly affiliate?: string;
  /**
   * Makes the correlation id of an image whose `ImageInput` gives none, from the bytes the hashes
   * cover. Default: a process-wide `CorrelationIdGenerator` (`<run>-<xxh64>-<sequence>`). Its
   * ids are validated like a caller's.
   */
  readonly correlationId?: CorrelationIdFactory;
  /**
   * Where images are decoded and resized. `'current'`: on the calling thread (decoding itself
   * runs on sharp's threads either way). `'worker'`: on a worker thread that athena-rx starts
   * once (per thread that loads athena-rx), which keeps each decoded image (10 MB for a 3.6 MP
   * photo) out of the calling thread's heap: in an application whose own heap is large, the
   * collections those images make due cost far more there (photo corpus, 64 MB of the
   * application's objects: 75.9 CPU ms per image against 37.0). A file that athena-rx reads into
   * its own read buffer (a path, unless `passThrough` or a `correlationId` factory may keep the
   * bytes) moves to the worker and back without a copy; any other source is copied, never
   * detached. An image's `PreprocessError` comes back with its code, message and details; any
   * other error while decoding as `DECODE_FAILED` naming it. The idle worker does not keep the
   * process alive. Needs the built package (not its TypeScript sources). Default `'current'`
   * (docs/performance.md, "Decoding on a worker thread", says when each wins).
   */
  readonly decodeThread?: 'current' | 'worker';
}

/**
 * Prepares one image for the wire: reads it, decodes and resizes it exactly as the reference
 * pipeline does (OpenCV `imdecode(IMREAD_COLOR)`, then `INTER_LINEAR` to 448x448 BGR), hashes
 * the original bytes, gives it a correlation id, and optionally Brotli-compresses the pixels.
 *
 * Use it to prepare images outside an Rx pipeline; inside one, the `preprocess()` operator calls
 * it with bounded concurrency and turns failures into values.
 *
 * @param source a `Buffer`/`Uint8Array` of an encoded image, a file path, a `Readable` (read
 *   fully, up to `maxSourceBytes`), `{ bgr }` for pixels that are already prepared, or an
 *   `ImageInput` wrapping any of them with a `ref`, `correlationId` and `affiliate`.
 * @throws PreprocessError with a `code` (`EMPTY_INPUT`, `SOURCE_UNREADABLE`, `SOURCE_TOO_LARGE`,
 *   `UNSUPPORTED_FORMAT`, `DECODE_FAILED`, `TOO_MANY_PIXELS`, `INVALID_CORRELATION_ID`,
 *   `INVALID_INPUT`) when the image cannot be prepared.
 *
 * @example
 * ```ts
 * import { prepareImage } from 'athena-rx';
 *
 * const image = await prepareImage({ source: 'photos/cat.jpg', ref: 42, affiliate: 'acme' }, {
 *   encoding: 'brotli',
 * });
 * image.data;          // Brotli-compressed 448x448 BGR pixels
 * image.hashes;        // [{ type: 'HASH_TYPE_MD5', value: '…' }, { type: 'HASH_TYPE_SHA1', value: '…' }]
 * image.timings;       // { readMs, decodeMs, resizeMs, hashMs, compressMs, totalMs }
 * ```
 */
export async function prepareImage<R = unknown>(
  source: ImageSource | ImageInput<R>,
  options: PrepareOptions = {},
): Promise<PreparedImage<R>> {
  const t0 = performance.now();
  checkPrepareOptions(options);
  const input: ImageInput<R> = isImageInput(source)
    ? source
    : { source, ref: (typeof source === 'string' ? source : undefined) as R | undefined };
  // The caller's id is checked first: a bad id fails fast, before any reading or decoding.
  const callerId = input.correlationId === undefined ? undefined : validateCorrelationId(input.correlationId);
  const affiliate = input.affiliate ?? options.affiliate;

  // A file's bytes go into a reused buffer when nothing can keep them after this call: not sent
  // as they are (passThrough), not handed to a caller's id factory (which might hold on to them).
  const reuse =
    typeof input.source === 'string' && options.passThrough !== true && (callerId !== undefined || options.correlationId === undefined);
  const read = await readSource(input.source, options.maxSourceBytes ?? DEFAULT_MAX_SOURCE_BYTES, reuse);
  let cameBack: Buffer | undefined;
  try {
    return await prepareRead(input, options, read, callerId, affiliate, t0, (bytes) => (cameBack = bytes));
  } finally {
    // Every path above has settled the decoder (it may read the bytes until then).
    if (read.kind === 'encoded') read.release?.(cameBack);
  }
}

async function prepareRead<R>(
  input: ImageInput<R>,
  options: PrepareOptions,
  read: ReadSource,
  callerId: string | undefined,
  affiliate: string | undefined,
  t0: number,
  backFromWorker: (bytes: Buffer) => void,
): Promise<PreparedImage<R>> {
  const t1 = performance.now();
  let original = read.bytes;
  const sourceFormat: ImageFormat = read.kind === 'bgr' ? 'IMAGE_FORMAT_RAW_UINT8_BGR' : detectFormat(original);
  if (sourceFormat === 'IMAGE_FORMAT_UNSPECIFIED') {
    // Refused here rather than left to the decoder: sharp reads formats (SVG, AVIF, HEIF, ...)
    // the reference cannot, and an image the reference cannot decode has no defined pixels.
    const detected = describeUnsupportedFormat(original);
    throw new PreprocessError(
      'UNSUPPORTED_FORMAT',
      `not an image format the reference pipeline decodes (${detected ? `detected ${detected}` : 'unknown signature'}; supported: ${SUPPORTED_FORMATS_TEXT})`,
      signatureDetails(original),
    );
  }

  // Decoding runs on sharp's threads (or a worker thread) while the hashes and the id are computed,
  // except when this read's own buffer moves to the worker: then it starts after them, the bytes
  // not being here meanwhile.
  const decodeOptions = options.maxPixels === undefined ? {} : { maxPixels: options.maxPixels };
  const onWorker = options.decodeThread === 'worker';
  const move = onWorker && read.kind === 'encoded' && read.release !== undefined && onReadBuffer(original);
  const decode = (): Promise<{ readonly bytes: Buffer; readonly outcome: ModelPixels | PreprocessError }> =>
    onWorker
      ? toModelPixelsOnWorker(original, decodeOptions, move)
      : toModelPixels(original, decodeOptions).then((outcome) => ({ bytes: original, outcome }));
  const early = read.kind === 'bgr' || move ? undefined : decode();
  early?.catch(() => undefined); // awaited below; keeps a failure here from being "unhandled" meanwhile

  let hashes;
  let hashMs;
  let correlationId;
  try {
    const th = performance.now();
    hashes = wireHashes(original, options.hashes ?? ['md5', 'sha1']);
    hashMs = performance.now() - th;
    correlationId = callerId ?? validateCorrelationId(await (options.correlationId ?? defaultFactory)(original));
  } catch (err) {
    await early?.catch(() => undefined); // never leave decode work running unobserved
    throw err;
  }

  const done = read.kind === 'bgr' ? undefined : await (early ?? decode());
  if (done) original = done.bytes;
  if (move) backFromWorker(original);
  const model = done?.outcome;
  if (model instanceof PreprocessError) throw model;
  const { pixels, decoded, decodeMs, resizeMs } = model ?? { pixels: original, decoded: undefined, decodeMs: 0, resizeMs: 0 };

  const th = performance.now();
  const pixelHashList = options.pixelHashes?.length ? pixelHashes(pixels, options.pixelHashes) : [];
  hashMs += performance.now() - th;

  const passedThrough =
    options.passThrough === true &&
    decoded !== undefined &&
    decoded.width === 448 &&
    decoded.height === 448 &&
    original.length < RAW_IMAGE_BYTES &&
    isExactlyDecodable(original, sourceFormat);

  let data: Buffer = passedThrough ? original : pixels;
  let format: ImageFormat = passedThrough ? sourceFormat : 'IMAGE_FORMAT_RAW_UINT8_BGR';
  let encoding: RequestEncoding = 'REQUEST_ENCODING_UNCOMPRESSED';
  let compressMs = 0;
  if (!passedThrough && options.encoding === 'png') {
    const tc = performance.now();
    const png = await encodePngBgr(pixels, 448, 448);
    compressMs = performance.now() - tc;
    if (png.length < pixels.length) {
      data = png;
      format = 'IMAGE_FORMAT_PNG';
    }
  }
  if (!passedThrough && options.encoding === 'brotli') {
    const tc = performance.now();
    const compressed = await brotliEncode(pixels, options.brotliQuality ?? DEFAULT_BROTLI_QUALITY);
    compressMs = performance.now() - tc;
    if (compressed.length < pixels.length) {
      data = compressed;
      encoding = 'REQUEST_ENCODING_BROTLI';
    }
  }

  return {
    kind: 'prepared',
    correlationId,
    ...(affiliate === undefined ? {} : { affiliate }),
    format,
    encoding,
    data,
    hashes,
    pixelHashes: pixelHashList,
    passedThrough,
    sourceFormat,
    sizes: {
      original: original.length,
      ...(decoded ? { decoded: { width: decoded.width, height: decoded.height } } : {}),
      prepared: passedThrough ? original.length : pixels.length,
      wire: data.length,
    },
    timings: { readMs: t1 - t0, decodeMs, resizeMs, hashMs, compressMs, totalMs: performance.now() - t0 },
    ref: input.ref,
  };
}

/**
 * Throws a `RangeError` for options that are wrong for every image (a programming error, not a
 * bad image), so that they fail at once instead of once per image after decoding it.
 */
export function checkPrepareOptions(options: PrepareOptions): void {
  const q = options.brotliQuality;
  if (q !== undefined && (!Number.isInteger(q) || q < 0 || q > 11))
    throw new InvalidOptionError(`brotliQuality must be an integer from 0 to 11, got ${q}`);
  if (
    options.encoding !== undefined &&
    options.encoding !== 'uncompressed' &&
    options.encoding !== 'brotli' &&
    options.encoding !== 'png'
  ) {
    throw new InvalidOptionError(`encoding must be 'uncompressed', 'brotli' or 'png', got ${JSON.stringify(options.encoding)}`);
  }
  if (options.decodeThread !== undefined && options.decodeThread !== 'current' && options.decodeThread !== 'worker') {
    throw new InvalidOptionError(`decodeThread must be 'current' or 'worker', got ${JSON.stringify(options.decodeThread)}`);
  }
  const unavailable = options.decodeThread === 'worker' ? workerUnavailable() : undefined;
  if (unavailable !== undefined) throw new InvalidOptionError(unavailable);
  for (const [name, v] of [
    ['maxPixels', options.maxPixels],
    ['maxSourceBytes', options.maxSourceBytes],
  ] as const) {
    if (v !== undefined && !(Number.isInteger(v) && v > 0)) throw new InvalidOptionError(`${name} must be a positive integer, got ${v}`);
  }
  for (const a of options.hashes ?? []) {
    if (a !== 'md5' && a !== 'sha1')
      throw new InvalidOptionError(`hashes: ${JSON.stringify(a)} cannot go on the wire; use 'md5' or 'sha1' (pixelHashes takes others)`);
  }
  for (const a of options.pixelHashes ?? []) {
    if (!['md5', 'sha1', 'sha256', 'sha512'].includes(a))
      throw new InvalidOptionError(`pixelHashes: unknown algorithm ${JSON.stringify(a)}`);
  }
}

const defaultFactory: CorrelationIdFactory = (content) => defaultCorrelationIds().next(content);

/** Facts about an unknown source; never its bytes, not even the first few. */
function signatureDetails(bytes: Buffer): string {
  return `size=${bytes.length}`;
}
