/**
 * The worker thread of `decodeThread: 'worker'` (see ./decodeThread): decodes and resizes each
 * image the parent thread posts, and posts back the 448x448 pixels together with the image's
 * bytes, so that the parent can read its next file into them (./sources keeps read buffers).
 *
 * This module only runs as a worker's entry; the parent imports nothing from it but types.
 */
import { parentPort } from 'node:worker_threads';
import type { PreprocessErrorCode } from '../core/codes';
import { PreprocessError } from './errors';
import { toModelPixels } from './pixels';

/** One image to decode: its bytes (moved, never shared) and the decoder's pixel limit. */
export interface DecodeRequest {
  readonly id: number;
  readonly bytes: Uint8Array;
  readonly maxPixels?: number;
}

/** The answer to a `DecodeRequest`, with its bytes given back. */
export type DecodeReply =
  | {
      readonly id: number;
      readonly bytes: Uint8Array;
      readonly pixels: Uint8Array;
      readonly decoded: { readonly width: number; readonly height: number };
      readonly decodeMs: number;
      readonly resizeMs: number;
    }
  | {
      readonly id: number;
      readonly bytes: Uint8Array;
      readonly error: { readonly code: PreprocessErrorCode; readonly message: string; readonly details: string };
    };

/** Whether `view` is the whole of its memory, so that moving that memory moves nothing else. */
const whole = (view: Uint8Array) => view.byteOffset === 0 && view.buffer.byteLength === view.length;

async function answer(port: NonNullable<typeof parentPort>, { id, bytes, maxPixels }: DecodeRequest): Promise<void> {
  let reply: DecodeReply;
  const transfer: ArrayBuffer[] = [bytes.buffer as ArrayBuffer];
  try {
    const image = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const { pixels, decoded, decodeMs, resizeMs } = await toModelPixels(image, maxPixels === undefined ? {} : { maxPixels });
    reply = { id, bytes, pixels, decoded, decodeMs, resizeMs };
    if (whole(pixels)) transfer.push(pixels.buffer as ArrayBuffer);
  } catch (err) {
    // A PreprocessError keeps its code; anything else is this image's decoding failing.
    const error =
      err instanceof PreprocessError
        ? { code: err.code, message: err.message, details: err.details }
        : {
            code: 'DECODE_FAILED' as const,
            message: `could not prepare the image: ${err instanceof Error ? err.message : String(err)}`,
            details: err instanceof Error ? err.name : '',
          };
    reply = { id, bytes, error };
  }
  try {
    port.postMessage(reply, transfer);
  } catch (err) {
    // Not sent (memory that cannot move): this image fails alone, its bytes not given back.
    const message = `could not hand the pixels back from the decoding worker thread: ${(err as Error).message}`;
    port.postMessage({ id, bytes: new Uint8Array(0), error: { code: 'DECODE_FAILED', message, details: '' } } satisfies DecodeReply);
  }
}

const port = parentPort;
if (port) {
  port.on('message', (request: DecodeRequest) => void answer(port, request));
  // A request that cannot be read has no id to answer: ending this thread fails, in the parent,
  // every image it held (each once), and the next image starts another worker.
  port.on('messageerror', () => process.exit(1));
}
