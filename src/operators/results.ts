import type { Classification, ClassificationOutput } from '../contract/messages';
import type { FailureCode, FailureStage } from '../core/codes';

export type { PreprocessErrorCode, PipelineErrorCode, FailureCode, FailureStage } from '../core/codes';
export { isRetryableCode } from '../core/codes';

/** How long an image spent in the pipeline's stages. */
export interface ResultTimings {
  /** Time spent preparing the image (ms). */
  readonly prepareMs: number;
  /** From the first send to the final answer (ms), when the image was sent. */
  readonly roundTripMs?: number;
}

/** The fields every result has, success or failure. */
export interface ResultBase<R> {
  readonly correlationId: string;
  /**
   * The caller's reference to the source: `ImageInput.ref`, or the path of a path source. Typed
   * exactly `R`: a path source gives `string`, an input with a required `ref: number` gives
   * `number`; `undefined` is in the type only for sources that may carry none (a bare buffer, an
   * `ImageInput` whose `ref` is optional). See `RefOf`.
   */
  readonly ref: R;
  /** How many times the image was sent: 0 when it failed before sending. */
  readonly attempts: number;
  readonly timings: ResultTimings;
}

/** The image was classified. */
export interface ClassificationSuccess<R = unknown> extends ResultBase<R> {
  readonly kind: 'success';
  /** Label to weight; labels the service elided are absent (treat as 0). */
  readonly classifications: Readonly<Record<string, number>>;
  /** The labels as the service sent them, in order. */
  readonly raw: readonly Classification[];
}

/** The image could not be classified; `code` says why and `retryable` whether trying again can help. */
export interface ClassificationFailure<R = unknown> extends ResultBase<R> {
  readonly kind: 'failure';
  readonly code: FailureCode;
  readonly message: string;
  readonly details: string;
  readonly retryable: boolean;
  readonly stage: FailureStage;
}

/** Exactly one per image that entered the pipeline. `switch (result.kind)` to handle it. */
export type ClassificationResult<R = unknown> = ClassificationSuccess<R> | ClassificationFailure<R>;

/**
 * A response for a correlation id this pipeline never sent: another client of the same
 * deployment sent that image. Never counted as one of ours.
 */
export interface ForeignOutput {
  readonly kind: 'foreign';
  readonly correlationId: string;
  readonly output: ClassificationOutput;
}

/** What `correlate()` emits: our results, and other clients' outputs as their own kind. */
export type ClassificationEvent<R = unknown> = ClassificationResult<R> | ForeignOutput;

export type { RetryCapability, RetryTicket } from './pipelineContext';
