import type { SchedulerLike } from 'rxjs';
import { InvalidOptionError } from '../core/invalidOptionError';

/**
 * Where the in-process server reads the time. Expiry (responses after 1 h, deployments after 24 h
 * idle) is computed from `now()`, so tests inject a {@link ManualClock} and advance it instead of
 * waiting. It is RxJS's own clock, `SchedulerLike`'s `now()`, so the one time abstraction of the
 * project serves here too: a `TestScheduler` or `VirtualTimeScheduler` is a `Clock` as it is.
 */
export interface Clock extends Pick<SchedulerLike, 'now'> {
  /** Milliseconds since an arbitrary epoch; must never go backwards. */
  now(): number;
  /**
   * Called by the server to be told when time jumps (so it can purge at once). Optional: a clock
   * without it is swept on a real-time timer instead.
   */
  onAdvance?(listener: () => void): () => void;
}

/** The real clock: `Date.now()`. */
export const systemClock: Clock = { now: () => Date.now() };

/**
 * A clock that moves only when told to. Pass it as `clock` to `startAthenaServer`; each
 * `advance()` runs the server's expiry sweep synchronously, so assertions right after see its
 * effect.
 *
 * @example
 * const clock = new ManualClock();
 * const server = await startAthenaServer({ clock });
 * clock.advance(60 * 60 * 1000 + 1); // undelivered responses are now purged
 */
export class ManualClock implements Clock {
  private current: number;
  private readonly listeners = new Set<() => void>();

  /** @param start the initial `now()` (default 0). */
  constructor(start = 0) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  /** Moves time forward by `ms` (>= 0) and notifies listeners. */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new InvalidOptionError(`ManualClock.advance: ms must be >= 0, got ${ms}`);
    this.current += ms;
    for (const listener of [...this.listeners]) listener();
  }

  onAdvance(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
