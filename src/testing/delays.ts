/**
 * Real-time waits (the `latency` fault) that `stop()` can cut short, so a stopping server never
 * waits out an injected latency.
 */
export class Delays {
  private readonly pending = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  private stopped = false;

  /** Resolves after `ms` of real time, at once for `ms <= 0` or once stopped. */
  wait(ms: number): Promise<void> {
    if (ms <= 0 || this.stopped) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const entry = { timer: setTimeout(() => (this.pending.delete(entry), resolve()), ms), resolve };
      this.pending.add(entry);
    });
  }

  /** Resolves every pending wait now; later waits resolve at once. */
  stop(): void {
    this.stopped = true;
    for (const entry of this.pending) {
      clearTimeout(entry.timer);
      entry.resolve();
    }
    this.pending.clear();
  }
}
