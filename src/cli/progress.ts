/** What the progress line shows. */
export interface ProgressState {
  readonly done: number;
  readonly total: number;
  readonly errors: number;
  /** Milliseconds since the run started. */
  readonly elapsedMs: number;
}

/** `m:ss`, or `h:mm:ss` from an hour on. */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** Images per second so far, or undefined before there is anything to divide. */
export function rate(done: number, elapsedMs: number): number | undefined {
  return done > 0 && elapsedMs > 0 ? (done * 1000) / elapsedMs : undefined;
}

/**
 * The progress line, as a pure function of the counts and the time, so it can be tested
 * without a terminal:
 *
 * `[############............]  12/40  30%  8.1 img/s  1 error  ETA 0:03`
 *
 * `width` is the terminal's column count; the bar shrinks to fit and the line never exceeds
 * `width - 1` characters (the last column would make some terminals wrap).
 */
export function renderProgress(state: ProgressState, width = 80): string {
  const { done, total, errors, elapsedMs } = state;
  const fraction = total > 0 ? Math.min(1, done / total) : 1;
  const r = rate(done, elapsedMs);
  const eta = r !== undefined && done < total ? formatDuration(((total - done) / r) * 1000) : done >= total ? '0:00' : '--:--';
  const parts = [
    `${String(done).padStart(String(total).length)}/${total}`,
    `${String(Math.floor(fraction * 100)).padStart(3)}%`,
    `${r === undefined ? '-' : r >= 100 ? r.toFixed(0) : r.toFixed(1)} img/s`,
    `${errors} ${errors === 1 ? 'error' : 'errors'}`,
    `ETA ${eta}`,
  ];
  const tail = parts.join('  ');
  const room = width - 1 - tail.length - 4; // "[" + "]" + two spaces
  if (room < 5) return tail.slice(0, Math.max(0, width - 1));
  const barWidth = Math.min(30, room);
  const filled = Math.round(fraction * barWidth);
  return `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]  ${tail}`;
}

/** A terminal stream: what {@link ProgressBar} writes to. */
export interface ProgressStream {
  write(chunk: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

/** Most redraws per second: enough to look live, few enough not to cost anything. */
const REDRAW_INTERVAL_MS = 100;

/**
 * The live progress line on stderr. It draws only when the stream is a terminal (a log file
 * or a pipe would fill with carriage returns), at most every 100 ms, on one line redrawn in
 * place. Call {@link clear} before writing anything else to the same terminal (results on
 * stdout share it), and the next tick redraws the bar under what was written.
 */
export class ProgressBar {
  readonly enabled: boolean;
  private state: ProgressState;
  private readonly startedAt: number;
  private timer: ReturnType<typeof setInterval> | undefined;
  private shown = '';

  constructor(
    private readonly stream: ProgressStream,
    total: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.enabled = stream.isTTY === true;
    this.startedAt = now();
    this.state = { done: 0, total, errors: 0, elapsedMs: 0 };
    if (this.enabled) {
      this.timer = setInterval(() => this.draw(), REDRAW_INTERVAL_MS);
      // The bar must never keep the process alive on its own.
      this.timer.unref();
      this.draw();
    }
  }

  /** Records progress; the next tick shows it. */
  update(done: number, errors: number): void {
    this.state = { ...this.state, done, errors };
  }

  /** Removes the line, so that other output starts at column 0. */
  clear(): void {
    if (!this.enabled || this.shown === '') return;
    this.stream.write('\r\x1b[K');
    this.shown = '';
  }

  /** Stops redrawing and removes the line. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.clear();
  }

  private draw(): void {
    // `columns` is 0 on some pseudo-terminals (script, CI runners): assume 80 then.
    const line = renderProgress({ ...this.state, elapsedMs: this.now() - this.startedAt }, this.stream.columns || 80);
    if (line === this.shown) return;
    this.stream.write(`\r${line}\x1b[K`);
    this.shown = line;
  }
}
