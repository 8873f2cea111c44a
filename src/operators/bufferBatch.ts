import { asyncScheduler, Observable, type OperatorFunction, type SchedulerLike, type Subscription } from 'rxjs';
import { callUser, THREW } from '../core/guard';
import { InvalidOptionError } from '../core/invalidOptionError';
import { checkFunction, checkMethods, renamed } from '../core/options';

/** Options of {@link bufferBatch}. */
export interface BufferBatchOptions<T> {
  /** Most items in one batch. Default 32 (the service recommends 10-50 images per request). */
  readonly maxCount?: number;
  /**
   * Most bytes in one batch, as counted by `sizeOf`: a batch is emitted before the item that would
   * pass it. An item larger than this on its own goes alone. Default 4 MiB - 64 KiB, under gRPC's
   * default 4 MiB receive limit with room for the other fields.
   */
  readonly maxBytes?: number;
  /** Milliseconds after the first item of a batch arrived before the batch goes anyway. Default 50. */
  readonly maxWaitMs?: number;
  /** @deprecated Renamed `maxWaitMs` (spans end in `Ms`); this name goes in the next minor version. */
  readonly maxWait?: number;
  /** Bytes an item adds to a batch. Default: `data.byteLength` for a prepared image, 0 otherwise. */
  readonly sizeOf?: (item: T) => number;
  /** Where `maxWait` is measured. Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
}

/** Default of {@link BufferBatchOptions.maxCount}: inside the service's recommended 10-50. */
export const DEFAULT_MAX_BATCH_COUNT = 32;
/** Default of {@link BufferBatchOptions.maxWait}, in milliseconds. */
export const DEFAULT_MAX_BATCH_WAIT = 50;
/** Default of {@link BufferBatchOptions.maxBytes}: 4 MiB minus 64 KiB of headroom. */
export const DEFAULT_MAX_BATCH_BYTES = 4 * 1024 * 1024 - 64 * 1024;

/** Byte size of a prepared image's `data`; 0 for anything else (failures ride along for free). */
export function defaultSizeOf(item: unknown): number {
  if (typeof item === 'object' && item !== null && (item as { kind?: unknown }).kind === 'prepared') {
    const data = (item as { data?: { byteLength?: unknown } }).data;
    if (data && typeof data.byteLength === 'number') return data.byteLength;
  }
  return 0;
}

/**
 * Groups items into batches that close on a count, a byte budget or a time limit, whichever comes
 * first; never emits an empty batch.
 *
 * Use it between `preprocess()` and `classify()` so that each `ClassifyRequest` carries a
 * sensible number of images, stays under the message size limit, and a slow trickle of images
 * still leaves within `maxWait`.
 *
 * ```text
 * source:  --a-b-c-d-------e----|
 *          bufferBatch({ maxCount: 3, maxWaitMs: 5 })
 * result:  ------x------y-------(z|)     x = [a,b,c]  y = [d] (5 ms after d)  z = [e]
 * ```
 *
 * On completion the partial batch goes out before the completion; on error it is dropped and the
 * error passes through.
 *
 * @example
 * ```ts
 * prepared$.pipe(bufferBatch({ maxCount: 32, maxWaitMs: 50 })).subscribe((batch) => console.log(batch.length));
 * ```
 *
 * @param options.maxCount Most items per batch; default 32.
 * @param options.maxBytes Byte budget per batch; default `DEFAULT_MAX_BATCH_BYTES` (4 MiB - 64 KiB).
 * @param options.maxWaitMs Milliseconds a batch may wait after its first item; default 50 (deprecated name `maxWait`).
 * @param options.sizeOf Bytes of one item; default the byte length of a prepared image's data.
 * @param options.scheduler Scheduler of the `maxWait` timer; default `asyncScheduler`.
 * @see preprocess
 * @see classify
 */
export function bufferBatch<T>(options: BufferBatchOptions<T> = {}): OperatorFunction<T, T[]> {
  const maxCount = options.maxCount ?? DEFAULT_MAX_BATCH_COUNT;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BATCH_BYTES;
  const maxWait = renamed('bufferBatch', 'maxWaitMs', options.maxWaitMs, 'maxWait', options.maxWait) ?? DEFAULT_MAX_BATCH_WAIT;
  const sizeOf = options.sizeOf ?? defaultSizeOf;
  const scheduler = options.scheduler ?? asyncScheduler;
  if (!Number.isInteger(maxCount) || maxCount < 1)
    throw new InvalidOptionError(`bufferBatch: maxCount must be an integer >= 1, got ${maxCount}`);
  if (!(maxBytes > 0)) throw new InvalidOptionError(`bufferBatch: maxBytes must be > 0, got ${maxBytes}`);
  if (!(maxWait >= 0)) throw new InvalidOptionError(`bufferBatch: maxWaitMs must be >= 0, got ${maxWait}`);
  checkFunction('bufferBatch', 'sizeOf', options.sizeOf);
  checkMethods('bufferBatch', 'scheduler', options.scheduler, ['schedule', 'now']);

  return (source) =>
    new Observable<T[]>((subscriber) => {
      let batch: T[] = [];
      let bytes = 0;
      let timer: Subscription | undefined;

      const take = (): T[] => {
        timer?.unsubscribe();
        timer = undefined;
        const out = batch;
        batch = [];
        bytes = 0;
        return out;
      };
      const flush = (): void => {
        if (batch.length > 0) subscriber.next(take());
      };

      const subscription = source.subscribe({
        // The state is settled before anything is emitted, so a value the source pushes while a
        // batch is being handled downstream (re-entrancy) lands after this one, in a new batch.
        next: (item) => {
          // As RxJS's own operators do with a throwing callback: an error notification, not an
          // exception thrown out of band that would leave the pipeline hanging.
          const size = callUser(subscriber, () => sizeOf(item));
          if (size === THREW) {
            timer?.unsubscribe();
            batch = [];
            return;
          }
          const full = batch.length > 0 && bytes + size > maxBytes ? take() : undefined;
          batch.push(item);
          bytes += size;
          const done = batch.length >= maxCount || bytes >= maxBytes ? take() : undefined;
          if (!done && batch.length === 1) timer = scheduler.schedule(flush, maxWait);
          if (full) subscriber.next(full);
          if (done) subscriber.next(done);
        },
        error: (err: unknown) => {
          timer?.unsubscribe();
          batch = [];
          subscriber.error(err);
        },
        complete: () => {
          flush();
          subscriber.complete();
        },
      });

      return () => {
        subscription.unsubscribe();
        timer?.unsubscribe();
        batch = [];
      };
    });
}
