import { InvalidOptionError } from '../core/invalidOptionError';

/**
 * Failures a test can aim at the in-process server. Every fault stays until `clear()` (or until
 * its count is used up) and applies to calls already open as well as new ones.
 */
export interface Faults {
  /**
   * Answer `ERROR_CODE_MODEL_ERROR` (a per-image error) for the chosen images, after they passed
   * validation. With `times`, only the first `times` sightings of each correlation id fail, so a
   * client's retry of the same id succeeds.
   */
  modelErrorFor(ids: Iterable<string> | ((correlationId: string) => boolean), times?: number): void;
  /** `ERROR_CODE_MODEL_ERROR` for a fraction `rate` (0..1) of valid images, from a seeded PRNG (default seed 1). */
  modelErrorRate(rate: number, seed?: number): void;
  /**
   * Wait `ms` of real time (not the injected clock) before sending each response. A lower value
   * also shortens the waits under way (`latency(0)` releases every held response at once), so a
   * test can hold answers back as long as it needs without racing a timer.
   */
  latency(ms: number): void;
  /**
   * The next `Classify` stream to receive a request fails with status `UNAVAILABLE`
   * ("stream reset") on its `messages`-th request message, counted from the first one it receives
   * after this call; that message is not processed. `0` resets the next stream as soon as it opens.
   */
  resetAfter(messages: number): void;
  /** The next `calls` calls (any RPC) fail at once with status `UNAVAILABLE`. */
  unavailableNext(calls: number): void;
  /** Stop reading request messages on every `Classify` stream, so clients see write back-pressure. */
  pauseReading(): void;
  /** Undo `pauseReading()`. */
  resumeReading(): void;
  /** Remove every fault. */
  clear(): void;
}

/** mulberry32: small, seedable, and the same sequence on every platform. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface ModelErrorRule {
  match: (id: string) => boolean;
  /** Remaining failures per id; undefined = always. */
  times: number | undefined;
  seen: Map<string, number>;
}

/** The server's side of {@link Faults}: state plus the questions the server asks it. */
export class FaultState implements Faults {
  private rules: ModelErrorRule[] = [];
  private rate = 0;
  private random: () => number = prng(1);
  latencyMs = 0;
  /** Armed `resetAfter` count, waiting for a stream to claim it. */
  private pendingReset: number | undefined;
  private unavailable = 0;
  private paused = false;
  /** Told when reading is paused or resumed, so open streams follow at once. */
  onReadingChange: () => void = () => {};
  /** Told when the latency changes, so waits under way follow. */
  onLatencyChange: (ms: number) => void = () => {};

  modelErrorFor(ids: Iterable<string> | ((correlationId: string) => boolean), times?: number): void {
    if (times !== undefined && !(Number.isInteger(times) && times >= 0))
      throw new InvalidOptionError(`modelErrorFor: times must be an integer >= 0, got ${times}`);
    let match: (id: string) => boolean;
    if (typeof ids === 'function') match = ids;
    else {
      const set = new Set(ids);
      match = (id) => set.has(id);
    }
    this.rules.push({ match, times, seen: new Map() });
  }

  modelErrorRate(rate: number, seed = 1): void {
    if (!(rate >= 0 && rate <= 1)) throw new InvalidOptionError(`modelErrorRate: rate must be in [0, 1], got ${rate}`);
    this.rate = rate;
    this.random = prng(seed);
  }

  latency(ms: number): void {
    if (!(ms >= 0)) throw new InvalidOptionError(`latency: ms must be >= 0, got ${ms}`);
    this.latencyMs = ms;
    this.onLatencyChange(ms);
  }

  resetAfter(messages: number): void {
    if (!(Number.isInteger(messages) && messages >= 0))
      throw new InvalidOptionError(`resetAfter: messages must be an integer >= 0, got ${messages}`);
    this.pendingReset = messages;
  }

  unavailableNext(calls: number): void {
    if (!(Number.isInteger(calls) && calls >= 0))
      throw new InvalidOptionError(`unavailableNext: calls must be an integer >= 0, got ${calls}`);
    this.unavailable = calls;
  }

  pauseReading(): void {
    this.paused = true;
    this.onReadingChange();
  }

  resumeReading(): void {
    this.paused = false;
    this.onReadingChange();
  }

  clear(): void {
    this.rules = [];
    this.rate = 0;
    this.latencyMs = 0;
    this.onLatencyChange(0);
    this.pendingReset = undefined;
    this.unavailable = 0;
    const wasPaused = this.paused;
    this.paused = false;
    if (wasPaused) this.onReadingChange();
  }

  // --- asked by the server ---

  get readingPaused(): boolean {
    return this.paused;
  }

  /** True when this call must fail with UNAVAILABLE (consumes one). */
  takeUnavailable(): boolean {
    if (this.unavailable <= 0) return false;
    this.unavailable--;
    return true;
  }

  /** A stream claims the armed reset, if any: returns the message count at which it resets. */
  claimReset(): number | undefined {
    const n = this.pendingReset;
    this.pendingReset = undefined;
    return n;
  }

  /** Peek, for a stream that opens while a `resetAfter(0)` is armed. */
  get resetArmedAtZero(): boolean {
    return this.pendingReset === 0;
  }

  /** Whether the model "fails" on this (valid) image. */
  shouldFailModel(correlationId: string): boolean {
    let fail = false;
    for (const rule of this.rules) {
      if (!rule.match(correlationId)) continue;
      if (rule.times === undefined) {
        fail = true;
        continue;
      }
      const seen = rule.seen.get(correlationId) ?? 0;
      rule.seen.set(correlationId, seen + 1);
      if (seen < rule.times) fail = true;
    }
    if (!fail && this.rate > 0 && this.random() < this.rate) fail = true;
    return fail;
  }
}
