import type { FailureCode } from '../core/codes';
import { InvalidOptionError } from '../core/invalidOptionError';

/** What a retry stage (`retryByErrorCode`) tells the `classify` sessions of its pipeline. */
export interface RetryDecider {
  /**
   * Whether a failure of the image `correlationId` with `code` is going to be sent again. When it
   * is, the session keeps the image (and its window credit, and its stream open) until the
   * decider reserves it through the failure's retry capability or releases it.
   */
  wantsRetry(correlationId: string, code: FailureCode): boolean;
}

/**
 * The explicit link between a `classify` and its `retryByErrorCode`: what the two stages of one
 * pipeline share, keyed by correlation id. Both stages are given the same context (by
 * {@link classifyStages}, by `classifyImages`, or by you: `classify(client, { context })` and
 * `retryByErrorCode({ context })`); nothing is found through module state or object identity.
 *
 * When an image fails, `classify` asks the context whether the retry stage will retry it, and if
 * so keeps the image (and its window credit, and its stream open) until the failure has reached
 * the retry stage and it has decided. So any operators may stand between `correlate` and
 * `retryByErrorCode` (`observeOn`, `delay`, `concatMap`, a copying `map`), and `classify` may
 * subscribe after the retry stage (`subscribeOn`, a `classify` inside a `mergeMap`): nothing
 * depends on the failure being delivered synchronously or on the order of subscription.
 *
 * The compositions that cannot work are refused at subscription with an `InvalidOptionError` that
 * says what to change: a `retryByErrorCode` without a context, a second `retryByErrorCode` on one
 * context, and a `classify` whose context has no `retryByErrorCode` subscribed (a context that is
 * not the retry stage's). See docs/reliability.md#composition.
 */
export class PipelineContext {
  #decider: RetryDecider | undefined;
  /** Whether a `classify` subscription was ever attached (for the unlinked check). */
  #everAttached = false;
  /**
   * The images `classify` keeps for the retry stage's decision, by correlation id: the retry
   * stage finds an image here by the failure's id, so a failure that was copied on its way
   * (`map((e) => ({ ...e }))`) is still retried. Bounded by the window: an image is here only
   * while it is held.
   */
  readonly #held = new Map<string, RetryCapability>();

  /** Whether a retry stage is attached now. @internal */
  get hasRetryStage(): boolean {
    return this.#decider !== undefined;
  }

  /** Whether a `classify` subscription was ever attached (its images can be kept here). @internal */
  get hadClassify(): boolean {
    return this.#everAttached;
  }

  /**
   * Attaches the pipeline's retry stage; returns its detach function. A context serves one retry
   * stage at a time: a second one is a composition that cannot work (each would hold images
   * for the other), refused with `InvalidOptionError`.
   * @internal
   */
  attachRetryStage(decider: RetryDecider): () => void {
    if (this.#decider) {
      throw new InvalidOptionError(
        'retryByErrorCode: this pipeline context already serves another retryByErrorCode subscription; give each pipeline its own pair (classifyStages(client), or one pipelineContext() per pipeline: classifyImages does), and put one retryByErrorCode per pipeline',
      );
    }
    this.#decider = decider;
    return () => {
      if (this.#decider === decider) this.#decider = undefined;
    };
  }

  /**
   * Attaches a `classify` subscription. Its retry stage must be
   * subscribed already: downstream stages subscribe first (also with `subscribeOn` in between or
   * inside a `mergeMap`), so a context without one is not the retry stage's, and `classify` would
   * keep nothing for it. Refused with `InvalidOptionError`.
   * @internal
   */
  attachClassify(): void {
    if (!this.#decider) {
      throw new InvalidOptionError(
        'classify: its pipeline context has no retryByErrorCode subscribed, so failed images could not be retried; give the retryByErrorCode downstream the same context (classifyStages(client) makes the pair), or leave the context out for no retries',
      );
    }
    this.#everAttached = true;
  }

  /** See {@link RetryDecider.wantsRetry}; false when no retry stage is attached. @internal */
  wantsRetry(correlationId: string, code: FailureCode): boolean {
    return this.#decider?.wantsRetry(correlationId, code) ?? false;
  }

  /** `classify` keeps the image `correlationId` for the retry stage: its capability, by id. @internal */
  keepForRetry(correlationId: string, capability: RetryCapability): void {
    this.#held.set(correlationId, capability);
  }

  /** The capability of a kept image, handed over once (the retry stage then reserves or releases it). @internal */
  takeKept(correlationId: string): RetryCapability | undefined {
    const capability = this.#held.get(correlationId);
    this.#held.delete(correlationId);
    return capability;
  }
}

/**
 * A fresh {@link PipelineContext}: give the same one to `classify(client, { context })` and
 * `retryByErrorCode({ context })` of one pipeline (or let {@link classifyStages} do it).
 */
export function pipelineContext(): PipelineContext {
  return new PipelineContext();
}

/** Reserved retry of one image: `send()` puts it back on the stream, `cancel()` lets it go. Each acts once. */
export interface RetryTicket {
  send(): void;
  cancel(): void;
}

/**
 * The way back into the `classify` session that produced a failure. `reserve()` keeps the prepared
 * image and holds the session open, and returns a ticket to send it again; it returns `undefined`
 * when the image can no longer be sent (session over, transport dead, already reserved or let go).
 * A failure that the pipeline's retry stage said it would retry ({@link PipelineContext}) is
 * kept until `reserve()` or `release()`, however late that comes; any other failure only while it
 * is being delivered.
 */
export interface RetryCapability {
  reserve(): RetryTicket | undefined;
  /** Lets the image go if it is still kept for a decision: its failure is final. */
  release?(): void;
  /** The pipeline context of the session (absent for a capability made by hand). */
  readonly context?: PipelineContext;
}
