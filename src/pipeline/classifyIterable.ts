import { Observable, type OperatorFunction } from 'rxjs';
import type { ImageInput, ImageSource } from '../preprocess/types';
import type { ClassifyTransport } from '../transport/types';
import { classifyImages, windowSizeOf, type ClassifyImagesOptions, type RefFor } from './classifyImages';
import type { ClassificationEvent } from '../operators/results';
import { InvalidOptionError } from '../core/invalidOptionError';

type Source<R> = ImageSource | ImageInput<R>;

function iteratorOf<T>(sources: Iterable<T> | AsyncIterable<T>): Iterator<T> | AsyncIterator<T> {
  const asyncIt = (sources as AsyncIterable<T>)[Symbol.asyncIterator];
  if (typeof asyncIt === 'function') return asyncIt.call(sources);
  const it = (sources as Iterable<T>)[Symbol.iterator];
  if (typeof it === 'function') return it.call(sources);
  throw new InvalidOptionError('classifyIterable: sources must be an Iterable or an AsyncIterable');
}

/**
 * Classifies the images of an `Iterable` or `AsyncIterable` and yields one result per image (and
 * `foreign` events in a shared deployment), for code that does not use RxJS.
 *
 * Sources are pulled lazily: at most `window` images (default 128) are taken from `sources`
 * and not yet handed to your loop, so a slow consumer slows the reading of the source down and
 * nothing piles up. Leaving the loop early (`break`, `return`, an exception) cancels the stream
 * and closes the source iterator.
 *
 * @example
 * ```ts
 * import { classifyIterable, createAthenaClient, insecure } from 'athena-rx';
 *
 * async function main(paths: AsyncIterable<string>) {
 *   const client = createAthenaClient({ address: '127.0.0.1:50051', credentials: insecure() });
 *   for await (const result of classifyIterable(client, paths)) {
 *     if (result.kind === 'success') console.log(result.ref, result.classifications);
 *   }
 *   client.close();
 * }
 * ```
 *
 * @param client The client (`createAthenaClient`) or any `ClassifyTransport`.
 * @param sources Image sources (paths, buffers, `{ bgr }`, `ImageInput`s).
 * @param options As for {@link classifyImages}; `window` also bounds what is pulled from `sources`.
 * @see classifyImages
 * @see classifyAll
 */
export async function* classifyIterable<R = unknown, S extends ImageSource | ImageInput<R> = ImageSource | ImageInput<R>>(
  client: ClassifyTransport,
  sources: Iterable<S> | AsyncIterable<S>,
  options: ClassifyImagesOptions<RefFor<R, S>> = {},
): AsyncGenerator<ClassificationEvent<RefFor<R, S>>, void, undefined> {
  type Ref = RefFor<R, S>;
  const limit = typeof options.window === 'object' ? options.window.size : windowSizeOf(options);
  const iterator = iteratorOf(sources);
  /** Sources pulled minus results handed to the consumer. */
  let outstanding = 0;
  let wakePuller: (() => void) | undefined;
  let wakeConsumer: (() => void) | undefined;
  const wake = (which: 'puller' | 'consumer'): void => {
    const w = which === 'puller' ? wakePuller : wakeConsumer;
    if (which === 'puller') wakePuller = undefined;
    else wakeConsumer = undefined;
    w?.();
  };

  const input$ = new Observable<Source<Ref>>((subscriber) => {
    let stopped = false;
    void (async () => {
      try {
        while (!stopped) {
          if (outstanding >= limit) {
            await new Promise<void>((resolve) => (wakePuller = resolve));
            continue;
          }
          const next = await iterator.next();
          if (stopped) return;
          if (next.done) break;
          outstanding += 1;
          subscriber.next(next.value as Source<Ref>);
        }
        if (!stopped) subscriber.complete();
      } catch (err) {
        if (!stopped) subscriber.error(err);
      }
    })();
    return () => {
      stopped = true;
      wake('puller');
    };
  });

  const queue: ClassificationEvent<Ref>[] = [];
  let finished = false;
  let failed = false;
  let error: unknown;
  const subscription = input$
    .pipe(classifyImages(client, options as ClassifyImagesOptions) as unknown as OperatorFunction<Source<Ref>, ClassificationEvent<Ref>>)
    .subscribe({
      next: (event) => {
        queue.push(event);
        wake('consumer');
      },
      error: (err: unknown) => {
        failed = true;
        error = err;
        finished = true;
        wake('consumer');
      },
      complete: () => {
        finished = true;
        wake('consumer');
      },
    });

  try {
    for (;;) {
      const event = queue.shift();
      if (event) {
        if (event.kind !== 'foreign') {
          outstanding -= 1;
          wake('puller');
        }
        yield event;
        continue;
      }
      if (finished) {
        if (failed) throw error;
        return;
      }
      await new Promise<void>((resolve) => (wakeConsumer = resolve));
    }
  } finally {
    subscription.unsubscribe();
    await iterator.return?.();
  }
}
