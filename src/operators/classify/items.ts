import type { ClassificationInput } from '../../contract/messages';
import { InvalidOptionError } from '../../core/invalidOptionError';
import type { PreparedImage } from '../../preprocess/types';
import type { ClassificationFailure } from '../results';
import type { ClassifyItem } from './events';
import type { ImageRecord } from './ledger';

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
    ref: item.ref as R,
    attempts: 0,
    timings: { prepareMs: 0 },
    code: 'ERROR_CODE_CORRELATION_ID_INVALID',
    message: `correlation id '${id}' is already in use in this pipeline`,
    details: '',
    retryable: false,
    stage: 'preprocess',
  };
}

/** What {@link readBatch} needs of its session. */
export interface BatchReader<R> {
  /** An image with this correlation id is already in the session. */
  readonly known: (id: string) => boolean;
  /** Takes a result that is final before sending: a failure passed through, or an id in use. */
  readonly reject: (result: ClassificationFailure<R>) => void;
  /** The session's record for a prepared image it admits. */
  readonly record: (item: PreparedImage<R>) => ImageRecord<R>;
}

/**
 * Reads one batch, item by item in its order: failures and images whose id is in use (in the
 * session or earlier in the batch) go to `reject`, prepared images become records. Returns the
 * records to admit, or the error when the value is not a batch of such items (what was rejected
 * before the bad item stays rejected).
 */
export function readBatch<R>(batch: readonly ClassifyItem<R>[], reader: BatchReader<R>): ImageRecord<R>[] | InvalidOptionError {
  const notBatch = batchProblem(batch);
  if (notBatch) return notBatch;
  const group: ImageRecord<R>[] = [];
  for (const item of batch) {
    if (item?.kind === 'failure') {
      reader.reject(item);
      continue;
    }
    if (item?.kind !== 'prepared') return itemProblem(item);
    const id = item.correlationId;
    if (reader.known(id) || group.some((r) => r.id === id)) reader.reject(idInUse(item));
    else group.push(reader.record(item));
  }
  return group;
}

/** The wire inputs for `recs`; an image without an affiliate of its own gets `defaultAffiliate`. */
export function wireInputs(recs: readonly ImageRecord<unknown>[], defaultAffiliate: string): ClassificationInput[] {
  return recs.map(({ image }) => ({
    affiliate: image.affiliate ?? defaultAffiliate,
    correlationId: image.correlationId,
    encoding: image.encoding,
    data: image.data,
    format: image.format,
    hashes: [...image.hashes],
  }));
}
