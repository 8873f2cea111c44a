import { availableParallelism } from 'node:os';
import { asyncScheduler, defer, Observable, Subscription, type ObservableInput, type OperatorFunction, type SchedulerLike } from 'rxjs';
import { defaultCorrelationIds, type CorrelationIdGenerator } from '../preprocess/correlationId';
import { PreprocessError } from '../preprocess/errors';
import { checkPrepareOptions, prepareImage, type PrepareOptions } from '../preprocess/prepare';
import { isImageInput } from '../preprocess/sources';
import type { ImageInput, ImageSource, PreparedImage } from '../preprocess/types';
import type { InFlightWindow } from './inFlightWindow';
import type { ClassificationFailure } from './results';
import { InvalidOptionError } from '../core/invalidOptionError';
import { checkFunction, checkMethods } from '../core/options';
import { NotAttemptedError } from '../core/notAttempted';
import { callUser, markUserErrors, THREW, UserCallbackError } from '../core/guard';

/**
 * The default `concurrency` of {@link preprocess}: `os.availableParallelism() + 2`.
 *
 * An image is decoded on the libuv thread pool and then resized and hashed on the main thread.
 * With only one image per CPU in flight, the decoders sit idle while the main thread finishes
 * the images they decoded; two more keep every CPU decoding. On the 2-core CI machine,
 * `preprocess()` over the sample photos went from 184 images/s at 2 to 231 at 4 (6 gave 234):
 * see docs/performance.md. Each image in flight holds its decoded pixels, so memory grows with it.
 */
export const defaultConcurrency = (): number => availableParallelism() + 2;

/** Options of {@link preprocess}: how many images at once, in which order, and how to prepare each. */
export interface PreprocessOptions<R = unknown> extends PrepareOptions {
  /** Most images prepared at once. Default {@link defaultConcurrency}: CPUs + 2. */
  readonly concurrency?: number;
  /**
   * `'completion'`: each image as soon as it is ready (highest throughput). `'source'`: in the
   * order the images arrived; a slow image holds back those after it, at most `concurrency` of
   * them. Default `'completion'`.
   */
  readonly order?: 'completion' | 'source';
  /**
   * A credit gate shared with `classify()`: one credit is taken per image before it is prepared;
   * when the result (prepared or failed) is emitted, its correlation id holds the credit
   * (`window.hold(id)`) for `classify()` to give back by that id. Credits of images this operator
   * drops on unsubscription are given back here.
   */
  readonly window?: Pick<InFlightWindow, 'acquire' | 'release' | 'hold'>;
  /** Prepares one image. Default `prepareImage(input, options)`; tests inject their own. */
  readonly prepare?: (input: ImageSource | ImageInput<R>) => ObservableInput<PreparedImage<R>>;
  /**
   * Ids for failed images that have no caller id (a prepared image's id comes from `prepare`).
   * Default: the process-wide generator that `prepareImage` uses too.
   */
  readonly ids?: CorrelationIdGenerator;
  /** Where `prepareMs` of a failure is measured. Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
}

/**
 * Prepares each image (read, decode, resize to 448x448 BGR, hash, id, optional Brotli) with
 * bounded concurrency; an image that cannot be prepared becomes a `ClassificationFailure` with
 * `stage: 'preprocess'`, and the stream goes on.
 *
 * Use it at the head of a classification pipeline, before `bufferBatch()` and `classify()`;
 * it never drops an image and never errors because of one: exactly one value per source value.
 *
 * ```text
 * source:  -a--b--c--------|
 *          preprocess({ concurrency: 2, order: 'source' })   (a takes 6, b 2, c 2 frames)
 * result:  -------(ab)--c--|                                   b waits for a
 * ```
 *
 * The source is subscribed once and its values queue while `concurrency` images are being
 * prepared (as `mergeMap` queues them); with `order: 'source'` a finished image keeps its slot
 * until it is emitted, so at most `concurrency` results wait for a slow one. An error or
 * completion of the source is passed on (completion once every queued image is out).
 *
 * @example
 * ```ts
 * import { from } from 'rxjs';
 * import { preprocess } from 'athena-rx';
 *
 * from(['a.jpg', 'b.png', 'missing.gif'])
 *   .pipe(preprocess({ concurrency: 2, encoding: 'brotli' }))
 *   .subscribe((r) => console.log(r.kind === 'prepared' ? r.correlationId : `${r.ref}: ${r.code}`));
 * ```
 *
 * @param options.concurrency Images prepared at once; default {@link defaultConcurrency} (CPUs + 2).
 * @param options.order `'completion'` (default) or `'source'`.
 * @param options.window Credit gate shared with `classify()`; default none.
 * @param options.prepare How one image is prepared; default `prepareImage` with these options.
 * @param options.ids Ids for failures without a caller id; default the process-wide generator.
 * @param options.scheduler Clock of failure timings; default `asyncScheduler`.
 * @param options Also every `PrepareOptions` field (`hashes`, `encoding`, `passThrough`, ...).
 * @see prepareImage
 * @see bufferBatch
 * @see classify
 * @see inFlightWindow
 */
export function preprocess<R = unknown>(
  options: PreprocessOptions<R> = {},
): OperatorFunction<ImageSource | ImageInput<R>, PreparedImage<R> | ClassificationFailure<R>> {
  const concurrency = options.concurrency ?? defaultConcurrency();
  const inSourceOrder = (options.order ?? 'completion') === 'source';
  // A throwing id factory is a programming error, not a bad image: marked, it ends the stream.
  const prepareOptions: PrepareOptions = options.correlationId
    ? { ...options, correlationId: markUserErrors('preprocess: the correlationId factory', options.correlationId) }
    : options;
  const prepare = options.prepare ?? ((input: ImageSource | ImageInput<R>) => prepareImage(input, prepareOptions));
  const scheduler = options.scheduler ?? asyncScheduler;
  const { window } = options;
  checkOptions(options, concurrency);

  type Result = PreparedImage<R> | ClassificationFailure<R>;
  type Job = PreprocessJob<R>;

  return (source) =>
    new Observable<Result>((subscriber) => {
      const queue: Array<ImageSource | ImageInput<R>> = [];
      /** Started and not yet emitted, by source index. */
      const jobs = new Map<number, Job>();
      /** Finished results waiting for their turn (source order only). */
      const ready = new Map<number, Result>();
      let nextIndex = 0;
      let nextToEmit = 0;
      let sourceDone = false;
      let pumping = false;

      const emit = (job: Job, result: Result): void => {
        jobs.delete(job.index);
        job.work.unsubscribe();
        // The credit now belongs to the image's correlation id, whatever object carries it on.
        if (job.credit) window?.hold(result.correlationId);
        subscriber.next(result);
      };

      const finish = (job: Job, result: Result): void => {
        if (!inSourceOrder) {
          emit(job, result);
        } else {
          ready.set(job.index, result);
          while (ready.has(nextToEmit)) {
            const r = ready.get(nextToEmit)!;
            ready.delete(nextToEmit);
            emit(jobs.get(nextToEmit)!, r);
            nextToEmit++;
          }
        }
        pump();
      };

      const start = (input: ImageSource | ImageInput<R>): void => {
        const index = nextIndex++;
        const work = new Subscription();
        const job: Job = { index, input, work, credit: false };
        jobs.set(index, job);
        const startedAt = scheduler.now();
        const run = (): void => {
          work.add(
            prepareOne(prepare, input, (outcome) => {
              if ('prepared' in outcome) return finish(job, outcome.prepared);
              if (outcome.error instanceof UserCallbackError) return subscriber.error(outcome.error.cause);
              const failure = callUser(subscriber, () => toFailure(input, outcome.error, scheduler.now() - startedAt, options.ids));
              if (failure !== THREW) finish(job, failure);
            }),
          );
        };
        if (!window) {
          run();
          return;
        }
        work.add(
          window.acquire().subscribe(() => {
            job.credit = true;
            run();
          }),
        );
      };

      // Starts queued images while slots are free, then completes when everything is out. The
      // flag makes re-entrant calls (a result emitted synchronously, a value pushed while
      // handling one) fall through to the loop already running.
      const pump = (): void => {
        if (pumping) return;
        pumping = true;
        try {
          while (queue.length > 0 && jobs.size < concurrency && !subscriber.closed) start(queue.shift()!);
        } finally {
          pumping = false;
        }
        if (sourceDone && queue.length === 0 && jobs.size === 0) subscriber.complete();
      };

      const sourceSubscription = source.subscribe({
        next: (input) => {
          queue.push(input);
          pump();
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => {
          sourceDone = true;
          pump();
        },
      });

      return () => {
        sourceSubscription.unsubscribe();
        for (const job of jobs.values()) {
          job.work.unsubscribe();
          // Dropped before reaching classify(), which would have given its credit back.
          if (job.credit) window?.release(1);
        }
        jobs.clear();
        ready.clear();
        queue.length = 0;
      };
    });
}

/** One image being prepared: its place in the source, its work, whether it took a credit. */
interface PreprocessJob<R> {
  readonly index: number;
  readonly input: ImageSource | ImageInput<R>;
  readonly work: Subscription;
  credit: boolean;
}

function checkOptions<R>(options: PreprocessOptions<R>, concurrency: number): void {
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new InvalidOptionError(`preprocess: concurrency must be an integer >= 1, got ${concurrency}`);
  }
  checkPrepareOptions(options);
  if (options.order !== undefined && options.order !== 'completion' && options.order !== 'source') {
    throw new InvalidOptionError(`preprocess: order must be 'completion' or 'source', got ${JSON.stringify(options.order)}`);
  }
  checkFunction('preprocess', 'prepare', options.prepare);
  checkMethods('preprocess', 'window', options.window, ['acquire', 'release', 'hold']);
  checkMethods('preprocess', 'scheduler', options.scheduler, ['schedule', 'now']);
}

/** Runs `prepare` on one input and reports its first outcome once (a completion without an image is an error). */
function prepareOne<R>(
  prepare: (input: ImageSource | ImageInput<R>) => ObservableInput<PreparedImage<R>>,
  input: ImageSource | ImageInput<R>,
  onOutcome: (outcome: { prepared: PreparedImage<R> } | { error: unknown }) => void,
): Subscription {
  let done = false;
  const once = (outcome: { prepared: PreparedImage<R> } | { error: unknown }): void => {
    if (done) return;
    done = true;
    onOutcome(outcome);
  };
  return defer(() => prepare(input)).subscribe({
    next: (prepared) => once({ prepared }),
    error: (error: unknown) => once({ error }),
    complete: () => once({ error: new PreprocessError('DECODE_FAILED', 'prepare completed without producing an image') }),
  });
}

/** Error codes worth retrying: the file system was busy, not the image bad. */
const TRANSIENT_ERRNO = new Set(['EMFILE', 'ENFILE', 'EAGAIN', 'EBUSY']);

function toFailure<R>(
  input: ImageSource | ImageInput<R>,
  err: unknown,
  prepareMs: number,
  ids?: CorrelationIdGenerator,
): ClassificationFailure<R> {
  const wrapped = isImageInput(input);
  const ref = (wrapped ? input.ref : typeof input === 'string' ? input : undefined) as R;
  // A caller's id is kept even when it is the reason for the failure (too long), so the caller
  // can find it; an empty one cannot identify anything and gets a generated id instead.
  const callerId = wrapped && typeof input.correlationId === 'string' && input.correlationId !== '' ? input.correlationId : undefined;
  if (err instanceof NotAttemptedError) {
    const correlationId = callerId ?? (ids ?? defaultCorrelationIds()).nextWithoutContent();
    return {
      kind: 'failure',
      correlationId,
      ref,
      attempts: 0,
      timings: { prepareMs },
      code: 'NOT_ATTEMPTED',
      message: err.message,
      details: '',
      retryable: true,
      stage: 'transport',
    };
  }
  const e =
    err instanceof PreprocessError
      ? err
      : new PreprocessError(
          'DECODE_FAILED',
          `could not prepare the image: ${err instanceof Error ? err.message : String(err)}`,
          err instanceof Error ? err.name : '',
          { cause: err },
        );
  return {
    kind: 'failure',
    correlationId: callerId ?? (ids ?? defaultCorrelationIds()).nextWithoutContent(),
    ref,
    attempts: 0,
    timings: { prepareMs },
    code: e.code,
    message: e.message,
    details: e.details,
    retryable: e.code === 'SOURCE_UNREADABLE' && TRANSIENT_ERRNO.has(e.details),
    stage: 'preprocess',
  };
}
