import type { ErrorCode } from '../contract/messages';

/** Why preparing an image failed, before anything was sent. */
export type PreprocessErrorCode =
  | 'EMPTY_INPUT'
  | 'SOURCE_UNREADABLE'
  /** The source is larger than `maxSourceBytes`; refused before it was read whole. */
  | 'SOURCE_TOO_LARGE'
  | 'UNSUPPORTED_FORMAT'
  | 'DECODE_FAILED'
  | 'TOO_MANY_PIXELS'
  | 'INVALID_CORRELATION_ID'
  | 'INVALID_INPUT';

/** Why the pipeline could not get an answer for an image. */
export type PipelineErrorCode =
  /** No response within `responseTimeout` (or lost to another member of a shared deployment). */
  | 'RESPONSE_TIMEOUT'
  /** The stream failed for good (the outage budget spent, or not retryable, e.g. `UNAUTHENTICATED`). */
  | 'TRANSPORT_FAILED'
  /** Never read nor sent: the stream had been given up before the input's turn came. */
  | 'NOT_ATTEMPTED';

/** Every code a failure can carry: the server's `ErrorCode`s, then the client's own. */
export type FailureCode = ErrorCode | PreprocessErrorCode | PipelineErrorCode;

/** Where in the pipeline a failure arose. */
export type FailureStage = 'preprocess' | 'server' | 'transport';

/** Whether the contract advises that trying again can help, for a server `ErrorCode`. */
export function isRetryableCode(code: FailureCode): boolean {
  return code === 'ERROR_CODE_UNSPECIFIED' || code === 'ERROR_CODE_MODEL_ERROR' || code === 'RESPONSE_TIMEOUT';
}
