import { Observable, Subject } from 'rxjs';
import { InvalidOptionError } from '../core/invalidOptionError';

/**
 * A credit gate shared by the stages of one pipeline: at most `size` credits are out at once.
 *
 * `preprocess({ window })` takes one credit per image before preparing it and, once the image has
 * its correlation id, records that the id holds it (`hold`); `classify(client, { window })` gives
 * it back by that id (`giveBack`) once the image's final answer has left (or the image failed). So
 * the number of images alive between the two stages never passes `size`, whatever the source does,
 * and whatever operators of yours stand between the stages: a credit follows the correlation id,
 * not the object that carries it.
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
  /**
   * Records that the image `correlationId` now holds one of the credits taken with `acquire()`
   * (an id may hold several: one per image that uses it). Throws `InvalidOptionError` when no
   * taken credit is left unheld.
   */
  hold(correlationId: string): void;
  /** Gives back one credit held by `correlationId`, if it holds one; whether it did. */
  giveBack(correlationId: string): boolean;
  /** How many credits `correlationId` holds (for tests and diagnostics). */
  heldBy(correlationId: string): number;
  /**
   * Records that the image `correlationId` reached the stage that gives its credit back
   * (`classify` does this when it takes the image in): its credit is no longer on its way.
   */
  claim(correlationId: string): void;
  /**
   * The ids holding a credit no stage has claimed yet, once per such credit: images on their way
   * between `preprocess` and `classify`, or dropped on the way (see {@link InFlightWindow.waits}).
   */
  unclaimed(): string[];
  /**
   * Emits each time an `acquire()` has to wait (every credit is taken). `classify` watches it:
   * when every credit is held by an id that never reached it and nothing it holds can free one,
   * the images were dropped between the stages (a `filter`), and it gives their credits back.
   */
  readonly waits: Observable<void>;
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
  /** Credits held by correlation id; their sum never passes `inUse`. */
  const holders = new Map<string, number>();
  /** Of those, how many reached the stage that gives them back (`claim`); never more than held. */
  const claimed = new Map<string, number>();
  let held = 0;
  const waits = new Subject<void>();

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
        waits.next();
        return () => {
          const i = waiters.indexOf(onGrant);
          if (i >= 0) waiters.splice(i, 1);
        };
      }),
    release(n = 1) {
      if (!Number.isInteger(n) || n < 0) throw new InvalidOptionError(`release: n must be an integer >= 0, got ${n}`);
      if (n > inUse - held)
        throw new InvalidOptionError(`release: ${n} credits released but only ${inUse - held} in use and held by no id`);
      inUse -= n;
      grant();
    },
    hold(correlationId) {
      if (held >= inUse) throw new InvalidOptionError(`hold: '${correlationId}' cannot hold a credit: none taken with acquire() is free`);
      holders.set(correlationId, (holders.get(correlationId) ?? 0) + 1);
      held += 1;
    },
    giveBack(correlationId) {
      const n = holders.get(correlationId);
      if (n === undefined) return false;
      if (n === 1) holders.delete(correlationId);
      else holders.set(correlationId, n - 1);
      const c = claimed.get(correlationId) ?? 0;
      if (c >= n) {
        if (n === 1) claimed.delete(correlationId);
        else claimed.set(correlationId, n - 1);
      }
      held -= 1;
      inUse -= 1;
      grant();
      return true;
    },
    heldBy: (correlationId) => holders.get(correlationId) ?? 0,
    claim(correlationId) {
      const c = claimed.get(correlationId) ?? 0;
      if (c < (holders.get(correlationId) ?? 0)) claimed.set(correlationId, c + 1);
    },
    unclaimed() {
      const ids: string[] = [];
      for (const [id, n] of holders) for (let i = claimed.get(id) ?? 0; i < n; i++) ids.push(id);
      return ids;
    },
    waits: waits.asObservable(),
  };
}
