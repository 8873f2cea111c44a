import { InvalidOptionError } from '../../core/invalidOptionError';
import type { PreparedImage } from '../../preprocess/types';
import type { ClassificationFailure } from '../results';

/** Why a value that reached `classify` is not a batch (`bufferBatch` forgotten); `undefined` if it is one. */
export function batchProblem(batch: unknown): InvalidOptionError | undefined {
  if (Array.isArray(batch)) return undefined;
  const got = batch === null || typeof batch !== 'object' ? String(batch) : ((batch as object).constructor?.name ?? 'object');
  return new InvalidOptionError(`classify: expects batches (arrays) of prepared images and failures, as bufferBatch() emits; got ${got}`);
}

/** The error for a batch item that is neither a prepared image nor a failure. */
export function itemProblem(item: unknown): InvalidOptionError {
  const kind = JSON.stringify((item as { kind?: unknown } | undefined)?.kind);
  return new InvalidOptionError(`classify: a batch item must be a prepared image or a failure, got ${kind}`);
}

/** The final result of an image whose correlation id another image of the pipeline is using. */
export function idInUse<R>(item: PreparedImage<R>): ClassificationFailure<R> {
  const id = item.correlationId;
  return {
    kind: 'failure',
    correlationId: id,
    ref: item.ref,
    attempts: 0,
    timings: { prepareMs: 0 },
    code: 'ERROR_CODE_CORRELATION_ID_INVALID',
    message: `correlation id '${id}' is already in use in this pipeline`,
    details: '',
    retryable: false,
    stage: 'preprocess',
  };
}
