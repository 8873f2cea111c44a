import { Observable } from 'rxjs';
import { InvalidOptionError } from '../core/invalidOptionError';

/**
 * A credit gate shared by the stages of one pipeline: at most `size` credits are out at once.
 *
 * `preprocess({ window })` takes one credit per image before preparing it and `classify(client,
 * { window })` gives it back once the image's final answer has left (or the image failed), so the
 * number of images alive between the two stages never passes `size`, whatever the source does.
 */
export interface InFlightWindow {
  /** How many credits exist. */
  readonly size: number;
  /** How many credits are taken now. */
  readonly inUse: number;
  /** The most credits ever taken at once (for tests and metrics). */
  readonly highWater: number;
  /** How many `acquire()` subscriptions wait for a credit. */
  readonly waiting: number;
  /**
   * Emits once (then completes) when a credit is granted to this subscription: synchronously if
   * one is free, else in FIFO order as credits come back. The credit then belongs to the caller
   * until it calls `release()`; unsubscribing before the grant withdraws the request.
   */
  acquire(): Observable<void>;
  /** Gives `n` credits back (default 1) and grants them to waiting `acquire()`s at once. */
  release(n?: number): void;
}

/** Items (prepared images or failures) that carry one credit of a window to `classify()`. */
const creditHolders = new WeakSet<object>();

/**
 * Marks `item` as carrying one credit of the pipeline's window: `classify(client, { window })`
 * gives a credit back for it when its answer has left. `preprocess({ window })` marks what it
 * emits; a custom preparation stage that takes credits with `acquire()` marks its items too.
 * Items that are not marked give nothing back, so a stray item cannot unbalance the window.
 */
export function holdCredit(item: object): void {
  creditHolders.add(item);
}

/** Whether `item` carried a credit; it no longer does. The caller gives the credit back. */
export function takeCredit(item: object): boolean {
  return creditHolders.delete(item);
}

/**
 * Creates a credit gate of `size` credits: the shared back-pressure window of a pipeline.
 *
 * Use it to bound memory end to end: pass the same window to `preprocess({ window })` and to
 * `classify(client, { window })` (`classifyImages` does this for you). It has no timers and no
 * scheduler: credits are granted synchronously, during `acquire()` or during `release()`.
 *
 * ```text
 * size 2       acquire  acquire  acquire      release       release
 * granted:        a        b        .            c             .
 * inUse:          1        2        2 (c waits)  2             1
 * ```
 *
 * @example
 * ```ts
 * const window = inFlightWindow(256);
 * images$.pipe(preprocess({ window }), bufferBatch(), classify(client, { window }), correlate());
 * ```
 *
 * @param size How many credits exist; an integer >= 1.
 * @see preprocess
 * @see classify
 * @see classifyImages
 */
export function inFlightWindow(size: number): InFlightWindow {
  if (!Number.isInteger(size) || size < 1) throw new InvalidOptionError(`inFlightWindow: size must be an integer >= 1, got ${size}`);
  let inUse = 0;
  let highWater = 0;
  const waiters: Array<() => void> = [];
  let granting = false;

  const take = (): void => {
    inUse += 1;
    if (inUse > highWater) highWater = inUse;
  };

  // Grants free credits to waiters in order. A grant may run user code that releases or acquires
  // again: the flag keeps that from nesting, the loop picks up whatever it changed.
  const grant = (): void => {
    if (granting) return;
    granting = true;
    try {
      while (inUse < size && waiters.length > 0) {
        const next = waiters.shift()!;
        take();
        next();
      }
    } finally {
      granting = false;
    }
  };

  return {
    size,
    get inUse() {
      return inUse;
    },
    get highWater() {
      return highWater;
    },
    get waiting() {
      return waiters.length;
    },
    acquire: () =>
      new Observable<void>((subscriber) => {
        const onGrant = (): void => {
          subscriber.next();
          subscriber.complete();
        };
        if (inUse < size && waiters.length === 0) {
          take();
          onGrant();
          return undefined;
        }
        waiters.push(onGrant);
        return () => {
          const i = waiters.indexOf(onGrant);
          if (i >= 0) waiters.splice(i, 1);
        };
      }),
    release(n = 1) {
      if (!Number.isInteger(n) || n < 0) throw new InvalidOptionError(`release: n must be an integer >= 0, got ${n}`);
      if (n > inUse) throw new InvalidOptionError(`release: ${n} credits released but only ${inUse} in use`);
      inUse -= n;
      grant();
    },
  };
}
