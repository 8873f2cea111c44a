/** Where a guarded call reports a throw: in practice an Rx `Subscriber`. */
export interface ErrorSink {
  error(err: unknown): void;
}

/** What {@link callUser} returns when the user code threw (the error went to the sink). */
export const THREW: unique symbol = Symbol('athena-rx.threw');

/**
 * Calls user code (an option callback, a transport supplied by the caller) so that a throw
 * becomes the error notification of `sink` instead of an exception thrown out of band, where
 * nobody downstream would hear of it (a timer callback, a `next` handler). RxJS's own operators
 * route every throw of user code to `subscriber.error` the same way. Returns {@link THREW} when
 * `fn` threw; the caller then stops what it was doing.
 */
export function callUser<T>(sink: ErrorSink, fn: () => T): T | typeof THREW {
  try {
    return fn();
  } catch (err) {
    sink.error(err);
    return THREW;
  }
}

/**
 * The error of a user callback that runs where a throw would otherwise be taken for a problem of
 * one image (a correlation id factory inside `prepareImage`): the operator recognises it and ends
 * the stream with `cause`, the callback's own error, as its error notification.
 */
export class UserCallbackError extends Error {
  readonly code = 'USER_CALLBACK_FAILED' as const;
  constructor(what: string, cause: unknown) {
    super(`${what} threw: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'UserCallbackError';
  }
}

/**
 * Wraps a user callback (sync or async) so that what it throws or rejects with arrives as a
 * {@link UserCallbackError} carrying the original as `cause`.
 */
export function markUserErrors<A extends unknown[], T>(what: string, fn: (...args: A) => T | Promise<T>): (...args: A) => T | Promise<T> {
  return (...args) => {
    let out: T | Promise<T>;
    try {
      out = fn(...args);
    } catch (err) {
      throw new UserCallbackError(what, err);
    }
    if (out instanceof Promise) {
      return out.catch((err: unknown) => {
        throw new UserCallbackError(what, err);
      });
    }
    return out;
  };
}
