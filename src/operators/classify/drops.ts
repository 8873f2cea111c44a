import type { Subscription } from 'rxjs';
import type { InFlightWindow } from '../inFlightWindow';
import type { ClassifyDroppedEvent } from './events';

/**
 * The default `dropGraceMs` of `classify`: how long the window must stay blocked on credits of
 * images that never reached `classify`, with no image arriving, before they count as dropped.
 * Images on their way (in `bufferBatch`, which flushes within its `maxWaitMs`, 50 ms by default,
 * or behind a `delay` or a slow `concatMap` of yours of up to a few seconds) arrive within it.
 */
export const DEFAULT_DROP_GRACE_MS = 10_000;

/** Each judgement with no image arriving since the last one doubles the wait, up to 2^this times. */
const MOST_DOUBLINGS = 3;
/** Ids judged dropped remembered, to notice one that arrives after all (the oldest forgotten first). */
const MOST_REMEMBERED = 1024;

/** What {@link DropWatch} needs of its session. */
export interface DropWatchHooks {
  readonly window: InFlightWindow;
  /** `dropGraceMs`: `Infinity` judges no drop by time (only at the source's completion). */
  readonly grace: number;
  /** Images the session holds (any state): while it holds one, an answer will free a credit. */
  held(): number;
  over(): boolean;
  now(): number;
  after(delay: number, work: () => void): Subscription;
  emit(event: ClassifyDroppedEvent): void;
}

/**
 * Finds images dropped between `preprocess` and `classify` (a `filter` there): their credits are
 * held by ids that never reach the session, so with a window of `n`, `n` of them stall the
 * pipeline. The window knows which held credits reached `classify` (`claim`); this gives back the
 * ones that never will, and says so: a `dropped` event each time, a process warning once.
 *
 * A drop cannot be told from an operator of the user's that holds images back (a `delay`, a slow
 * `concatMap`) but by time, so the judgement waits: the window stuck for the grace with no image
 * arriving in between. Judgements in a row with no arrival between them wait twice as long each
 * time (up to 8 times the grace), and an image that arrives after it was judged dropped proves the
 * grace too short: it is raised to twice as long as that image took.
 */
export class DropWatch {
  private timer: Subscription | undefined;
  private warned = false;
  private warnedLate = false;
  /** The grace in use: `dropGraceMs`, raised by late arrivals. */
  private grace: number;
  /** Judgements since the last arrival. */
  private misses = 0;
  /** Batches that reached the session (any arrival shows the way between the stages moves). */
  private arrivals = 0;
  private lastArrival = 0;
  /** Ids judged dropped, with when their wait began. */
  private readonly judged = new Map<string, number>();
  /** Giving credits back (which runs preprocess's waiting acquires); the source completed meanwhile. */
  private recovering = false;
  private donePending = false;

  constructor(private readonly h: DropWatchHooks) {
    this.grace = h.grace;
  }

  /** Watches the window: each time an acquire waits, its credits may be stuck on dropped images. */
  start(): Subscription {
    return this.h.window.waits.subscribe(() => this.check());
  }

  /**
   * The credits stuck on images that never reached the session, when nothing else can free one:
   * the window has waiters, every credit taken is held by such an id (none is being prepared),
   * and the session holds no image (no answer will come). Else `undefined`.
   */
  private stuck(): string[] | undefined {
    const { window } = this.h;
    if (this.h.held() > 0 || window.waiting === 0) return undefined;
    const ids = window.unclaimed();
    return ids.length > 0 && ids.length === window.inUse ? ids : undefined;
  }

  /** The window may be stuck: if it is, waits out the grace; credits still stuck after it, with nothing arrived, were dropped. */
  check(): void {
    if (this.timer || this.h.grace === Infinity || this.h.over() || !this.stuck()) return;
    this.wait(this.h.now());
  }

  /** Judges the stuck credits once the grace has passed since `began` with no arrival. */
  private wait(began: number): void {
    const arrivals = this.arrivals;
    const grace = this.grace * 2 ** Math.min(this.misses, MOST_DOUBLINGS);
    this.timer = this.h.after(Math.max(0, began + grace - this.h.now()), () => {
      this.timer = undefined;
      if (this.h.over()) return;
      const stuck = this.stuck();
      if (!stuck) return;
      // Something arrived meanwhile: the way between the stages moves; the grace runs from then.
      if (this.arrivals !== arrivals) return this.wait(this.lastArrival);
      this.misses += 1;
      this.recover(stuck, began);
    });
  }

  /** A batch reached the session. */
  arrived(): void {
    this.arrivals += 1;
    this.lastArrival = this.h.now();
    this.misses = 0;
  }

  /**
   * An image with no credit reached the session: if it was judged dropped, the grace was too short
   * (an operator of the user's held it back): raises it, and says so once. Whether it was.
   */
  late(id: string): boolean {
    const began = this.judged.get(id);
    if (began === undefined) return false;
    this.judged.delete(id);
    const took = this.h.now() - began;
    const before = this.grace;
    this.grace = Math.max(this.grace, 2 * took);
    if (this.warnedLate) return true;
    this.warnedLate = true;
    const message =
      `classify: image '${id}' reached classify ${took} ms after it was reported dropped: it was held back by an operator ` +
      `between preprocess and classify (a delay, a slow concatMap) for longer than dropGraceMs (${before} ms), not dropped. ` +
      'It gets its result, but its credit was given back early, so the window let more images through than its size meanwhile. ' +
      `dropGraceMs is raised to ${this.grace} ms for this subscription: set it above the longest time your operators hold an image ` +
      '(Infinity: never judge by time)';
    process.emitWarning(message, { code: 'ATHENA_RX_DROP_GRACE_RAISED' });
    return true;
  }

  /** The session's source completed: nothing more can arrive, so credits still on their way were dropped. */
  sourceDone(): void {
    // A credit given back below may let preprocess finish, and the source complete, at once.
    if (this.recovering) this.donePending = true;
    else this.recover(this.h.window.unclaimed());
  }

  private recover(stuck: readonly string[], began?: number): void {
    if (stuck.length === 0) return;
    const ids: string[] = [];
    this.recovering = true;
    try {
      for (const id of stuck) if (this.h.window.giveBack(id)) ids.push(id);
    } finally {
      this.recovering = false;
    }
    this.report(ids, began);
    if (this.donePending) {
      this.donePending = false;
      this.sourceDone();
    }
  }

  private report(ids: readonly string[], began: number | undefined): void {
    if (ids.length === 0) return;
    if (began !== undefined) this.remember(ids, began);
    const shown =
      ids
        .slice(0, 5)
        .map((id) => `'${id}'`)
        .join(', ') + (ids.length > 5 ? ', ...' : '');
    const heldBack =
      began === undefined
        ? ''
        : `, or an operator there held them back for longer than dropGraceMs (${this.h.now() - began} ms with none arriving: a delay, a slow concatMap; then raise dropGraceMs)`;
    const message =
      `classify: ${ids.length} ${ids.length === 1 ? 'image' : 'images'} (${shown}) took a window credit in preprocess but never reached classify: ` +
      `an operator between preprocess and classify dropped them (a filter?)${heldBack}. Every prepared image must reach classify ` +
      '(docs/reliability.md#composition): leave sources out before preprocess instead. Their credits were given back; ' +
      (began === undefined ? 'they get no result' : 'dropped ones get no result (held ones still do, when they arrive)');
    this.h.emit({ kind: 'dropped', at: this.h.now(), correlationIds: [...ids], message });
    if (!this.warned) {
      this.warned = true;
      process.emitWarning(message, { code: 'ATHENA_RX_IMAGES_DROPPED' });
    }
  }

  private remember(ids: readonly string[], began: number): void {
    for (const id of ids) {
      this.judged.delete(id);
      this.judged.set(id, began);
    }
    for (const id of this.judged.keys()) {
      if (this.judged.size <= MOST_REMEMBERED) break;
      this.judged.delete(id);
    }
  }
}
