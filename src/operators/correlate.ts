import { Observable, type OperatorFunction } from 'rxjs';
import type { ClassificationError, ClassificationOutput } from '../contract/messages';
import { InvalidOptionError } from '../core/invalidOptionError';
import { checkInteger } from '../core/options';
import type { PrepareTimings } from '../preprocess/types';
import type { ClassifyEvent, SentImage } from './classify';
import { isRetryableCode, type ClassificationEvent, type ClassificationFailure, type ClassificationSuccess } from './results';

/** Counters kept by {@link correlate}; pass your own object to read them while it runs. */
export interface CorrelateStats {
  /**
   * Final results emitted for our images (successes and failures, preprocess failures included):
   * one per image. A failure that `retryByErrorCode` sends again stops counting when the image is
   * re-sent, so while a retry is under way this is one less than the results emitted so far.
   */
  results: number;
  /** Outputs for ids this pipeline never sent, emitted as `foreign` events. */
  foreign: number;
  /** Outputs dropped because their id was already answered (ours or foreign). */
  duplicates: number;
  /** Global errors that no request could be blamed for (counted, not emitted). */
  unattributed: number;
}

/** A fresh {@link CorrelateStats} with every counter at 0. */
export function createCorrelateStats(): CorrelateStats {
  return { results: 0, foreign: 0, duplicates: 0, unattributed: 0 };
}

/** Options of {@link correlate}. */
export interface CorrelateOptions {
  /** Counters to update; default a private object (see {@link CorrelateStats}). */
  readonly stats?: CorrelateStats;
  /**
   * How many answered ids (ours and foreign) are remembered to recognise duplicates. The oldest
   * are forgotten first, so a pipeline that runs for days keeps bounded memory; a duplicate older
   * than this many answers would come out again (as `foreign`). Default 100,000 (a few MB).
   */
  readonly rememberAnswered?: number;
}

const STAT_FIELDS = ['results', 'foreign', 'duplicates', 'unattributed'] as const;

/** Default of {@link CorrelateOptions.rememberAnswered}. */
export const DEFAULT_REMEMBER_ANSWERED = 100_000;

/** A set that forgets its oldest entries beyond `limit` (a Set iterates in insertion order). */
function recentSet(limit: number): { has(id: string): boolean; add(id: string): void; delete(id: string): void } {
  const ids = new Set<string>();
  return {
    has: (id) => ids.has(id),
    delete: (id) => void ids.delete(id),
    add: (id) => {
      ids.delete(id);
      ids.add(id);
      if (ids.size > limit) ids.delete(ids.values().next().value as string);
    },
  };
}

interface Expected<R> {
  readonly sent: SentImage<R>;
}

function prepareMs(t: PrepareTimings | undefined): number {
  if (!t) return 0;
  return typeof t.totalMs === 'number' ? t.totalMs : t.readMs + t.decodeMs + t.resizeMs + t.hashMs + t.compressMs;
}

type FailureFields = Pick<ClassificationFailure, 'code' | 'message' | 'details' | 'retryable'>;

/** What every result of a sent image carries. */
function baseOf<R>(sent: SentImage<R>, at: number) {
  return {
    correlationId: sent.image.correlationId,
    // The ref the caller's source carried: R by the pipeline's typing (see ResultBase.ref).
    ref: sent.image.ref as R,
    attempts: sent.attempt,
    timings: {
      prepareMs: prepareMs(sent.image.timings),
      ...(sent.firstSentAt !== undefined ? { roundTripMs: at - sent.firstSentAt } : {}),
    },
  };
}

/** A failure of a sent image: plain data (the retry stage finds the kept image by correlation id). */
function failureOf<R>(sent: SentImage<R>, at: number, f: FailureFields, stage: ClassificationFailure['stage']): ClassificationFailure<R> {
  return { kind: 'failure', ...baseOf(sent, at), code: f.code, message: f.message, details: f.details, retryable: f.retryable, stage };
}

/** A success of a sent image, its labels as a record and as sent. */
function successOf<R>(sent: SentImage<R>, at: number, output: ClassificationOutput): ClassificationSuccess<R> {
  const classifications: Record<string, number> = {};
  for (const { label, weight } of output.classifications ?? []) classifications[label] = weight;
  return { kind: 'success', ...baseOf(sent, at), classifications, raw: output.classifications ?? [] };
}

/**
 * Turns `classify` events into one `ClassificationResult` per image (a `success` with its labels,
 * or a `failure` with a code), plus a `foreign` event for each output of an id this pipeline never
 * sent; duplicate outputs are dropped and counted.
 *
 * Use it right after `classify()`: it is what makes the stream a list of answers you can
 * `switch (result.kind)` on. A `globalError` becomes a failure for each image of the request it
 * was attributed to. Results are plain data: `retryByErrorCode()` finds a failed image that
 * `classify` kept for it by correlation id, through their shared pipeline context.
 *
 * ```text
 * events:  -S----R-----R'--F--|      S = sent [a,b]  R = outputs a,b  R' = output a again, x (not ours)
 *          correlate()
 * results: ------(ab)--x---c--|      a, b results; the second a dropped (duplicates = 1); x foreign;
 *                                    F = failed [c] -> c failure
 * ```
 *
 * @example
 * ```ts
 * const stats = createCorrelateStats();
 * batches$.pipe(classify(client), correlate({ stats })).subscribe((event) => {
 *   if (event.kind === 'success') console.log(event.ref, event.classifications);
 * });
 * ```
 *
 * @param options.stats Counters to update; default a private object.
 * @param options.rememberAnswered Answered ids kept to recognise duplicates; default 100,000.
 * @see classify
 * @see retryByErrorCode
 */
export function correlate<R = unknown>(options: CorrelateOptions = {}): OperatorFunction<ClassifyEvent<R>, ClassificationEvent<R>> {
  checkInteger('correlate', 'rememberAnswered', options.rememberAnswered, 1);
  const { stats } = options;
  if (stats !== undefined && !STAT_FIELDS.every((f) => typeof (stats as Partial<CorrelateStats> | null)?.[f] === 'number'))
    throw new InvalidOptionError(
      `correlate: stats must have the number fields ${STAT_FIELDS.join(', ')} (createCorrelateStats() makes one)`,
    );
  return (source) =>
    new Observable<ClassificationEvent<R>>((subscriber) => {
      const stats = options.stats ?? createCorrelateStats();
      /** Ids sent and not yet answered, with what the result needs. */
      const expected = new Map<string, Expected<R>>();
      const remember = options.rememberAnswered ?? DEFAULT_REMEMBER_ANSWERED;
      /** Ids of ours already answered (strings only, so that late duplicates can be recognised). */
      const answered = recentSet(remember);
      const foreignSeen = recentSet(remember);

      const serverFailure = (sent: SentImage<R>, at: number, error: ClassificationError) =>
        failureOf(
          sent,
          at,
          { code: error.code, message: error.message, details: error.details, retryable: isRetryableCode(error.code) },
          'server',
        );

      /** Takes `id` out of the expected set; the result is emitted by the caller. */
      const claim = (id: string): Expected<R> | undefined => {
        const e = expected.get(id);
        if (!e) return undefined;
        expected.delete(id);
        answered.add(id);
        return e;
      };

      const out = (event: ClassificationEvent<R>): void => {
        if (event.kind === 'foreign') stats.foreign += 1;
        else stats.results += 1;
        subscriber.next(event);
      };

      const onEvent = (event: ClassifyEvent<R>): void => {
        switch (event.kind) {
          case 'sent':
            for (const sent of event.images) {
              const id = sent.image.correlationId;
              // Sent again after its result went out: a retry, so that result was not final.
              if (sent.attempt > 1 && answered.has(id)) stats.results -= 1;
              answered.delete(id);
              expected.set(id, { sent });
            }
            return;
          case 'rejected':
            out(event.result);
            return;
          case 'failed':
            // `classify` fails an image at most once per send and only while it awaits an answer,
            // so each of these is ours and owed a result, even when it was never announced (never
            // sent), its id was answered before (an id used again), or its earlier failure was
            // held back for a retry that could not be sent (the stream failed for good).
            for (const sent of event.images) {
              claim(sent.image.correlationId);
              answered.add(sent.image.correlationId);
              out(failureOf(sent, event.at, event.failure, 'transport'));
            }
            return;
          case 'response': {
            const { globalError, outputs } = event.response;
            if (globalError) {
              if (!event.request) {
                stats.unattributed += 1;
                return;
              }
              for (const sent of event.request) {
                const e = claim(sent.image.correlationId);
                if (e) out(serverFailure(e.sent, event.at, globalError));
              }
              return;
            }
            for (const output of outputs ?? []) {
              const id = output.correlationId;
              const e = claim(id);
              if (e) {
                out(output.error ? serverFailure(e.sent, event.at, output.error) : successOf(e.sent, event.at, output));
              } else if (answered.has(id) || foreignSeen.has(id)) {
                stats.duplicates += 1;
              } else {
                foreignSeen.add(id);
                out({ kind: 'foreign', correlationId: id, output });
              }
            }
            return;
          }
          case 'connection':
          case 'late':
          case 'dropped':
            return;
        }
      };

      const subscription = source.subscribe({
        next: onEvent,
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
      return () => {
        subscription.unsubscribe();
        expected.clear();
      };
    });
}
