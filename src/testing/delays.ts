interface Wait {
  readonly resolve: () => void;
  readonly start: number;
  /** `Date.now()` at which it resolves. */
  readonly end: number;
  readonly timer: NodeJS.Timeout;
}

/**
 * Real-time waits (the `latency` fault) that `stop()` cuts short, so a stopping server never
 * waits out an injected latency, and that a lower latency shortens (faults apply to work under
 * way too), so a test can hold answers back for as long as it needs and then release them.
 */
export class Delays {
  private readonly pending = new Set<Wait>();
  private stopped = false;

  /** Resolves after `ms` of real time, at once for `ms <= 0` or once stopped. */
  wait(ms: number): Promise<void> {
    if (ms <= 0 || this.stopped) return Promise.resolve();
    const start = Date.now();
    return new Promise<void>((resolve) => this.schedule(resolve, start, start + ms));
  }

  private schedule(resolve: () => void, start: number, end: number): void {
    const wait: Wait = {
      resolve,
      start,
      end,
      timer: setTimeout(
        () => {
          this.pending.delete(wait);
          resolve();
        },
        Math.max(0, end - Date.now()),
      ),
    };
    this.pending.add(wait);
  }

  /** Waits under way end `ms` after they began (at once if that has passed), unless they would end sooner. */
  shortenTo(ms: number): void {
    const now = Date.now();
    for (const wait of [...this.pending]) {
      const end = Math.min(wait.end, wait.start + ms);
      if (end === wait.end) continue;
      clearTimeout(wait.timer);
      this.pending.delete(wait);
      if (end <= now) wait.resolve();
      else this.schedule(wait.resolve, wait.start, end);
    }
  }

  /** Resolves every pending wait now; later waits resolve at once. */
  stop(): void {
    this.stopped = true;
    this.shortenTo(-Infinity);
  }
}
