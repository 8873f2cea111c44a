/**
 * `decodeThread: 'worker'`: decoding and resizing on a worker thread, one per copy of this module
 * (in practice, one per thread that loads athena-rx), started with the first image.
 *
 * Why: sharp hands each decoded image to V8 as a Buffer of external memory (10.8 MB for a 3.6 MP
 * photo), which V8 frees only when it collects, and which makes full collections of the heap it
 * lands in due. In a process whose own heap is large (an application's), each such collection
 * costs more than in the bench's small process: on the photo corpus, beside 64 MB of live
 * objects, 75.9 CPU ms per image on the calling thread of a plain node against 37.0 on a worker,
 * whose heap holds little more than the decoder (docs/performance.md, "Decoding on a worker
 * thread"). Only the 448x448 pixels (602 KB) cross back, moved rather than copied.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
// Loaded on this thread before any worker loads it: glibc would otherwise unload libvips when a
// worker that loaded it first ends, under threads still using it (sharp's advice, lovell/sharp#2263).
import 'sharp';
import type { DecodeOptions } from './decode';
import type { DecodeReply, DecodeRequest } from './decodeWorker';
import { PreprocessError } from './errors';
import type { ModelPixels } from './pixels';

/** The worker's entry, beside this module in the built package (not in the TypeScript sources). */
const ENTRY = join(__dirname, 'decodeWorker.js');

let entryFound = false;

/** Why `decodeThread: 'worker'` cannot run here, or undefined when it can (looked up until found). */
export function workerUnavailable(): string | undefined {
  entryFound ||= existsSync(ENTRY);
  return entryFound
    ? undefined
    : `decodeThread 'worker' needs athena-rx's built files: ${ENTRY} is missing (running from the TypeScript sources?)`;
}

interface Waiting {
  resolve(reply: DecodeReply): void;
  reject(err: PreprocessError): void;
}

let worker: Worker | undefined;
const waiting = new Map<number, Waiting>();
let nextId = 0;

/**
 * Fails every image the worker held, once: it stopped (or its answers cannot be read), and the
 * next image starts another. A worker given up while still running no longer keeps the process up.
 */
function lost(from: Worker, why: string): void {
  if (worker !== from) return;
  worker = undefined;
  // Not terminated: a thread may be inside libvips, and ending it there can take the process
  // down (lovell/sharp#2263); unref'd, it no longer holds the process open.
  from.unref();
  const err = new PreprocessError('DECODE_FAILED', `the decoding worker thread stopped (${why}) before this image was decoded`);
  for (const w of waiting.values()) w.reject(err);
  waiting.clear();
}

function started(): Worker {
  if (worker) return worker;
  const w = new Worker(ENTRY);
  w.on('message', (reply: DecodeReply) => {
    const entry = waiting.get(reply.id);
    waiting.delete(reply.id);
    // An idle worker must not keep the process alive; a busy one must, or a program whose only
    // pending work is an image being decoded would exit before its result.
    if (waiting.size === 0) w.unref();
    entry?.resolve(reply);
  });
  w.on('error', (err) => lost(w, err.message));
  w.on('messageerror', (err) => lost(w, `an answer could not be read: ${err.message}`));
  w.on('exit', (code) => lost(w, `exit code ${code}`));
  worker = w;
  return w;
}

/**
 * `toModelPixels` of `bytes` on the worker thread: the pixels, or the image's `PreprocessError`.
 * With `move`, the memory under `bytes` (which must be the caller's alone) is moved to the worker
 * and back, and the view on it that comes back replaces `bytes`; otherwise the worker gets a copy
 * and `bytes` stays as it is. Rejects only when the worker thread itself stopped.
 */
export async function toModelPixelsOnWorker(
  bytes: Buffer,
  options: DecodeOptions,
  move: boolean,
): Promise<{ readonly bytes: Buffer; readonly outcome: ModelPixels | PreprocessError }> {
  const w = started();
  const id = nextId++;
  const sent = move ? bytes : new Uint8Array(bytes);
  const request: DecodeRequest = { id, bytes: sent, ...(options.maxPixels === undefined ? {} : { maxPixels: options.maxPixels }) };
  const reply = await new Promise<DecodeReply>((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    w.ref();
    try {
      w.postMessage(request, [sent.buffer as ArrayBuffer]);
    } catch (err) {
      // Not sent (memory that cannot move): this image fails alone, and leaves nothing waiting.
      waiting.delete(id);
      if (waiting.size === 0) w.unref();
      reject(new PreprocessError('DECODE_FAILED', `could not hand the image to the decoding worker thread: ${(err as Error).message}`));
    }
  });
  const back = move ? Buffer.from(reply.bytes.buffer, reply.bytes.byteOffset, reply.bytes.byteLength) : bytes;
  if ('error' in reply) return { bytes: back, outcome: new PreprocessError(reply.error.code, reply.error.message, reply.error.details) };
  const pixels = Buffer.from(reply.pixels.buffer, reply.pixels.byteOffset, reply.pixels.byteLength);
  return { bytes: back, outcome: { pixels, decoded: reply.decoded, decodeMs: reply.decodeMs, resizeMs: reply.resizeMs } };
}
