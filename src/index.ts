/**
 * `athena-rx`: classify images with the Athena API as composable RxJS operators.
 *
 * The public surface, by group. Every name here is reviewed: etc/athena-rx.api.md is its report,
 * and `npm run api:check` fails on a change that is not in it (docs/api.md). Helpers the package
 * uses inside (backoff, retry plumbing, file reading, JWT parsing) are imported from their
 * modules, not from here.
 */

// The wire contract: messages, enums a result can be switched on, and its fixed sizes.
export * from './contract/messages';

// The operators, in pipeline order, with their options, defaults and event types.
export { preprocess, defaultConcurrency, type PreprocessOptions } from './operators/preprocess';
export { inFlightWindow, type InFlightWindow } from './operators/inFlightWindow';
export {
  bufferBatch,
  DEFAULT_MAX_BATCH_BYTES,
  DEFAULT_MAX_BATCH_COUNT,
  DEFAULT_MAX_BATCH_WAIT,
  type BufferBatchOptions,
} from './operators/bufferBatch';
export * from './operators/classify';
export {
  correlate,
  createCorrelateStats,
  DEFAULT_REMEMBER_ANSWERED,
  type CorrelateOptions,
  type CorrelateStats,
} from './operators/correlate';
export { retryByErrorCode, DEFAULT_RETRY_RULES, type RetryOptions, type RetryPolicy, type RetryRule } from './operators/retryByErrorCode';
export { pipelineContext, type PipelineContext, type RetryDecider } from './operators/pipelineContext';
export { classifyStages, type ClassifyStages, type ClassifyStagesOptions } from './operators/classifyStages';
export { classifyImages, DEFAULT_WINDOW, type ClassifyImagesOptions, type RefFor, type RefOf } from './pipeline/classifyImages';
export { classifyIterable } from './pipeline/classifyIterable';
export { classifyAll } from './pipeline/classifyAll';
export {
  circuitBreaker,
  type CircuitBreaker,
  type CircuitBreakerEvent,
  type CircuitBreakerOptions,
  type CircuitState,
} from './reliability/circuitBreaker';

// What comes out: one result per image, its codes, and the retry link classify gives correlate.
export type {
  ClassificationEvent,
  ClassificationFailure,
  ClassificationResult,
  ClassificationSuccess,
  FailureCode,
  FailureStage,
  ForeignOutput,
  PipelineErrorCode,
  PreprocessErrorCode,
  ResultBase,
  ResultTimings,
  RetryCapability,
  RetryTicket,
} from './operators/results';

// Preparing images on their own (the preprocess operator runs the same code).
export type * from './preprocess/types';
export { prepareImage, type PrepareOptions } from './preprocess/prepare';
export { DEFAULT_BROTLI_QUALITY } from './preprocess/encode';
export { detectFormat } from './preprocess/formats';
export { DEFAULT_MAX_SOURCE_BYTES } from './preprocess/sources';
export type { PixelHash, PixelHashAlgorithm, WireHashAlgorithm } from './preprocess/hashes';
export { CorrelationIdGenerator, validateCorrelationId, type CorrelationIdFactory } from './preprocess/correlationId';

// The client, its credentials and its calls.
export {
  createAthenaClient,
  defaultChannelOptions,
  type AthenaClientOptions,
  type AthenaGrpcClient,
  insecure,
  tls,
  staticToken,
  oauthClientCredentials,
  DEFAULT_AUDIENCE,
  DEFAULT_TOKEN_URL,
  DEFAULT_TOKEN_TIMEOUT_MS,
  type AccessTokenProvider,
  type AthenaCredentials,
  type InsecureOptions,
  type OAuthClientCredentialsOptions,
  type OAuthTokenProvider,
  type TlsOptions,
  type AthenaClient,
  type ClassifyCall,
  type ClassifyCallOptions,
  type ClassifyTransport,
  type ClassifyWriteState,
  type UnaryCallOptions,
  waitForReady,
  type WaitForReadyOptions,
} from './transport';

// Errors: Error subclasses with a stable `code`.
export {
  AthenaAuthError,
  AthenaTransportError,
  isRetryableStatus,
  type AthenaAuthErrorCode,
  type AthenaAuthErrorInit,
  type AthenaTransportErrorInit,
  type GrpcStatusName,
} from './transport';
export { PreprocessError } from './preprocess/errors';
export { InvalidOptionError } from './core/invalidOptionError';
export { NotAttemptedError } from './core/notAttempted';

// Metrics (OpenTelemetry API): the instruments and the hook that records a pipeline.
export * from './metrics/index';
export type { PipelineObserver } from './operators/pipelineObserver';
