/**
 * How a delay grows between attempts: `initialDelay * 2^(n-1)`, capped at `maxDelay`, then
 * jittered. The one formula behind `classify`'s reconnects and `retryByErrorCode`'s retries.
 */
export interface Backoff {
  /** Delay before the first attempt, ms. */
  readonly initialDelay: number;
  /** Largest delay, ms. */
  readonly maxDelay: number;
  /**
   * `'full'`: uniform in [0, backoff); `'equal'`: half the backoff plus a uniform half (never
   * shorter than half); `'none'`: exactly the backoff.
   */
  readonly jitter: 'full' | 'equal' | 'none';
}

/**
 * The delay before attempt `n` (1-based) under `backoff`, in whole milliseconds. `random` is only
 * called for a jittered backoff; it is the caller's (often user) code, so the caller guards it.
 */
export function backoffDelay(backoff: Backoff, n: number, random: () => number): number {
  const base = Math.min(backoff.maxDelay, backoff.initialDelay * 2 ** (n - 1));
  switch (backoff.jitter) {
    case 'none':
      return base;
    case 'full':
      return Math.floor(random() * base);
    case 'equal':
      return Math.floor(base / 2 + (base / 2) * random());
  }
}
