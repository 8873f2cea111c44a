import type { ClassificationOutput } from '../../src/contract/messages';
import type { SentImage } from '../../src/operators/classify';
import type { ClassificationFailure, ClassificationSuccess, RetryCapability } from '../../src/operators/results';
import type { PreparedImage } from '../../src/preprocess/types';

/** A small prepared image (3 bytes of "pixels"): enough for operators, which never look inside. */
export function prepared(id: string, bytes = 3): PreparedImage<string> {
  return {
    kind: 'prepared',
    correlationId: id,
    format: 'IMAGE_FORMAT_RAW_UINT8_BGR',
    encoding: 'REQUEST_ENCODING_UNCOMPRESSED',
    data: Buffer.alloc(bytes),
    hashes: [],
    pixelHashes: [],
    passedThrough: false,
    sourceFormat: 'IMAGE_FORMAT_RAW_UINT8_BGR',
    sizes: { original: bytes, prepared: bytes, wire: bytes },
    timings: { readMs: 1, decodeMs: 0, resizeMs: 0, hashMs: 0, compressMs: 0, totalMs: 1 },
    ref: `ref-${id}`,
  };
}

export const noRetry: RetryCapability = { reserve: () => undefined };

export function sent(id: string, attempt = 1, firstSentAt = 0, retry: RetryCapability = noRetry): SentImage<string> {
  return { image: prepared(id), attempt, firstSentAt, retry };
}

export function ok(id: string, weight = 0.5): ClassificationOutput {
  return { correlationId: id, classifications: [{ label: 'UnknownCSAM-Ducks', weight }], error: null };
}

export function modelError(id: string): ClassificationOutput {
  return { correlationId: id, classifications: [], error: { code: 'ERROR_CODE_MODEL_ERROR', message: 'model error', details: '' } };
}

export function success(id: string, at: number, attempts = 1, firstSentAt = 0, weight = 0.5): ClassificationSuccess<string> {
  return {
    kind: 'success',
    correlationId: id,
    ref: `ref-${id}`,
    attempts,
    timings: { prepareMs: 1, roundTripMs: at - firstSentAt },
    classifications: { 'UnknownCSAM-Ducks': weight },
    raw: [{ label: 'UnknownCSAM-Ducks', weight }],
  };
}

export function failure(
  id: string,
  code: ClassificationFailure['code'],
  at: number,
  extra: Partial<ClassificationFailure<string>> = {},
): ClassificationFailure<string> {
  return {
    kind: 'failure',
    correlationId: id,
    ref: `ref-${id}`,
    attempts: 1,
    timings: { prepareMs: 1, roundTripMs: at },
    code,
    message: 'model error',
    details: '',
    retryable: true,
    stage: 'server',
    ...extra,
  };
}
