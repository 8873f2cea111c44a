import { isRetryableCode, type PipelineErrorCode, type PreprocessErrorCode } from '../core/codes';
import { ErrorCode } from '../contract/messages';
import { ATTR, type Instruments } from './instruments';

/** What an attribute value past its cap is recorded as. */
export const OVERFLOW_VALUE = '(other)';

/** Default caps on the values of the free-form attributes of one pipeline's metrics. */
export const DEFAULT_LABEL_LIMITS = { deployments: 4, affiliates: 25 } as const;

/**
 * The first `limit` distinct values of an attribute pass as they are; later ones become
 * {@link OVERFLOW_VALUE}, so that a stream of new ids (a deployment per subscription, affiliates
 * from jobs) cannot grow the series without bound.
 */
export class LabelCap {
  private readonly seen = new Set<string>();

  constructor(private readonly limit: number) {}

  /** `value` if it is admitted (already, or now while there is room), else `(other)`. */
  value(value: string): string {
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.limit) return OVERFLOW_VALUE;
    this.seen.add(value);
    return value;
  }

  /** Whether `value` was admitted. */
  has(value: string): boolean {
    return this.seen.has(value);
  }
}

// Records, so that the compiler says when a code is added and not listed here.
const PREPROCESS: Record<PreprocessErrorCode, true> = {
  EMPTY_INPUT: true,
  SOURCE_UNREADABLE: true,
  SOURCE_TOO_LARGE: true,
  UNSUPPORTED_FORMAT: true,
  DECODE_FAILED: true,
  TOO_MANY_PIXELS: true,
  INVALID_CORRELATION_ID: true,
  INVALID_INPUT: true,
};
const PIPELINE: Record<PipelineErrorCode, true> = { RESPONSE_TIMEOUT: true, TRANSPORT_FAILED: true, NOT_ATTEMPTED: true };

/** The service's codes (stage `server`). */
export const SERVER_CODES = Object.keys(ErrorCode) as ErrorCode[];
/** The codes of images the client could not prepare (stage `preprocess`). */
export const PREPROCESS_CODES = Object.keys(PREPROCESS) as PreprocessErrorCode[];
/** The codes of images no answer came for (stage `transport`). */
export const TRANSPORT_CODES = Object.keys(PIPELINE) as PipelineErrorCode[];
/** The codes an answer of the stream can carry (`outputs`): the service's, and no answer in time or at all. */
export const ANSWER_CODES: readonly string[] = [...SERVER_CODES, 'RESPONSE_TIMEOUT', 'TRANSPORT_FAILED'];
/** The codes the contract calls retryable: those a retry is counted under by default. */
export const RETRIED_CODES: readonly string[] = [...SERVER_CODES, ...TRANSPORT_CODES].filter(isRetryableCode);

/**
 * The series that have no deployment, at 0 from the start: `increase()` and ratios then read 0
 * on a healthy run rather than nothing.
 */
export function zeroUnscopedSeries(I: Instruments): void {
  for (const stage of ['read', 'prepared', 'sent']) I.bytes.add(0, { [ATTR.bytesStage]: stage });
  for (const code of PREPROCESS_CODES) I.preprocessFailures.add(0, { [ATTR.errorCode]: code });
}

/**
 * The known series of a deployment, at 0 from when the pipeline joins it: each outcome and code
 * with its stage for the client's default affiliate, each code the service may refuse a request
 * with, each retried code, each reconnect reason.
 */
export function zeroDeploymentSeries(I: Instruments, deployment: string, affiliate: string): void {
  const d = { [ATTR.deployment]: deployment };
  const image = { ...d, [ATTR.affiliate]: affiliate };
  I.images.add(0, { ...image, [ATTR.outcome]: 'success' });
  const stages = [
    ['server', SERVER_CODES],
    ['preprocess', PREPROCESS_CODES],
    ['transport', TRANSPORT_CODES],
  ] as const;
  for (const [stage, codes] of stages) {
    for (const code of codes) I.images.add(0, { ...image, [ATTR.outcome]: 'failure', [ATTR.errorCode]: code, [ATTR.stage]: stage });
  }
  I.outputs.add(0, { ...image, [ATTR.outcome]: 'success' });
  for (const code of ANSWER_CODES) I.outputs.add(0, { ...image, [ATTR.outcome]: 'failure', [ATTR.errorCode]: code });
  for (const code of SERVER_CODES) I.globalErrors.add(0, { ...d, [ATTR.errorCode]: code });
  for (const code of RETRIED_CODES) I.retries.add(0, { ...d, [ATTR.errorCode]: code });
  for (const reason of ['failure', 'rotation']) I.reconnects.add(0, { ...d, [ATTR.reason]: reason });
  for (const counter of [I.resends, I.transportFailures, I.lateAnswers, I.foreign]) counter.add(0, d);
}
