import { constants, type PathLike, type Stats } from 'node:fs';
import { open, stat as statPath, type FileHandle } from 'node:fs/promises';
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
  return typeof value === 'object' && value !== null && !(value instanceof Uint8Array) && !(value instanceof Readable) && 'source' in value;
}

/**
 * Reads a source fully into memory, refusing more than `maxBytes`. A file's size is checked
 * before reading it, and a stream is destroyed as soon as it passes the cap, so an oversized
 * input never gets buffered whole.
 *
 * A path must name a regular file: a FIFO, a device or a socket is refused without waiting on it
 * (the file is opened non-blocking and the opened descriptor checked, so a file swapped for a FIFO
 * after a folder walk cannot hang the read).
 *
 * @throws PreprocessError `EMPTY_INPUT`, `SOURCE_UNREADABLE` (missing file, a directory, a FIFO, a
 *   device, a socket, a stream that errors), `SOURCE_TOO_LARGE`, `INVALID_INPUT` (not a source, or
 *   `{ bgr }` of the wrong length)
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

/**
 * Opens without blocking: `open()` of a FIFO with no writer would otherwise wait for ever, holding
 * one of libuv's few threads. `O_NONBLOCK` changes nothing for regular files, the only kind read.
 */
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0);

/** What a file that is not a regular file is, for messages. */
function kindOf(s: Stats): string | undefined {
  if (s.isFile()) return undefined;
  if (s.isDirectory()) return 'a directory';
  if (s.isFIFO()) return 'a named pipe (FIFO)';
  if (s.isSocket()) return 'a socket';
  if (s.isCharacterDevice() || s.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/**
 * Reads the regular file at `path` (a string or, for names that are not valid UTF-8, the name's
 * bytes as a `Buffer`), refusing more than `maxBytes` and anything that is not a regular file.
 * `label` names it in messages (default: the path).
 *
 * @throws PreprocessError `SOURCE_UNREADABLE`, `SOURCE_TOO_LARGE`, `EMPTY_INPUT`
 */
export async function readFileSource(path: PathLike, maxBytes = DEFAULT_MAX_SOURCE_BYTES, label = String(path)): Promise<Buffer> {
  const bytes = await readFileCapped(path, maxBytes, label);
  if (bytes.length === 0) throw new PreprocessError('EMPTY_INPUT', `${label} is empty`);
  return bytes;
}

async function readFileCapped(path: PathLike, maxBytes: number, label = String(path)): Promise<Buffer> {
  let handle;
  try {
    handle = await open(path, OPEN_FLAGS);
  } catch (err) {
    // Linux refuses to open a Unix socket (ENXIO); say what it is.
    if ((err as NodeJS.ErrnoException)?.code === 'ENXIO') {
      const s = await statPath(path).catch(() => undefined);
      if (s && !s.isFile()) throw notRegular(label, s);
    }
    throw unreadable(label, err);
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw notRegular(label, stat);
    checkSize(stat.size, maxBytes, label);
    return await readWhole(handle, stat.size, maxBytes, label);
  } catch (err) {
    throw err instanceof PreprocessError ? err : unreadable(label, err);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** Bytes asked for at a time past the size `fstat` gave (a file that grew), and the probe for that. */
const GROWTH_CHUNK = 64 * 1024;

/**
 * Reads an opened regular file into one buffer of the size `fstat` gave: one allocation and,
 * for a file in the page cache, one `read`, with no list of chunks to concatenate (a stream of
 * 64 KiB chunks then `Buffer.concat` copied every byte once more and fed the collector). A file
 * that shrank since is returned as far as it goes; one that grew (or a file whose size the
 * kernel reports as 0, as in /proc) is read on in chunks, still refused past `maxBytes`.
 */
async function readWhole(handle: FileHandle, size: number, maxBytes: number, label: string): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(size);
  let got = 0;
  while (got < size) {
    const { bytesRead } = await handle.read(buffer, got, size - got, got);
    if (bytesRead === 0) return buffer.subarray(0, got);
    got += bytesRead;
  }
  // At the size fstat gave: end of file, unless the file grew meanwhile.
  const more: Buffer[] = [];
  let total = got;
  for (;;) {
    const chunk = Buffer.allocUnsafe(GROWTH_CHUNK);
    const { bytesRead } = await handle.read(chunk, 0, GROWTH_CHUNK, total);
    if (bytesRead === 0) break;
    total += bytesRead;
    checkSize(total, maxBytes, label);
    more.push(chunk.subarray(0, bytesRead));
  }
  return more.length === 0 ? buffer : Buffer.concat([buffer, ...more], total);
}

function notRegular(label: string, s: Stats): PreprocessError {
  const kind = kindOf(s) ?? 'not a regular file';
  const code = s.isDirectory() ? 'EISDIR' : s.isFIFO() ? 'EFIFO' : s.isSocket() ? 'ESOCKET' : 'ENOTREG';
  return new PreprocessError('SOURCE_UNREADABLE', `${label} is ${kind}, not an image file`, code);
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
  const reason =
    code === 'ENOENT'
      ? 'no such file'
      : code === 'EISDIR'
        ? 'is a directory'
        : code === 'EACCES'
          ? 'permission denied'
          : err instanceof Error
            ? err.message
            : String(err);
  return new PreprocessError('SOURCE_UNREADABLE', `cannot read ${what}: ${reason}`, code ?? '', { cause: err });
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  return value.constructor?.name ?? 'object';
}
