import type { ClassifyResponse } from '../../contract/messages';
import type { PreparedImage } from '../../preprocess/types';
import type { ClassificationFailure, PipelineErrorCode, RetryCapability } from '../results';

/** One image as `classify` sent it (or tried to). */
export interface SentImage<R = unknown> {
  readonly image: PreparedImage<R>;
  /** How many times the image has been written to a stream so far (0 if it never was). */
  readonly attempt: number;
  /** `scheduler.now()` of its first send; absent if it was never sent. */
  readonly firstSentAt?: number;
  /** Lets `retryByErrorCode` send the same prepared image again (see {@link RetryCapability}). */
  readonly retry: RetryCapability;
}

/** Images were written in one `ClassifyRequest`. */
export interface ClassifySentEvent<R = unknown> {
  readonly kind: 'sent';
  readonly at: number;
  readonly images: readonly SentImage<R>[];
}

/**
 * A `ClassifyResponse` arrived. Outputs may answer our images, duplicates, or images of another
 * member of a shared deployment. For a `globalError`, `request` holds the images of the request it
 * was attributed to (absent when no request could be blamed).
 */
export interface ClassifyResponseEvent<R = unknown> {
  readonly kind: 'response';
  readonly at: number;
  readonly response: ClassifyResponse;
  readonly request?: readonly SentImage<R>[];
}

/** Why images of a {@link ClassifyFailedEvent} get no answer. */
export interface ClassifyFailure {
  /** `RESPONSE_TIMEOUT` or `TRANSPORT_FAILED`. */
  readonly code: PipelineErrorCode;
  /** What happened, for people (never image bytes). */
  readonly message: string;
  /** Always `''` for these codes (the server's `details` field has no counterpart here). */
  readonly details: string;
  /** Whether trying again later may help. */
  readonly retryable: boolean;
}

/** Images that will get no answer from the service: timed out, or the transport gave up. */
export interface ClassifyFailedEvent<R = unknown> {
  readonly kind: 'failed';
  readonly at: number;
  readonly images: readonly SentImage<R>[];
  readonly failure: ClassifyFailure;
}

/** An item that was never sendable (a preprocess failure, or a correlation id used twice): its final result. */
export interface ClassifyRejectedEvent<R = unknown> {
  readonly kind: 'rejected';
  readonly at: number;
  readonly result: ClassificationFailure<R>;
}

/** The stream opened, broke and is being reopened, or was given up. For logs and metrics. */
export interface ClassifyConnectionEvent {
  readonly kind: 'connection';
  readonly at: number;
  readonly state: 'open' | 'reconnecting' | 'failed';
  /** Reconnect attempt (0 for the first open). */
  readonly attempt: number;
  /** The deployment the stream joins. */
  readonly deploymentId?: string;
  /** `'rotation'`: a fresh stream opened ahead of the token's expiry (the old one half-closes once answered). */
  readonly reason?: 'rotation';
  readonly error?: unknown;
}

/**
 * Images still unanswered when `warnAt` of the service's response lifetime (1 hour) has passed
 * since their first send: their answers risk being purged before they are read. Nothing fails
 * because of it; it is for logs, metrics and alerts.
 */
export interface ClassifyLateEvent<R = unknown> {
  readonly kind: 'late';
  readonly at: number;
  readonly images: readonly SentImage<R>[];
  /** The response lifetime the warning is measured against, ms. */
  readonly lifetimeMs: number;
  /** @deprecated Renamed `lifetimeMs` (spans end in `Ms`); this name goes in the next minor version. */
  readonly lifetime: number;
}

/**
 * Images took a window credit in `preprocess` but never reached `classify`: an operator between
 * the stages dropped them (a `filter`), which the composition rules do not allow
 * (docs/reliability.md#composition). Their credits were given back, so the pipeline goes on (and
 * completes) with the images that did arrive; they get no result. Reported once per session as a
 * process warning too (code `ATHENA_RX_IMAGES_DROPPED`).
 *
 * Judged by time (`dropGraceMs` with no image arriving), unless the source completed: an operator
 * of yours that held the images back for longer looks the same. Such an image that arrives after
 * all still gets its one result, and the grace is raised (warning `ATHENA_RX_DROP_GRACE_RAISED`).
 */
export interface ClassifyDroppedEvent {
  readonly kind: 'dropped';
  readonly at: number;
  /** The correlation ids whose credits were given back (once per credit). */
  readonly correlationIds: readonly string[];
  /** What happened and which rule it breaks, for people. */
  readonly message: string;
}

/** What `classify` emits; `correlate()` turns it into one result per image. */
export type ClassifyEvent<R = unknown> =
  | ClassifySentEvent<R>
  | ClassifyResponseEvent<R>
  | ClassifyFailedEvent<R>
  | ClassifyRejectedEvent<R>
  | ClassifyConnectionEvent
  | ClassifyLateEvent<R>
  | ClassifyDroppedEvent;

/** What `classify` accepts in a batch: prepared images, and failures that ride along. */
export type ClassifyItem<R = unknown> = PreparedImage<R> | ClassificationFailure<R>;
