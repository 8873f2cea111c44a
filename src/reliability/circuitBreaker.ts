import { asyncScheduler, Subject, type Observable, type SchedulerLike, type Subscription } from 'rxjs';
import { InvalidOptionError } from '../core/invalidOptionError';

/** Where a {@link CircuitBreaker} stands: `closed` lets calls through, `open` refuses them, `half-open` lets one probe through. */
export type CircuitState = 'closed' | 'open' | 'half-open';

/** A change of a breaker's state, as {@link CircuitBreaker.events} emits it. */
export interface CircuitBreakerEvent {
  readonly kind: 'circuit';
  /** `scheduler.now()` of the change. */
  readonly at: number;
  readonly from: CircuitState;
  readonly to: CircuitState;
  /** Why, in words for a log line: `'5 failures in 10000 ms'`, `'cool-down of 5000 ms over'`, `'probe succeeded'`, `'probe failed'`. */
  readonly reason: string;
}

/** Options of {@link circuitBreaker}. */
export interface CircuitBreakerOptions {
  /** Failures within `window` that open the circuit. Default 5. Ignored when `failureRate` is set. */
  readonly failureThreshold?: number;
  /**
   * Open on a failure rate instead of a count: the share (0 < rate <= 1) of failed outcomes within
   * `window`, judged once at least `minimumCalls` outcomes are in the window. Default: not used.
   */
  readonly failureRate?: number;
  /** Outcomes the window must hold before `failureRate` is judged. Default 10. */
  readonly minimumCalls?: number;
  /** The sliding window over which failures are counted, in ms. Default 10,000. */
  readonly window?: number;
  /** How long the circuit stays open before one probe may go (half-open), in ms. Default 5,000. */
  readonly coolDown?: number;
  /** Time of the window and the cool-down. Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
}

/**
 * A circuit breaker: counts the outcomes of calls and, after too many failures, refuses calls for
 * a cool-down, then lets a single probe through to decide whether to close again.
 *
 * The breaker makes no calls itself; whoever makes them asks {@link CircuitBreaker.tryPass} first
 * and reports each call's outcome with {@link CircuitBreaker.recordSuccess} or
 * {@link CircuitBreaker.recordFailure}. `classify(client, { breaker })` does this per request: while the circuit is open it stops sending, so the window fills and the
 * pipeline stops reading and preparing images.
 */
export interface CircuitBreaker {
  readonly state: CircuitState;
  /** Outcomes (successes, failures) in the current window. */
  readonly counts: { readonly failures: number; readonly calls: number };
  /** Every change of state, from subscription on (hot: past changes are not replayed). */
  readonly events: Observable<CircuitBreakerEvent>;
  /**
   * Whether a call may go now: always when closed, never when open, and once when half-open
   * (that call is the probe; further calls wait for its outcome).
   */
  tryPass(): boolean;
  /** A call succeeded. In half-open (the probe), closes the circuit. */
  recordSuccess(): void;
  /** A call failed. May open the circuit (closed), or reopen it (half-open, the probe). Ignored while open. */
  recordFailure(): void;
  /** Cancels the cool-down timer and completes `events`. The breaker refuses nothing afterwards. */
  dispose(): void;
}

const DEFAULTS = { failureThreshold: 5, minimumCalls: 10, window: 10_000, coolDown: 5_000 } as const;
/** The window is kept as this many buckets, so memory stays bounded however many calls it sees. */
const BUCKETS = 10;

interface Bucket {
  start: number;
  failures: number;
  calls: number;
}

function checkPositive(name: string, value: number | undefined, integer: boolean): void {
  if (value === undefined) return;
  if (!(Number.isFinite(value) && value > 0 && (!integer || Number.isInteger(value)))) {
    throw new InvalidOptionError(`circuitBreaker: ${name} must be a positive ${integer ? 'integer' : 'number'}, got ${value}`);
  }
}

/**
 * Creates a {@link CircuitBreaker}: closed, then open after `failureThreshold` failures (or a
 * `failureRate`) within `window`, half-open after `coolDown`, closed again when the probe succeeds
 * and open again when it fails.
 *
 * Use it to stop spending work on a service that is failing: one breaker can guard several
 * pipelines that talk to the same service, and its `events` feed logs and metrics.
 *
 * ```text
 * outcomes:  -f-f-f-------------p-s----     f = failure, s = success, p = tryPass() (the probe)
 *            circuitBreaker({ failureThreshold: 3, coolDown: 10 })
 * events:    -----o---------h-----c----     o = open, h = half-open, c = closed
 * ```
 *
 * @example
 * ```ts
 * const breaker = circuitBreaker({ failureThreshold: 5, window: 10_000, coolDown: 5_000 });
 * breaker.events.subscribe((e) => console.error(`circuit ${e.from} -> ${e.to}: ${e.reason}`));
 * images$.pipe(classifyImages(client, { classify: { breaker } }));
 * ```
 *
 * @param options.failureThreshold Default 5.
 * @param options.failureRate Default none (count failures, not a rate).
 * @param options.minimumCalls Default 10.
 * @param options.window Default 10,000 ms.
 * @param options.coolDown Default 5,000 ms.
 * @param options.scheduler Default `asyncScheduler`.
 * @see classify
 */
export function circuitBreaker(options: CircuitBreakerOptions = {}): CircuitBreaker {
  checkPositive('failureThreshold', options.failureThreshold, true);
  checkPositive('minimumCalls', options.minimumCalls, true);
  checkPositive('window', options.window, false);
  checkPositive('coolDown', options.coolDown, false);
  const rate = options.failureRate;
  if (rate !== undefined && !(rate > 0 && rate <= 1))
    throw new InvalidOptionError(`circuitBreaker: failureRate must be in (0, 1], got ${rate}`);
  const threshold = options.failureThreshold ?? DEFAULTS.failureThreshold;
  const minimumCalls = options.minimumCalls ?? DEFAULTS.minimumCalls;
  const window = options.window ?? DEFAULTS.window;
  const coolDown = options.coolDown ?? DEFAULTS.coolDown;
  const scheduler = options.scheduler ?? asyncScheduler;
  const bucketMs = window / BUCKETS;

  const changes = new Subject<CircuitBreakerEvent>();
  let state: CircuitState = 'closed';
  let buckets: Bucket[] = [];
  let probing = false;
  let timer: Subscription | undefined;
  let disposed = false;

  const prune = (now: number): void => {
    // A bucket counts while any of it lies within the window; whole buckets leave at once.
    while (buckets.length > 0 && buckets[0].start + bucketMs <= now - window) buckets.shift();
  };
  const totals = (): { failures: number; calls: number } => {
    prune(scheduler.now());
    let failures = 0;
    let calls = 0;
    for (const b of buckets) {
      failures += b.failures;
      calls += b.calls;
    }
    return { failures, calls };
  };
  const count = (failed: boolean): void => {
    const now = scheduler.now();
    const start = Math.floor(now / bucketMs) * bucketMs;
    let last = buckets[buckets.length - 1];
    if (!last || last.start !== start) {
      last = { start, failures: 0, calls: 0 };
      buckets.push(last);
    }
    last.calls += 1;
    if (failed) last.failures += 1;
  };

  const move = (to: CircuitState, reason: string): void => {
    const from = state;
    state = to;
    probing = false;
    timer?.unsubscribe();
    timer = undefined;
    if (to === 'open') {
      timer = scheduler.schedule(() => {
        timer = undefined;
        if (state === 'open' && !disposed) move('half-open', `cool-down of ${coolDown} ms over`);
      }, coolDown);
    }
    if (to === 'closed') buckets = [];
    changes.next({ kind: 'circuit', at: scheduler.now(), from, to, reason });
  };

  const tripped = (): string | undefined => {
    const { failures, calls } = totals();
    if (rate === undefined) return failures >= threshold ? `${failures} failures in ${window} ms` : undefined;
    return calls >= minimumCalls && failures / calls >= rate ? `${failures} of ${calls} calls failed in ${window} ms` : undefined;
  };

  return {
    get state() {
      return state;
    },
    get counts() {
      return totals();
    },
    events: changes.asObservable(),
    tryPass(): boolean {
      if (disposed || state === 'closed') return true;
      if (state === 'open' || probing) return false;
      probing = true;
      return true;
    },
    recordSuccess(): void {
      if (disposed) return;
      if (state === 'half-open') return move('closed', 'probe succeeded');
      if (state !== 'closed') return;
      count(false);
      // A success can bring the window up to minimumCalls with the failure share already too high.
      const reason = rate === undefined ? undefined : tripped();
      if (reason) move('open', reason);
    },
    recordFailure(): void {
      if (disposed) return;
      if (state === 'half-open') return move('open', 'probe failed');
      if (state !== 'closed') return;
      count(true);
      const reason = tripped();
      if (reason) move('open', reason);
    },
    dispose(): void {
      if (disposed) return;
      disposed = true;
      timer?.unsubscribe();
      changes.complete();
    },
  };
}
