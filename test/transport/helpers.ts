import { firstValueFrom, lastValueFrom, type Observable, toArray } from 'rxjs';
import { RAW_IMAGE_BYTES, type ClassificationInput, type ClassifyResponse } from '../../src/contract/messages';

/** A valid raw 448x448 BGR image; `seed` varies the pixels. */
export function rawImage(correlationId: string, seed = 1): Partial<ClassificationInput> {
  // Byte i is (i * seed + seed) & 0xff, which repeats every 256 bytes: one period, then fill()
  // repeats it (a loop over all 602,112 bytes cost 7 ms an image under Jest).
  const period = Buffer.alloc(256);
  for (let i = 0; i < 256; i++) period[i] = (i * seed + seed) & 0xff;
  const data = Buffer.alloc(RAW_IMAGE_BYTES, period);
  return { correlationId, data, format: 'IMAGE_FORMAT_RAW_UINT8_BGR' };
}

/** Resolves when `predicate` holds, polling every 10 ms; rejects after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Every correlation id answered in a list of responses. */
export const answeredIds = (responses: ClassifyResponse[]): string[] =>
  responses.flatMap((r) => r.outputs.map((o) => o.correlationId)).sort();

/** The error an Observable ends with (fails the test if it completes). */
export async function errorOf<T>(source: Observable<T>): Promise<unknown> {
  return lastValueFrom(source.pipe(toArray())).then(
    () => {
      throw new Error('expected the Observable to error, it completed');
    },
    (e: unknown) => e,
  );
}

export { firstValueFrom, lastValueFrom };
