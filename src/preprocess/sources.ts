import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { RAW_IMAGE_BYTES } from '../contract/messages';
import { PreprocessError } from './errors';
import type { ImageInput, ImageSource } from './types';

/** Sources larger than this are refused unless `maxSourceBytes` says otherwise (64 MiB). */
export const DEFAULT_MAX_SOURCE_BYTES = 64 * 1024 * 1024;

/** A source read into memory. */
export type ReadSource =
  | { readonly kind: 'encoded'; readonly bytes: Buffer }
  /** `{ bgr }`: already 448x448 BGR pixels, checked for length. */
  | { readonly kind: 'bgr'; readonly bytes: Buffer };

/** True for `{ source, ... }` wrappers, as opposed to a bare source. */
export function isImageInput<R>(value: ImageSource | ImageInput<R>): value is ImageInput<R> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !(value instanceof Uint8Array) &&
    !(value instanceof Readable) &&
    'source' in value
  );
}

/**
 * Reads a source fully into memory, refusing more than `maxBytes`. A file's size is checked
 * before reading it, and a stream is destroyed as soon as it passes the cap, so an oversized
 * input never gets buffered whole.
 *
 * @throws PreprocessError `EMPTY_INPUT`, `SOURCE_UNREADABLE` (missing file, a directory, a stream
 *   that errors), `SOURCE_TOO_LARGE`, `INVALID_INPUT` (not a source, or `{ bgr }` of the wrong length)
 */
export async function readSource(source: ImageSource, maxBytes = DEFAULT_MAX_SOURCE_BYTES): Promise<ReadSource> {
  let bytes: Buffer;
  if (typeof source === 'string') {
    bytes = await readFileCapped(source, maxBytes);
  } else if (source instanceof Uint8Array) {
    bytes = asBuffer(source);
    checkSize(bytes.length, maxBytes, 'buffer');
  } else if (source instanceof Readable) {
    bytes = await readStreamCapped(source, maxBytes);
  } else if (typeof source === 'object' && source !== null && 'bgr' in source) {
    const { bgr } = source;
    if (!(bgr instanceof Uint8Array)) {
      throw new PreprocessError('INVALID_INPUT', '{ bgr } must hold a Buffer or Uint8Array of 448x448x3 pixels');
    }
    if (bgr.length !== RAW_IMAGE_BYTES) {
      throw new PreprocessError(
        'INVALID_INPUT',
        `{ bgr } pixels must be exactly ${RAW_IMAGE_BYTES} bytes (448x448x3 BGR), got ${bgr.length}`,
        `length=${bgr.length}`,
      );
    }
    return { kind: 'bgr', bytes: asBuffer(bgr) };
  } else {
    throw new PreprocessError(
      'INVALID_INPUT',
      `not an image source: expected a Buffer, Uint8Array, file path, Readable or { bgr }, got ${describe(source)}`,
    );
  }
  if (bytes.length === 0) {
    throw new PreprocessError('EMPTY_INPUT', typeof source === 'string' ? `${source} is empty` : 'the image is empty (0 bytes)');
  }
  return { kind: 'encoded', bytes };
}

/** A view of the same memory: no copy for callers who hand over large buffers. */
function asBuffer(u8: Uint8Array): Buffer {
  return Buffer.isBuffer(u8) ? u8 : Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}

function checkSize(size: number, maxBytes: number, what: string): void {
  if (size > maxBytes) {
    throw new PreprocessError(
      'SOURCE_TOO_LARGE',
      `${what} is larger than maxSourceBytes (${maxBytes} bytes)`,
      `size=${size} maxSourceBytes=${maxBytes}`,
    );
  }
}

async function readFileCapped(path: string, maxBytes: number): Promise<Buffer> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw unreadable(path, err);
  }
  try {
    const stat = await handle.stat();
    if (stat.isDirectory()) {
      throw new PreprocessError('SOURCE_UNREADABLE', `${path} is a directory, not an image file`, 'EISDIR');
    }
    // Regular files are checked before reading; other kinds (FIFOs, devices) report size 0 and
    // are read through the capped loop below instead.
    if (stat.isFile()) checkSize(stat.size, maxBytes, path);
    return await readStreamCapped(handle.createReadStream({ autoClose: false }), maxBytes, path);
  } catch (err) {
    throw err instanceof PreprocessError ? err : unreadable(path, err);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

async function readStreamCapped(stream: Readable, maxBytes: number, what = 'stream'): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of stream) {
      if (typeof chunk === 'string' || !(chunk instanceof Uint8Array)) {
        throw new PreprocessError(
          'INVALID_INPUT',
          `${what} yielded ${typeof chunk === 'string' ? 'text' : typeof chunk} chunks; image streams must yield bytes (no setEncoding, no object mode)`,
        );
      }
      total += chunk.length;
      if (total > maxBytes) {
        checkSize(total, maxBytes, what); // throws; for-await's return() destroys the stream
      }
      chunks.push(asBuffer(chunk));
    }
  } catch (err) {
    stream.destroy();
    if (err instanceof PreprocessError) throw err;
    throw unreadable(what, err);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
}

function unreadable(what: string, err: unknown): PreprocessError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : err instanceof Error ? err.message : String(err);
  return new PreprocessError('SOURCE_UNREADABLE', `cannot read ${what}: ${reason}`, code ?? '', { cause: err });
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  return value.constructor?.name ?? 'object';
}
