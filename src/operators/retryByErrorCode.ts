import { asyncScheduler, Observable, type MonoTypeOperatorFunction, type SchedulerLike, type Subscription } from 'rxjs';
import { backoffDelay } from '../core/backoff';
import { callUser, THREW } from '../core/guard';
import { InvalidOptionError } from '../core/invalidOptionError';
import { checkFunction, checkInteger, checkMethods, checkNumber, checkOneOf, renamed } from '../core/options';
import { PipelineContext } from './pipelineContext';
import type { ClassificationEvent, ClassificationFailure, FailureCode, RetryTicket } from './results';

/** How one failure code is retried. */
export interface RetryRule {
  /** Retries after the first attempt (0 = never). */
  readonly retries: number;
  /** Delay before the first retry, ms; doubles with each retry. Default 250. */
  readonly initialDelayMs?: number;
  /** @deprecated Renamed `initialDelayMs` (spans end in `Ms`); this name goes in the next minor version. */
  readonly initialDelay?: number;
  /** Largest delay, ms. Default 10,000. */
  readonly maxDelayMs?: number;
  /** @deprecated Renamed `maxDelayMs`; this name goes in the next minor version. */
  readonly maxDelay?: number;
  /** `'full'` (default): a uniform delay in [0, backoff); `'equal'`: half of it fixed; `'none'`: exactly the backoff. */
  readonly jitter?: 'full' | 'equal' | 'none';
}

/** Options of {@link retryByErrorCode}: plain settings (a `ReconnectPolicy` is an object with a method; this is not). */
export interface RetryOptions {
  /** Rules per code, merged over {@link DEFAULT_RETRY_RULES}; `false` or `{ retries: 0 }` turns one off. */
  readonly rules?: Partial<Record<FailureCode, RetryRule | false>>;
  /** Where the delays run. Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
  /** Jitter source in [0, 1). Default `Math.random`; a throw ends the Observable with that error. */
  readonly random?: () => number;
  /**
   * The pipeline context shared with `classify` (see {@link PipelineContext}): the explicit link
   * through which this stage sends a failed image again. Required when subscribed (a missing one
   * is refused at subscription); `classifyStages(client)` makes the linked pair.
   */
  readonly context?: PipelineContext;
}

/**
 * The contract's advice: `MODEL_ERROR` possibly after a delay (3 retries, exponential backoff from
 * 250 ms with full jitter), `UNSPECIFIED` maybe (once); every other code never.
 */
export const DEFAULT_RETRY_RULES: Readonly<Partial<Record<FailureCode, RetryRule>>> = {
  ERROR_CODE_MODEL_ERROR: { retries: 3, initialDelayMs: 250, maxDelayMs: 10_000, jitter: 'full' },
  ERROR_CODE_UNSPECIFIED: { retries: 1, initialDelayMs: 250, maxDelayMs: 10_000, jitter: 'full' },
};

/** The delay before retry number `n` (1-based) under `rule` (the backoff of `src/core/backoff`). */
export function retryDelay(rule: RetryRule, n: number, random: () => number = Math.random): number {
  return backoffDelay(
    {
      initialDelay: rule.initialDelayMs ?? rule.initialDelay ?? 250,
      maxDelay: rule.maxDelayMs ?? rule.maxDelay ?? 10_000,
      jitter: rule.jitter ?? 'full',
    },
    n,
    random,
  );
}

/** @deprecated Renamed `RetryOptions` (an options bag, not a policy object); this name goes in the next minor version. */
export type RetryPolicy = RetryOptions;

const JITTERS = ['full', 'equal', 'none'] as const;

/** Checks every option and every rule when the operator is made: a bad one fails at once, not as a NaN delay. */
function checkPolicy(policy: RetryOptions): void {
  const op = 'retryByErrorCode';
  checkMethods(op, 'scheduler', policy.scheduler, ['schedule', 'now']);
  checkFunction(op, 'random', policy.random);
  if (policy.context !== undefined && !(policy.context instanceof PipelineContext))
    throw new InvalidOptionError(`${op}: context must be a pipelineContext(), got ${String(policy.context)}`);
  if (policy.rules === undefined) return;
  if (policy.rules === null || typeof policy.rules !== 'object')
    throw new InvalidOptionError(`${op}: rules must be an object of rules by failure code, got ${String(policy.rules)}`);
  for (const [code, rule] of Object.entries(policy.rules)) {
    if (rule === false || rule === undefined) continue;
    const name = `rules.${code}`;
    if (rule === null || typeof rule !== 'object')
      throw new InvalidOptionError(`${op}: ${name} must be a rule or false, got ${String(rule)}`);
    if (rule.retries === undefined) throw new InvalidOptionError(`${op}: ${name}.retries is required (0 for none)`);
    checkInteger(op, `${name}.retries`, rule.retries, 0);
    checkNumber(
      op,
      `${name}.initialDelayMs`,
      renamed(op, `${name}.initialDelayMs`, rule.initialDelayMs, 'initialDelay', rule.initialDelay),
      0,
    );
    checkNumber(op, `${name}.maxDelayMs`, renamed(op, `${name}.maxDelayMs`, rule.maxDelayMs, 'maxDelay', rule.maxDelay), 0);
    checkOneOf(op, `${name}.jitter`, rule.jitter, JITTERS);
  }
}

const PAIR_ADVICE =
  'make the pair with classifyStages(client) (const { classify, retry } = classifyStages(client)), ' +
  'or pass the same pipelineContext() to classify(client, { context }) and retryByErrorCode({ context }); classifyImages does this for you';

function noContext(): InvalidOptionError {
  return new InvalidOptionError(
    `retryByErrorCode: no pipeline context, so it is linked to no classify and could retry nothing: ${PAIR_ADVICE}`,
  );
}

function unlinked(failure: ClassificationFailure<unknown>): InvalidOptionError {
  return new InvalidOptionError(
    `retryByErrorCode: cannot retry '${failure.correlationId}' (${failure.code}): no classify() was given this retryByErrorCode's context, so none kept the image: ${PAIR_ADVICE}`,
  );
}

/**
 * Sends failed images again, per failure code, and lets only their final result through.
 *
 * Use it after `correlate()`, linked to its `classify` by one {@link PipelineContext} (made by
 * `classifyStages(client)`, or given to both): a failure whose code has a rule with retries left
 * is held back, and after the backoff its prepared image goes out again on the same stream,
 * without decoding it again. The new result records the higher `attempts`. Failures that
 * `classify` did not keep (preprocess failures, results built by hand) and codes without a rule
 * pass through unchanged. Without a context it errors at subscription, saying what to change.
 *
 * ```text
 * results:  --a--F------b------|      F = MODEL_ERROR failure of c (attempt 1)
 *           retryByErrorCode()        (c re-sent after the jittered delay, succeeds)
 * output:   --a---------b--c---|      c success, attempts 2
 * ```
 *
 * Operators of yours may stand between `correlate` and it (`observeOn`, `delay`, `concatMap`,
 * `map`, `tap`, `subscribeOn`): `classify` asks the pipeline context, when an image fails, whether
 * this stage will retry it, and keeps the image until the failure has arrived here, however late.
 * They must pass every failure on (a `filter` that drops one would keep `classify` waiting for its
 * decision).
 *
 * @example
 * ```ts
 * const context = pipelineContext();
 * batches$.pipe(
 *   classify(client, { context }),
 *   correlate(),
 *   retryByErrorCode({ context, rules: { ERROR_CODE_MODEL_ERROR: { retries: 5 } } }),
 * );
 * ```
 *
 * @param policy.rules Per-code rules over `DEFAULT_RETRY_RULES`.
 * @param policy.scheduler Default `asyncScheduler`.
 * @param policy.random Default `Math.random`.
 * @param policy.context Required: the context given to its `classify` (see `classifyStages`).
 * @see correlate
 * @see classify
 * @see PipelineContext
 */
export function retryByErrorCode<R = unknown>(policy: RetryOptions = {}): MonoTypeOperatorFunction<ClassificationEvent<R>> {
  checkPolicy(policy);
  const scheduler = policy.scheduler ?? asyncScheduler;
  const random = policy.random ?? Math.random;
  const rules: Partial<Record<FailureCode, RetryRule | false>> = { ...DEFAULT_RETRY_RULES, ...policy.rules };

  return (source) =>
    new Observable<ClassificationEvent<R>>((subscriber) => {
      const context = policy.context;
      if (!context) {
        subscriber.error(noContext());
        return undefined;
      }
      /** Retries done so far per correlation id (only for images with a retry under way). */
      const retriesDone = new Map<string, number>();
      const waiting = new Set<{ ticket: RetryTicket; timer: Subscription; failure: ClassificationFailure<R> }>();
      const ruleFor = (code: FailureCode, id: string): RetryRule | undefined => {
        const rule = rules[code];
        return rule && (retriesDone.get(id) ?? 0) < rule.retries ? rule : undefined;
      };
      let detach: () => void;
      try {
        detach = context.attachRetryStage({ wantsRetry: (id, code) => ruleFor(code, id) !== undefined });
      } catch (err) {
        subscriber.error(err);
        return undefined;
      }

      const pass = (event: ClassificationEvent<R>): void => {
        if (event.kind !== 'foreign') retriesDone.delete(event.correlationId);
        subscriber.next(event);
      };

      const onFailure = (failure: ClassificationFailure<R>): void => {
        // By id: the failure may be a copy of the one correlate made.
        const kept = context.takeKept(failure.correlationId);
        const rule = ruleFor(failure.code, failure.correlationId);
        if (rule && !kept && failure.stage !== 'preprocess' && !context.hadClassify) return subscriber.error(unlinked(failure));
        const done = (retriesDone.get(failure.correlationId) ?? 0) + 1;
        const delay = rule && kept ? callUser(subscriber, () => retryDelay(rule, done, random)) : undefined;
        if (delay === THREW) return;
        const ticket = delay !== undefined ? kept?.reserve() : undefined;
        if (delay === undefined || !ticket) {
          pass(failure);
          // After it was passed on: letting go may complete the session, and with it this source.
          kept?.release?.();
          return;
        }
        retriesDone.set(failure.correlationId, done);
        const entry = {
          ticket,
          failure,
          timer: scheduler.schedule(() => {
            waiting.delete(entry);
            ticket.send();
          }, delay),
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
        detach();
        subscription.unsubscribe();
        for (const entry of waiting) {
          entry.timer.unsubscribe();
          entry.ticket.cancel();
        }
        waiting.clear();
      };
    });
}
