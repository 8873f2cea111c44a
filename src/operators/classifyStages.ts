import type { MonoTypeOperatorFunction, OperatorFunction } from 'rxjs';
import type { ClassifyTransport } from '../transport/types';
import { classify, type ClassifyEvent, type ClassifyItem, type ClassifyOptions } from './classify';
import { pipelineContext, type PipelineContext } from './pipelineContext';
import type { ClassificationEvent } from './results';
import { retryByErrorCode, type RetryOptions } from './retryByErrorCode';

/** Options of {@link classifyStages}: those of `classify`, and the retry stage's under `retry`. */
export interface ClassifyStagesOptions extends Omit<ClassifyOptions, 'context'> {
  /** Options of the `retryByErrorCode` (rules, scheduler, random); its scheduler defaults to `classify`'s. */
  readonly retry?: Omit<RetryOptions, 'context'>;
}

/** A `classify` and the `retryByErrorCode` linked to it, made by {@link classifyStages}. */
export interface ClassifyStages<R = unknown> {
  /** `classify(client, { ...options, context })`. */
  readonly classify: OperatorFunction<readonly ClassifyItem<R>[], ClassifyEvent<R>>;
  /** `retryByErrorCode({ ...options.retry, context })`: put it after `correlate()`. */
  readonly retry: MonoTypeOperatorFunction<ClassificationEvent<R>>;
  /** The context the two share (see {@link PipelineContext}). */
  readonly context: PipelineContext;
}

/**
 * Makes a `classify` and a `retryByErrorCode` linked by one {@link PipelineContext}: the explicit
 * link through which the retry stage sends a failed image again, through the session that sent it.
 * The pair is the unit: the link is in their construction, as grpc-js passes a call's retry
 * collaborators to its constructor, not found at run time.
 *
 * Use it when you compose the stages yourself (`classifyImages` makes its own pair). One pair
 * serves one running pipeline: a second concurrent subscription of the retry stage is refused
 * at subscription; make a pair per subscription (`defer(() => ...)`) to run one pipeline twice
 * at once.
 *
 * ```text
 * batches:  -[a,b]------------------|
 *           classify                  (a fails with MODEL_ERROR, is kept)
 *           correlate()
 *           retry                     (a re-sent after the delay, on the same stream)
 * results:  -------b-------------a--|  a success, attempts 2
 * ```
 *
 * @example
 * ```ts
 * const window = inFlightWindow(128);
 * const { classify, retry } = classifyStages<string>(client, { window });
 * from(paths)
 *   .pipe(preprocess<string>({ window }), bufferBatch(), classify)
 *   .pipe(correlate<string>(), retry)
 *   .subscribe((result) => console.log(result.kind, result.ref));
 * ```
 *
 * @param client As for `classify`.
 * @param options `classify`'s options (but `context`), and `retry`, the retry stage's.
 * @see classify
 * @see retryByErrorCode
 * @see PipelineContext
 */
export function classifyStages<R = unknown>(client: ClassifyTransport, options: ClassifyStagesOptions = {}): ClassifyStages<R> {
  const { retry = {}, ...classifyOptions } = options;
  const context = pipelineContext();
  const scheduler = retry.scheduler ?? classifyOptions.scheduler;
  return {
    context,
    classify: classify<R>(client, { ...classifyOptions, context }),
    retry: retryByErrorCode<R>({ ...retry, ...(scheduler ? { scheduler } : {}), context }),
  };
}
