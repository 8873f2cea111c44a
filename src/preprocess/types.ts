import type { Readable } from 'node:stream';
import type { ImageFormat, ImageHash, RequestEncoding } from '../contract/messages';
import type { PixelHash } from './hashes';

/**
 * Where an image comes from. Raw pixels are never guessed from a byte length: they must be marked
 * with `{ bgr }` (448x448x3 bytes, B,G,R interleaved, row-major).
 */
export type ImageSource = Buffer | Uint8Array | string | Readable | { readonly bgr: Uint8Array };

/** An image source with the caller's own reference and optional per-image overrides. */
export interface ImageInput<R = unknown> {
  readonly source: ImageSource;
  /** Returned unchanged on the result for this image (a file name, a database key, ...). */
  readonly ref?: R;
  /** Caller-supplied correlation id: non-empty, at most 64 characters. */
  readonly correlationId?: string;
  readonly affiliate?: string;
}

/** Milliseconds spent in each preparation step for one image. */
export interface PrepareTimings {
  readonly readMs: number;
  readonly decodeMs: number;
  readonly resizeMs: number;
  readonly hashMs: number;
  readonly compressMs: number;
  /** From the call to the result, including waits between steps. */
  readonly totalMs: number;
}

/** Bytes after each step. */
export interface PrepareSizes {
  /** The source as read (the bytes the hashes cover). */
  readonly original: number;
  /** Decoded width and height before resizing (after EXIF orientation); absent for `{ bgr }`. */
  readonly decoded?: { readonly width: number; readonly height: number };
  /** 448x448 BGR pixels, or the pass-through image's own size. */
  readonly prepared: number;
  /** What goes on the wire (after Brotli when encoding). */
  readonly wire: number;
}

/** One image ready for the wire, as `prepareImage` and the `preprocess` operator produce it. */
export interface PreparedImage<R = unknown> {
  readonly kind: 'prepared';
  readonly correlationId: string;
  readonly affiliate?: string;
  readonly format: ImageFormat;
  readonly encoding: RequestEncoding;
  /** The bytes to send as `ClassificationInput.data`. */
  readonly data: Buffer;
  /** Hashes of the original bytes (the source as read), sent as `ClassificationInput.hashes`. */
  readonly hashes: readonly ImageHash[];
  /**
   * Hashes of the 602,112 prepared pixels, when `pixelHashes` asked for them. Never sent: the
   * contract's `HashType` cannot say "of the pixels", and the service matches known file hashes.
   */
  readonly pixelHashes: readonly PixelHash[];
  /** True when `data` is the source file itself (see `PrepareOptions.passThrough`). */
  readonly passedThrough: boolean;
  /** The format detected from the source's signature (`IMAGE_FORMAT_RAW_UINT8_BGR` for `{ bgr }`). */
  readonly sourceFormat: ImageFormat;
  readonly sizes: PrepareSizes;
  readonly timings: PrepareTimings;
  /** The caller's reference: `ImageInput.ref`; for a bare path source, the path. */
  readonly ref: R | undefined;
}
