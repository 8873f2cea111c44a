import {
  defer,
  finalize,
  tap,
  throwError,
  type MonoTypeOperatorFunction,
  type Observable,
  type ObservableInput,
  type OperatorFunction,
  type SchedulerLike,
} from 'rxjs';
import { InvalidOptionError } from '../core/invalidOptionError';
import { NotAttemptedError } from '../core/notAttempted';
import { checkFunction, checkInteger, checkMethods, renamed } from '../core/options';
import { prepareImage } from '../preprocess/prepare';
import type { PreparedImage } from '../preprocess/types';
import type { ImageInput, ImageSource } from '../preprocess/types';
import type { ClassifyTransport } from '../transport/types';
import { bufferBatch, type BufferBatchOptions } from '../operators/bufferBatch';
import { classify, type ClassifyEvent, type ClassifyItem, type ClassifyOptions } from '../operators/classify';
import { pipelineMetrics } from '../metrics/pipelineMetrics';
import type { PipelineObserver } from '../operators/pipelineObserver';
import { correlate, type CorrelateStats } from '../operators/correlate';
import { inFlightWindow, type InFlightWindow } from '../operators/inFlightWindow';
import { preprocess, type PreprocessOptions } from '../operators/preprocess';
import { pipelineContext } from '../operators/pipelineContext';
import type { ClassificationEvent } from '../operators/results';
import { retryByErrorCode, type RetryOptions } from '../operators/retryByErrorCode';

/**
 * Images alive at once by default between preparing and their result. At 602,112 bytes per raw
 * image that bounds prepared pixels to about 77 MB (less with Brotli), and keeps 4 requests of 32
 * (or many smaller ones) in flight, enough to keep the service busy.
 */
export const DEFAULT_WINDOW = 128;

/**
 * The `ref` of the results for a source item `S`, exactly: the type of a required `ref` (`{ source,
 * ref: number }` gives `number`), `R | undefined` for an `ImageInput<R>` whose `ref` is optional,
 * `string` for a path (the path itself), `undefined` for anything else (a `Buffer`, `{ bgr }`, a
 * stream carry no reference).
 */
export type RefOf<S> = S extends { readonly source: unknown; readonly ref: infer R }
  ? R
  : S extends ImageInput<infer R>
    ? R | undefined
    : S extends string
      ? string
      : undefined;

/** `R` when given as a type argument, else what the sources say ({@link RefOf}). */
export type RefFor<R, S> = unknown extends R ? RefOf<S> : R;

/** Options of {@link classifyImages}: each stage's own options, and what they share. */
export interface ClassifyImagesOptions<R = unknown> {
  /**
   * The back-pressure window (the credit gate), used as given: read its `inUse` and `highWater`.
   * Default a new `inFlightWindow(windowSize)` per subscription. (A number here is the deprecated
   * spelling of `windowSize`: "window" names only the gate; the number form goes in the next
   * minor version.)
   */
  readonly window?: number | InFlightWindow;
  /**
   * How many images may be between `preprocess` and their result at once, when `window` is not
   * given: the size of the window made per subscription. Default {@link DEFAULT_WINDOW} (128).
   */
  readonly windowSize?: number;
  /** Options of `preprocess()` (its `window` is set by `classifyImages`). */
  readonly preprocess?: Omit<PreprocessOptions<R>, 'window'>;
  /** Options of `bufferBatch()`; its defaults (32 images, 50 ms, the 4 MiB byte budget). */
  readonly batch?: Omit<BufferBatchOptions<ClassifyItem<R>>, 'scheduler'>;
  /** Options of `classify()` (deployment, affiliate, keep-alive, timeouts, reconnects). */
  readonly classify?: Omit<ClassifyOptions, 'window' | 'scheduler' | 'context'>;
  /** Retry rules per code over the contract's defaults, or `false` for no retries at all. */
  readonly retry?: RetryOptions['rules'] | false;
  /** Counters of `correlate()` (results, foreign, duplicates, unattributed global errors). */
  readonly stats?: CorrelateStats;
  /**
   * Where the pipeline records its metrics: a `pipelineMetrics()` (OpenTelemetry, docs/monitoring.md)
   * or any {@link PipelineObserver}. Default: a `pipelineMetrics()` per subscription on the global
   * meter (a no-op until the application registers an SDK), whatever was imported. `false` records
   * nothing.
   */
  readonly metrics?: PipelineObserver | false;
  /** Jitter of the retry delays. Default `Math.random`. */
  readonly random?: () => number;
  /** Time of every stage. Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
}

/**
 * Classifies image sources end to end: `preprocess -> bufferBatch -> classify -> correlate ->
 * retryByErrorCode`, sharing one back-pressure window, and emits one `ClassificationResult` per
 * image (plus `foreign` events in a shared deployment).
 *
 * Use it for the one-line case; compose the five operators yourself when you need a stage in
 * between or different placements.
 *
 * ```text
 * sources:  -a-b-c-----------|
 *           classifyImages(client)
 * results:  ---------b--a--c-(|)     one result per source, in the order answers come
 * ```
 *
 * The window is what bounds memory: `preprocess` takes a credit before preparing an image and
 * `classify` gives it back when the image's final result has left, so no more than `window`
 * prepared images exist at once however fast the source is.
 *
 * @example
 * ```ts
 * import { from } from 'rxjs';
 * import { classifyImages, createAthenaClient, insecure } from 'athena-rx';
 *
 * const client = createAthenaClient({ address: '127.0.0.1:50051', credentials: insecure() });
 * from(['a.jpg', 'b.png']).pipe(classifyImages(client)).subscribe((result) => {
 *   if (result.kind === 'success') console.log(result.ref, result.classifications);
 *   else if (result.kind === 'failure') console.error(result.ref, result.code, result.message);
 * });
 * ```
 *
 * @param client The client (`createAthenaClient`) or any `ClassifyTransport`.
 * @param options.window Default a new `inFlightWindow(windowSize)` per subscription.
 * @param options.windowSize Default 128.
 * @param options.preprocess Default `preprocess()`'s defaults.
 * @param options.batch Default `{ maxCount: 32, maxWaitMs: 50 }`.
 * @param options.classify Default `classify()`'s defaults (`maxInFlight` = the window's size).
 * @param options.retry Default the contract's advice (`DEFAULT_RETRY_RULES`).
 * @param options.stats Default none.
 * @param options.random Default `Math.random`.
 * @param options.scheduler Default `asyncScheduler`.
 * @see preprocess
 * @see bufferBatch
 * @see classify
 * @see correlate
 * @see retryByErrorCode
 * @see classifyAll
 * @see classifyIterable
 */
export function classifyImages<R = unknown, S extends ImageSource | ImageInput<R> = ImageSource | ImageInput<R>>(
  client: ClassifyTransport,
  options: ClassifyImagesOptions<RefFor<R, S>> = {},
): OperatorFunction<S, ClassificationEvent<RefFor<R, S>>> {
  type Ref = RefFor<R, S>;
  checkOptions(options);
  const { scheduler } = options;
  return (source) =>
    defer(() => {
      const window = typeof options.window === 'object' ? options.window : inFlightWindow(windowSizeOf(options));
      // One context per subscription: the explicit link between classify and its retry stage.
      const context = options.retry === false ? undefined : pipelineContext();
      const retry = context && retryByErrorCode<Ref>({ rules: options.retry || undefined, scheduler, random: options.random, context });
      const metrics = metricsOf(client, options);
      const breaker = options.classify?.breaker;
      if (metrics) {
        metrics.observeWindow(window);
        if (breaker) metrics.observeBreaker(breaker);
      }
      const gate = notAttemptedGate<Ref>();
      const basePrepare =
        options.preprocess?.prepare ?? ((input: ImageSource | ImageInput<Ref>) => prepareImage<Ref>(input, options.preprocess));
      const results = (source as Observable<ImageSource | ImageInput<Ref>>).pipe(
        preprocess<Ref>({ ...options.preprocess, prepare: gate.prepare(basePrepare), window, ...(scheduler ? { scheduler } : {}) }),
        bufferBatch<ClassifyItem<Ref>>({ ...options.batch, scheduler }),
        classify<Ref>(client, { ...options.classify, window, scheduler, ...(context ? { context } : {}) }),
        gate.watch,
        metrics ? metrics.tapClassifyEvents<Ref>() : (events) => events,
        correlate<Ref>({ stats: metrics?.correlateStats ?? options.stats }),
      );
      const final = retry ? results.pipe(retry) : results;
      if (!metrics) return final;
      // Metrics made here are released with the subscription; given ones belong to the caller.
      return final.pipe(
        metrics.tapResults<Ref>(),
        finalize(() => options.metrics === undefined && metrics.dispose()),
      );
    });
}

/** The size of the window made per subscription: `windowSize`, or the deprecated numeric `window`. */
export function windowSizeOf<R>(options: ClassifyImagesOptions<R>): number {
  const old = typeof options.window === 'number' ? options.window : undefined;
  return renamed('classifyImages', 'windowSize', options.windowSize, 'window', old) ?? DEFAULT_WINDOW;
}

/** What the stages do not check themselves (each checks its own options when it is made, per subscription). */
function checkOptions<R>(options: ClassifyImagesOptions<R>): void {
  const op = 'classifyImages';
  if (typeof options.window === 'object') checkMethods(op, 'window', options.window, ['acquire', 'release', 'hold', 'giveBack']);
  else checkInteger(op, 'window', options.window, 1);
  checkInteger(op, 'windowSize', options.windowSize, 1);
  if (typeof options.window === 'object' && options.windowSize !== undefined && options.windowSize !== options.window.size)
    throw new InvalidOptionError(
      `${op}: windowSize ${options.windowSize} is not the size of the window given (${options.window.size}); give one of them`,
    );
  windowSizeOf(options);
  if (options.retry !== undefined && options.retry !== false && (options.retry === null || typeof options.retry !== 'object'))
    throw new InvalidOptionError(`${op}: retry must be rules by failure code or false, got ${String(options.retry)}`);
  checkFunction(op, 'random', options.random);
  checkMethods(op, 'scheduler', options.scheduler, ['schedule', 'now']);
  if (options.metrics !== undefined && options.metrics !== false)
    checkMethods(op, 'metrics', options.metrics, ['tapClassifyEvents', 'tapResults', 'observeWindow', 'observeBreaker', 'dispose']);
}

function metricsOf<R>(client: ClassifyTransport, options: ClassifyImagesOptions<R>): PipelineObserver | undefined {
  if (options.metrics === false) return undefined;
  // The default is a dependency of this module, not something an import registers somewhere.
  return (
    options.metrics ??
    pipelineMetrics({
      deploymentId: options.classify?.deploymentId ?? client.deploymentId,
      affiliate: options.classify?.affiliate ?? client.affiliate,
      ...(options.stats ? { correlateStats: options.stats } : {}),
    })
  );
}

/**
 * Once the stream is given up (the outage budget spent), inputs not yet prepared are not read:
 * `prepare` throws a {@link NotAttemptedError} instead, and `preprocess` turns it into a
 * `NOT_ATTEMPTED` failure that `classify` lets through. `watch` learns of the death from the
 * `connection` events.
 */
function notAttemptedGate<R>(): {
  prepare(
    base: (input: ImageSource | ImageInput<R>) => ObservableInput<PreparedImage<R>>,
  ): (input: ImageSource | ImageInput<R>) => ObservableInput<PreparedImage<R>>;
  watch: MonoTypeOperatorFunction<ClassifyEvent<R>>;
} {
  let dead = false;
  return {
    prepare: (base) => (input) => (dead ? throwError(() => new NotAttemptedError()) : base(input)),
    watch: tap((event) => {
      if (event.kind === 'connection' && event.state === 'failed') dead = true;
    }),
  };
}
