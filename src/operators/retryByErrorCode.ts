import { asyncScheduler, Observable, type MonoTypeOperatorFunction, type SchedulerLike, type Subscription } from 'rxjs';
import { retryCapabilityOf, type ClassificationEvent, type ClassificationFailure, type FailureCode, type RetryTicket } from './results';

/** How one failure code is retried. */
export interface RetryRule {
  /** Retries after the first attempt (0 = never). */
  readonly retries: number;
  /** Delay before the first retry, ms; doubles with each retry. Default 250. */
  readonly initialDelay?: number;
  /** Largest delay, ms. Default 10,000. */
  readonly maxDelay?: number;
  /** `'full'` (default): a uniform delay in [0, backoff); `'none'`: exactly the backoff. */
  readonly jitter?: 'full' | 'none';
}

/** Options of {@link retryByErrorCode}. */
export interface RetryPolicy {
  /** Rules per code, merged over {@link DEFAULT_RETRY_RULES}; `false` or `{ retries: 0 }` turns one off. */
  readonly rules?: Partial<Record<FailureCode, RetryRule | false>>;
  /** Where the delays run. Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
  /** Jitter source in [0, 1). Default `Math.random`; pass a fixed function for deterministic tests. */
  readonly random?: () => number;
}

/**
 * The contract's advice: `MODEL_ERROR` possibly after a delay (3 retries, exponential backoff from
 * 250 ms with full jitter), `UNSPECIFIED` maybe (once); every other code never.
 */
export const DEFAULT_RETRY_RULES: Readonly<Partial<Record<FailureCode, RetryRule>>> = {
  ERROR_CODE_MODEL_ERROR: { retries: 3, initialDelay: 250, maxDelay: 10_000, jitter: 'full' },
  ERROR_CODE_UNSPECIFIED: { retries: 1, initialDelay: 250, maxDelay: 10_000, jitter: 'full' },
};

/** The delay before retry number `n` (1-based) under `rule`. */
export function retryDelay(rule: RetryRule, n: number, random: () => number = Math.random): number {
  const backoff = Math.min(rule.maxDelay ?? 10_000, (rule.initialDelay ?? 250) * 2 ** (n - 1));
  return rule.jitter === 'none' ? backoff : Math.floor(random() * backoff);
}

/**
 * Sends failed images again, per failure code, and lets only their final result through.
 *
 * Use it after `correlate()`: a failure whose code has a rule and whose session can still send
 * (the failure carries the retry capability of `classify`) is held back, and after the backoff
 * its prepared image goes out again on the same stream, without decoding it again. The new
 * result records the higher `attempts`. Failures without the capability (preprocess failures,
 * results built by hand) and codes without a rule pass through unchanged.
 *
 * ```text
 * results:  --a--F------b------|      F = MODEL_ERROR failure of c (attempt 1)
 *           retryByErrorCode()        (c re-sent after the jittered delay, succeeds)
 * output:   --a---------b--c---|      c success, attempts 2
 * ```
 *
 * It must see failures synchronously from `correlate()` (no `observeOn`/`delay` between them):
 * `classify` lets an image go once its failure was delivered and nobody reserved it.
 *
 * @example
 * ```ts
 * events$.pipe(retryByErrorCode({ rules: { ERROR_CODE_MODEL_ERROR: { retries: 5 } } }));
 * ```
 *
 * @param policy.rules Per-code rules over `DEFAULT_RETRY_RULES`.
 * @param policy.scheduler Default `asyncScheduler`.
 * @param policy.random Default `Math.random`.
 * @see correlate
 * @see classify
 */
export function retryByErrorCode<R = unknown>(policy: RetryPolicy = {}): MonoTypeOperatorFunction<ClassificationEvent<R>> {
  const scheduler = policy.scheduler ?? asyncScheduler;
  const random = policy.random ?? Math.random;
  const rules: Partial<Record<FailureCode, RetryRule | false>> = { ...DEFAULT_RETRY_RULES, ...policy.rules };

  return (source) =>
    new Observable<ClassificationEvent<R>>((subscriber) => {
      /** Retries done so far per correlation id (only for images with a retry under way). */
      const retriesDone = new Map<string, number>();
      const waiting = new Set<{ ticket: RetryTicket; timer: Subscription; failure: ClassificationFailure<R> }>();

      const pass = (event: ClassificationEvent<R>): void => {
        if (event.kind !== 'foreign') retriesDone.delete(event.correlationId);
        subscriber.next(event);
      };

      const onFailure = (failure: ClassificationFailure<R>): void => {
        const rule = rules[failure.code];
        const done = retriesDone.get(failure.correlationId) ?? 0;
        const capability = retryCapabilityOf(failure);
        if (!rule || done >= rule.retries || !capability) return pass(failure);
        const ticket = capability.reserve();
        if (!ticket) return pass(failure);
        retriesDone.set(failure.correlationId, done + 1);
        const entry = {
          ticket,
          failure,
          timer: scheduler.schedule(() => {
            waiting.delete(entry);
            ticket.send();
          }, retryDelay(rule, done + 1, random)),
        };
        waiting.add(entry);
      };

      const subscription = source.subscribe({
        next: (event) => (event.kind === 'failure' ? onFailure(event) : pass(event)),
        error: (err: unknown) => subscriber.error(err),
        complete: () => {
          // The source cannot bring the retried images back any more: their failures are final.
          for (const entry of [...waiting]) {
            waiting.delete(entry);
            entry.timer.unsubscribe();
            entry.ticket.cancel();
            pass(entry.failure);
          }
          subscriber.complete();
        },
      });

      return () => {
        subscription.unsubscribe();
        for (const entry of waiting) {
          entry.timer.unsubscribe();
          entry.ticket.cancel();
        }
        waiting.clear();
      };
    });
}
