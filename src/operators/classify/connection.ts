import { Observable, type Subscriber, type Subscription } from 'rxjs';
import type { ClassifyRequest, ClassifyResponse } from '../../contract/messages';
import { backoffDelay } from '../../core/backoff';
import { callUser, THREW, type ErrorSink } from '../../core/guard';
import type { ClassifyTransport, ClassifyWriteState } from '../../transport/types';

/** What the session hears from its stream. */
export interface StreamHandlers {
  response(response: ClassifyResponse): void;
  /** The call ended: with the transport's error, or `undefined` when the server completed it. */
  end(error: unknown): void;
  /** The write side drained: held requests may go. */
  writable(): void;
}

/** What a stream needs from its session. */
export interface StreamDeps {
  readonly transport: ClassifyTransport;
  readonly deploymentId: string;
  readonly keepAlive: number;
  /** Schedules `work` after `delay` ms on the session's scheduler, hung off its one Subscription. */
  readonly after: (delay: number, work: () => void) => Subscription;
  /** Where a throw of the caller's transport goes (the session's subscriber). */
  readonly sink: ErrorSink;
}

/**
 * One `Classify` call: the request Observable handed to the transport, writes (queued until the
 * transport subscribes), the write-side state for back-pressure, the keep-alive, the half-close.
 * A stream that was closed ignores everything the transport still reports.
 */
export class StreamConnection {
  /** The transport's write side is saturated: the session holds requests until it drains. */
  blocked = false;
  /** The stream has had at least one response. */
  answered = false;
  private writer: Subscriber<ClassifyRequest> | undefined;
  private readonly queue: ClassifyRequest[] = [];
  private ended = false;
  private live = true;
  private call: Subscription | undefined;
  private keepAliveTimer: Subscription | undefined;

  constructor(
    private readonly deps: StreamDeps,
    private readonly on: StreamHandlers,
  ) {}

  /** Whether the stream is still the session's (not ended by the server, not closed). */
  get isLive(): boolean {
    return this.live;
  }

  /** Opens the call and writes the empty request that joins the deployment. */
  open(): void {
    const requests$ = new Observable<ClassifyRequest>((w) => {
      this.writer = w;
      for (const r of this.queue.splice(0)) w.next(r);
      if (this.ended) w.complete();
      return () => {
        this.writer = undefined;
      };
    });
    const onWriteState = (state: ClassifyWriteState): void => {
      if (!this.live) return;
      const blocked = state.waitingForDrain || state.queued > 0;
      if (blocked === this.blocked) return;
      this.blocked = blocked;
      if (!blocked) this.on.writable();
    };
    const responses = callUser(this.deps.sink, () => this.deps.transport.classify(requests$, { onWriteState }));
    if (responses === THREW) {
      this.live = false;
      return;
    }
    this.call = responses.subscribe({
      next: (response) => {
        if (!this.live) return;
        this.answered = true;
        this.on.response(response);
      },
      error: (err: unknown) => this.finish(err),
      complete: () => this.finish(undefined),
    });
    if (!this.live)
      this.call.unsubscribe(); // it ended while subscribing
    else this.write({ deploymentId: this.deps.deploymentId, inputs: [] });
  }

  /** Writes one request and restarts the keep-alive countdown. */
  write(request: ClassifyRequest): void {
    if (!this.live || this.ended) return;
    if (this.writer) this.writer.next(request);
    else this.queue.push(request);
    this.scheduleKeepAlive();
  }

  /** Half-closes: no more requests; the server ends the call once it has written our answers. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.keepAliveTimer?.unsubscribe();
    this.writer?.complete();
  }

  /** Cancels the call; nothing it reports afterwards reaches the session. */
  close(): void {
    this.live = false;
    this.keepAliveTimer?.unsubscribe();
    this.call?.unsubscribe();
  }

  private finish(error: unknown): void {
    if (!this.live) return;
    this.close();
    this.on.end(error);
  }

  private scheduleKeepAlive(): void {
    this.keepAliveTimer?.unsubscribe();
    this.keepAliveTimer = this.deps.after(this.deps.keepAlive, () => {
      this.write({ deploymentId: this.deps.deploymentId, inputs: [] });
    });
  }
}

/** What a {@link ReconnectPolicy} is told when a stream broke. */
export interface StreamBreak {
  /** Breaks in a row since a stream last got a response (1 for the first). */
  readonly attempt: number;
  /** Scheduler time of the first of those breaks. */
  readonly since: number;
  /** Scheduler time now. */
  readonly now: number;
  readonly error: unknown;
}

/**
 * When to reopen a broken stream: the seam between `classify` and whatever bounds its outage (a
 * count of attempts by default; a time budget or a circuit breaker can stand in). Only asked
 * about breaks worth reopening for: a retryable error, or an `UNAUTHENTICATED` on a stream that
 * had been answered (its token expired).
 */
export interface ReconnectPolicy {
  /** Milliseconds to wait before reopening, or `undefined` to give up (the transport is then dead). */
  delay(broken: StreamBreak): number | undefined;
}

/** Reopening after a transient failure, as `classify`'s `reconnect` option sets it. */
export interface ReconnectOptions {
  /**
   * The outage budget: how long, in ms from the first break since the last answer, broken streams
   * are reopened before the transport is given up. Default 60,000. Any answer resets it.
   */
  readonly giveUpAfterMs?: number;
  /** @deprecated Renamed `giveUpAfterMs` (spans end in `Ms`); this name goes in the next minor version. */
  readonly giveUpAfter?: number;
  /** Reopen attempts in a row (without a response in between) before giving up, as well. Default: no limit (the budget decides). */
  readonly maxAttempts?: number;
  /** Delay before the first reopen, ms; doubles each attempt. Default 200. */
  readonly initialDelayMs?: number;
  /** @deprecated Renamed `initialDelayMs`; this name goes in the next minor version. */
  readonly initialDelay?: number;
  /**
   * Largest delay, ms. Default 500: with grpc-js's own reconnect backoff capped at 1 s (the
   * client's channel options), a server that is back is found within about a second.
   */
  readonly maxDelayMs?: number;
  /** @deprecated Renamed `maxDelayMs`; this name goes in the next minor version. */
  readonly maxDelay?: number;
}

/** Defaults of {@link ReconnectOptions}. */
export const DEFAULT_RECONNECT = { giveUpAfter: 60_000, maxAttempts: Infinity, initialDelay: 200, maxDelay: 500 } as const;

/**
 * The default policy, an outage budget in time: reopen after `initialDelay * 2^(n-1)` ms (capped
 * at `maxDelay`, equal jitter: half of it random) for as long as `giveUpAfter` ms since the first
 * break have not passed (the last wait is cut to fit), and at most `maxAttempts` times in a row.
 * Time, not a count, because grpc-js backs off between connection attempts by itself: a few quick
 * reopens of ours can all fall inside one of its waits. `random` is user code: the session calls
 * the policy through its guard.
 */
export function timedReconnect(options: ReconnectOptions = {}, random: () => number = Math.random): ReconnectPolicy {
  const giveUpAfter = options.giveUpAfterMs ?? options.giveUpAfter ?? DEFAULT_RECONNECT.giveUpAfter;
  const maxAttempts = options.maxAttempts ?? DEFAULT_RECONNECT.maxAttempts;
  const backoff = {
    initialDelay: options.initialDelayMs ?? options.initialDelay ?? DEFAULT_RECONNECT.initialDelay,
    maxDelay: options.maxDelayMs ?? options.maxDelay ?? DEFAULT_RECONNECT.maxDelay,
    jitter: 'equal' as const,
  };
  return {
    delay: ({ attempt, since, now }) => {
      const left = since + giveUpAfter - now;
      if (attempt > maxAttempts || left <= 0) return undefined;
      return Math.min(left, backoffDelay(backoff, attempt, random));
    },
  };
}

function isRetryableError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { retryable?: unknown }).retryable === true;
}

/**
 * Whether a broken stream is worth reopening: a retryable error (`AthenaTransportError.retryable`),
 * or an `UNAUTHENTICATED` on a stream that had already been answered. A stream keeps the token it
 * opened with (contract section 5), so a long-lived stream is refused once that token expires;
 * reopening fetches a fresh one. A stream refused before any answer has a bad credential.
 */
export function isReconnectable(err: unknown, streamAnswered: boolean): boolean {
  if (isRetryableError(err)) return true;
  return streamAnswered && typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'UNAUTHENTICATED';
}

/** Whether a dead transport's error says trying again later may help (`TRANSPORT_FAILED.retryable`). */
export { isRetryableError };

/**
 * Breaks in a row since the last response, and when the first of them happened: what the
 * {@link ReconnectPolicy} judges (the outage budget runs from the first break, not the latest).
 */
export class BreakStreak {
  /** Reconnects since the last response (0 while the stream answers). */
  attempts = 0;
  private since = 0;

  /** A response came: the outage, if there was one, is over. */
  reset(): void {
    this.attempts = 0;
  }

  /**
   * How long to wait before reopening after `error` broke a stream: `undefined` to give up (not
   * worth reopening, or the policy says so); {@link THREW} when the caller's policy threw (`sink`
   * has the error).
   */
  next(error: unknown, answered: boolean, now: number, policy: ReconnectPolicy, sink: ErrorSink): number | undefined | typeof THREW {
    if (!isReconnectable(error, answered)) return undefined;
    if (this.attempts === 0) this.since = now;
    const delay = callUser(sink, () => policy.delay({ attempt: this.attempts + 1, since: this.since, now, error }));
    if (delay !== THREW && delay !== undefined) this.attempts += 1;
    return delay;
  }
}
