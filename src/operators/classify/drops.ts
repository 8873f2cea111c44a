import type { Subscription } from 'rxjs';
import type { InFlightWindow } from '../inFlightWindow';
import type { ClassifyDroppedEvent } from './events';

/**
 * How long the window must stay blocked on credits of images that never reached `classify`
 * before they count as dropped: images on their way (in `bufferBatch`, which flushes within its
 * `maxWait`, 50 ms by default, or behind a short `delay` of yours) arrive well within it.
 */
export const DROP_GRACE_MS = 1_000;

/** What {@link DropWatch} needs of its session. */
export interface DropWatchHooks {
  readonly window: InFlightWindow;
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
 */
export class DropWatch {
  private timer: Subscription | undefined;
  private warned = false;

  constructor(private readonly h: DropWatchHooks) {}

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

  /** The window may be stuck: if it is, waits out the grace; credits still stuck after it were dropped. */
  check(): void {
    if (this.timer || this.h.over() || !this.stuck()) return;
    this.timer = this.h.after(DROP_GRACE_MS, () => {
      this.timer = undefined;
      const stuck = this.stuck();
      if (stuck) this.recover(stuck);
    });
  }

  /** The session's source completed: nothing more can arrive, so credits still on their way were dropped. */
  sourceDone(): void {
    this.recover(this.h.window.unclaimed());
  }

  private recover(ids: readonly string[]): void {
    if (ids.length === 0) return;
    for (const id of ids) this.h.window.giveBack(id);
    const shown =
      ids
        .slice(0, 5)
        .map((id) => `'${id}'`)
        .join(', ') + (ids.length > 5 ? ', ...' : '');
    const message =
      `classify: ${ids.length} ${ids.length === 1 ? 'image' : 'images'} (${shown}) took a window credit in preprocess but never reached classify: ` +
      'an operator between preprocess and classify dropped them (a filter?). Every prepared image must reach classify ' +
      '(docs/reliability.md#composition): leave sources out before preprocess instead. Their credits were given back; they get no result';
    this.h.emit({ kind: 'dropped', at: this.h.now(), correlationIds: [...ids], message });
    if (!this.warned) {
      this.warned = true;
      process.emitWarning(message, { code: 'ATHENA_RX_IMAGES_DROPPED' });
    }
  }
}
