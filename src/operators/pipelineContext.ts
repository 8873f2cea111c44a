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
 * What the stages of one pipeline share, keyed by correlation id: today the link between
 * `classify` and `retryByErrorCode`. Because `classify` asks the context, when an image fails,
 * whether a retry will follow, and keeps the image until the retry stage has decided, any
 * operators may stand between `correlate` and `retryByErrorCode` (`observeOn`, `delay`,
 * `concatMap`): nothing depends on the failure being delivered synchronously.
 *
 * `classifyImages` makes one per subscription. When you compose the stages yourself, a
 * `retryByErrorCode()` links the `classify()` subscribed through it on its own (it lends its
 * context while it subscribes to its source); pass one explicitly, the same to both, when
 * something between them subscribes later (`subscribeOn`, a `classify` inside a `mergeMap`).
 */
export class PipelineContext {
  #decider: RetryDecider | undefined;
  /**
   * The images `classify` keeps for the retry stage's decision, by correlation id: the retry
   * stage finds an image here by the failure's id, so a failure that was copied on its way
   * (`map((e) => ({ ...e }))` drops hidden properties) is still retried. Bounded by the window:
   * an image is here only while it is held.
   */
  readonly #held = new Map<string, RetryCapability>();

  /** Whether a retry stage is attached now. @internal */
  get hasRetryStage(): boolean {
    return this.#decider !== undefined;
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
        'retryByErrorCode: this pipeline context already serves another retryByErrorCode subscription; give each pipeline its own pipelineContext() (classifyImages does), and put one retryByErrorCode per pipeline',
      );
    }
    this.#decider = decider;
    return () => {
      if (this.#decider === decider) this.#decider = undefined;
    };
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

/** A fresh {@link PipelineContext} for one pipeline (one subscription of it). */
export function pipelineContext(): PipelineContext {
  return new PipelineContext();
}

/** Contexts lent by retry stages while they subscribe to their source, innermost last. */
const lent: PipelineContext[] = [];

/**
 * Runs `subscribe` (a retry stage subscribing to its source) with `context` lent to the stages
 * subscribed meanwhile: a `classify()` without a context of its own takes the innermost one.
 */
export function lendContext<T>(context: PipelineContext, subscribe: () => T): T {
  lent.push(context);
  try {
    return subscribe();
  } finally {
    lent.pop();
  }
}

/** The context a retry stage downstream lends right now, if any (see {@link lendContext}). */
export function lentContext(): PipelineContext | undefined {
  return lent[lent.length - 1];
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
