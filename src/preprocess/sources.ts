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
  /**
   * `release`, present when the bytes were read into a reused buffer (`reuse`), hands the buffer
   * back for the next file: call it once nothing holds `bytes` any more (decoder done). When the
   * memory went to a worker thread and came back, pass the view that came back (`bytes` is then
   * detached); memory that never came back is simply not kept.
   */
  | { readonly kind: 'encoded'; readonly bytes: Buffer; readonly release?: (cameBack?: Buffer) => void }
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
export async function readSource(source: ImageSource, maxBytes = DEFAULT_MAX_SOURCE_BYTES, reuse = false): Promise<ReadSource> {
  let bytes: Buffer;
  if (typeof source === 'string') {
    bytes = await readFileCapped(source, maxBytes, source, reuse);
    if (reuse && bytes.length === 0) giveBack(bytes);
    else if (reuse) {
      const release = (cameBack?: Buffer): void => {
        // Memory moved to a worker thread comes back as another ArrayBuffer: still this read's alone.
        if (cameBack !== undefined && readBuffers.has(bytes.buffer)) readBuffers.add(cameBack.buffer);
        giveBack(cameBack ?? bytes);
      };
      return { kind: 'encoded', bytes, release };
    }
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

async function readFileCapped(path: PathLike, maxBytes: number, label = String(path), reuse = false): Promise<Buffer> {
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
    return await readWhole(handle, stat.size, maxBytes, label, reuse);
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
async function readWhole(handle: FileHandle, size: number, maxBytes: number, label: string, reuse: boolean): Promise<Buffer> {
  const buffer = (reuse ? takeBuffer(size) : undefined) ?? Buffer.allocUnsafe(size);
  let got = 0;
  try {
    while (got < size) {
      const { bytesRead } = await handle.read(buffer, got, size - got, got);
      if (bytesRead === 0) return buffer.subarray(0, got);
      got += bytesRead;
    }
  } catch (err) {
    if (reuse) giveBack(buffer);
    throw err;
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
  if (more.length === 0) return buffer;
  if (reuse) giveBack(buffer);
  return Buffer.concat([buffer, ...more], total);
}

/*
 * Read buffers kept for the next file. A file read into fresh memory costs a page fault per 4 KiB
 * the first time it is written, and on a VM a fault costs about 12 us: 4-5 ms for a 1.6 MB photo,
 * a tenth of preparing it (docs/performance.md). Memory handed back after an image is prepared is
 * already mapped. Only buffers that never leave prepareImage are reused (see its `reuse` rule);
 * at most a few, and never a large one, are kept idle, so what this holds is small and bounded.
 */
const POOL_BUFFERS = 4;
const POOL_BYTES = 32 * 1024 * 1024;
const POOL_LARGEST = 16 * 1024 * 1024;
/** Rounding of kept buffers, so that one serves files of nearby sizes. */
const POOL_STEP = 256 * 1024;
const idle: ArrayBuffer[] = [];
let idleBytes = 0;
/** The memory `takeBuffer` made: this module's alone (never Node's shared pool, never a caller's). */
const readBuffers = new WeakSet<ArrayBufferLike>();

/**
 * Whether `bytes` lies on a read buffer of this module, which nothing else can hold: its memory may
 * be moved to another thread and back. False for anything else, Node's shared Buffer pool included
 * (a small file that grew while read is concatenated there).
 */
export function onReadBuffer(bytes: Buffer): boolean {
  return readBuffers.has(bytes.buffer);
}

/** A view of `size` bytes on an idle buffer that holds them (the smallest such), or a new one. */
function takeBuffer(size: number): Buffer | undefined {
  if (size === 0 || size > POOL_LARGEST) return undefined;
  let best = -1;
  for (let i = 0; i < idle.length; i++) {
    if (idle[i]!.byteLength >= size && (best < 0 || idle[i]!.byteLength < idle[best]!.byteLength)) best = i;
  }
  if (best < 0) {
    const memory = Buffer.allocUnsafeSlow(Math.ceil(size / POOL_STEP) * POOL_STEP).buffer;
    readBuffers.add(memory);
    return Buffer.from(memory, 0, size);
  }
  const [found] = idle.splice(best, 1);
  idleBytes -= found!.byteLength;
  return Buffer.from(found!, 0, size);
}

/** Keeps the memory under `bytes` for the next file when there is room, else leaves it to the GC. */
function giveBack(bytes: Buffer): void {
  const ab = bytes.buffer as ArrayBuffer;
  // Only this module's own memory is kept: never Node's shared Buffer pool (where a small file that
  // grew while read is concatenated), even when its size looks like ours. A detached buffer (moved
  // to a worker thread, and not back) has a byteLength of 0.
  if (!readBuffers.has(ab) || ab.byteLength === 0 || ab.byteLength > POOL_LARGEST || idle.includes(ab)) return;
  if (idle.length >= POOL_BUFFERS || idleBytes + ab.byteLength > POOL_BYTES) return;
  idle.push(ab);
  idleBytes += ab.byteLength;
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
