import { invariantChecksOn } from '../../core/invariants';
import type { PreparedImage } from '../../preprocess/types';
import type { RetryCapability } from '../results';

/**
 * Where an image is in a `classify` session:
 * - `pending`: queued to be sent (first time, again after a reconnect, or for a retry);
 * - `sent`: written, awaiting its answer (counts against `maxInFlight`);
 * - `settled`: answered (or failed); let go once the event about it was delivered;
 * - `held`: failed, kept for the pipeline's retry stage to decide (retry or let go);
 * - `reserved`: a retry stage holds a ticket to send it again.
 */
export type RecordState = 'pending' | 'sent' | 'settled' | 'held' | 'reserved';

/** Something that can be cancelled (a timer's `Subscription`); keeps the ledger free of RxJS. */
export interface Cancellable {
  unsubscribe(): void;
}

/**
 * One image of a session. Read-only outside the ledger: the ledger is the one writer of its
 * records (the other parts call its methods), so its invariants hold after every step.
 */
export interface ImageRecord<R> {
  readonly id: string;
  readonly image: PreparedImage<R>;
  readonly state: RecordState;
  /** Sends so far. */
  readonly attempt: number;
  readonly firstSentAt?: number;
  /** The request of its latest send. */
  readonly request?: SentRequest<R>;
  /** Re-sent after a reconnect: a CORRELATION_ID_INVALID "in use" answer then means the first send is still alive. */
  readonly resent: boolean;
  /** Its correlation id held a window credit when it was admitted; given back when it is let go. */
  readonly credit: boolean;
  readonly retry: RetryCapability;
}

/** One `ClassifyRequest` written on a stream (read-only outside the ledger, as its records). */
export interface SentRequest<R> {
  readonly recs: readonly ImageRecord<R>[];
  /** The stream (1-based count of opens) it was written on. */
  readonly stream: number;
  /** Carries an affiliate no answer has confirmed yet: at most one such request is unanswered at a time. */
  readonly probe: boolean;
  /** Nothing of it is awaited any more (answered, timed out or failed). */
  readonly answered: boolean;
  /** Its response timeout. */
  readonly timer?: Cancellable;
  /** Its warning late in the response window (only when that comes before the timeout). */
  readonly lateTimer?: Cancellable;
}

type Writable<T> = { -readonly [K in keyof T]: T[K] };
/** The ledger's own, writable view of a record or request: used only in this module. */
const w = <T>(value: T): Writable<T> => value as Writable<T>;

/**
 * The bookkeeping of one `classify` session, without RxJS and without time: which images it has
 * (by correlation id), which wait to be sent (in their batches), which are in flight on which
 * request, and which request a global error is blamed on. The session decides when; the ledger
 * keeps the counts consistent ({@link ClassifyLedger.check}), and is the only writer of its records
 * and requests. In test and development builds (see `invariantChecksOn`) every change is followed
 * by the check, so every test that runs a session asserts the invariants, not only this one's spec.
 */
export class ClassifyLedger<R> {
  private readonly checking = invariantChecksOn();
  private readonly records = new Map<string, ImageRecord<R>>();
  /** Groups of pending images, in sending order (a batch stays together unless it is too big). */
  private readonly queue: ImageRecord<R>[][] = [];
  private sent = 0;
  /** Requests written on the current stream that have had no answer yet (for global errors). */
  private requests: SentRequest<R>[] = [];
  private readonly confirmed = new Set<string>();

  /** Images the session has (any state). */
  get size(): number {
    return this.records.size;
  }

  /** Images sent and unanswered. */
  get inFlight(): number {
    return this.sent;
  }

  /** The next group to send, if any. */
  get head(): readonly ImageRecord<R>[] | undefined {
    return this.queue[0];
  }

  get(id: string): ImageRecord<R> | undefined {
    return this.records.get(id);
  }

  /** A new record for `image` (state `pending`, never sent), to `admit` or `register`. */
  static record<R>(image: PreparedImage<R>, credit: boolean, retry: RetryCapability): ImageRecord<R> {
    return { id: image.correlationId, image, state: 'pending', attempt: 0, resent: false, credit, retry };
  }

  /** Records a batch of new images (state `pending`, ids not in use) and queues them as one group. */
  admit(group: ImageRecord<R>[]): void {
    if (group.length === 0) return;
    for (const rec of group) this.records.set(rec.id, rec);
    this.queue.push(group);
    this.verify();
  }

  /** Records images that never get queued (they fail at once, settled); they still leave through `finalize`. */
  register(recs: readonly ImageRecord<R>[]): void {
    for (const rec of recs) {
      w(rec).state = 'settled';
      this.records.set(rec.id, rec);
    }
    this.verify();
  }

  /** Queues a reserved image to be sent again (a retry). */
  requeue(rec: ImageRecord<R>): void {
    w(rec).state = 'pending';
    this.queue.push([rec]);
    this.verify();
  }

  /** A retry stage reserves a settled or held image to send it again; whether it could. */
  reserve(rec: ImageRecord<R>): boolean {
    if (this.records.get(rec.id) !== rec || (rec.state !== 'settled' && rec.state !== 'held')) return false;
    w(rec).state = 'reserved';
    this.verify();
    return true;
  }

  /** Gives back `rec`'s window credit once: whether it held one (the caller returns it to the window). */
  takeCredit(rec: ImageRecord<R>): boolean {
    if (!rec.credit) return false;
    w(rec).credit = false;
    return true;
  }

  /** Nothing of `req` is awaited any more (an answer to it, or a global error blamed on it). */
  markAnswered(req: SentRequest<R>): void {
    w(req).answered = true;
  }

  /** Sets the timers of a request just sent: its response timeout, and its late warning. */
  setTimers(req: SentRequest<R>, timers: { readonly timer?: Cancellable; readonly lateTimer?: Cancellable }): void {
    if (timers.timer) w(req).timer = timers.timer;
    if (timers.lateTimer) w(req).lateTimer = timers.lateTimer;
  }

  /**
   * Sends the first `n` images of the head group (the whole group if it has no more) in one
   * request on stream `stream`: they leave the queue and count as in flight.
   */
  sendHead(n: number, stream: number, probe: boolean, at: number): SentRequest<R> | undefined {
    const head = this.queue[0];
    if (!head) return undefined;
    const recs = head.length <= n ? this.queue.shift()! : head.splice(0, n);
    const req: SentRequest<R> = { recs, stream, probe, answered: false };
    for (const rec of recs) {
      const r = w(rec);
      r.state = 'sent';
      r.attempt += 1;
      r.firstSentAt ??= at;
      r.request = req;
      this.sent += 1;
    }
    this.requests.push(req);
    this.verify();
    return req;
  }

  /**
   * An answer for `rec` while it is queued to be sent again (a late answer to an earlier send):
   * it is taken off the queue and counts as sent again, so the answer settles it.
   */
  reclaim(rec: ImageRecord<R>): void {
    if (rec.state !== 'pending' || rec.attempt === 0) return;
    this.unqueue(rec);
    w(rec).state = 'sent';
    this.sent += 1;
    this.verify();
  }

  /** Nothing more is awaited for `rec`; its request's timer stops once nothing of it is awaited. */
  settle(rec: ImageRecord<R>): void {
    if (rec.state === 'sent') this.sent -= 1;
    w(rec).state = 'settled';
    const req = rec.request;
    if (req && req.recs.every((r) => r.state !== 'sent' || r.request !== req)) {
      req.timer?.unsubscribe();
      req.lateTimer?.unsubscribe();
      w(req).answered = true;
    }
    this.verify();
  }

  /** Keeps a settled image for the retry stage's decision. */
  hold(rec: ImageRecord<R>): void {
    if (rec.state === 'settled') w(rec).state = 'held';
    this.verify();
  }

  /** Lets go of the images of `recs` that are settled (not held or reserved); returns them. */
  finalize(recs: readonly ImageRecord<R>[]): ImageRecord<R>[] {
    const gone: ImageRecord<R>[] = [];
    for (const rec of recs) {
      if (rec.state !== 'settled' || this.records.get(rec.id) !== rec) continue;
      this.records.delete(rec.id);
      gone.push(rec);
    }
    this.verify();
    return gone;
  }

  /** Lets go of one image whatever its state (a cancelled or refused retry). */
  remove(rec: ImageRecord<R>): boolean {
    if (this.records.get(rec.id) !== rec) return false;
    if (rec.state === 'sent') this.sent -= 1;
    if (rec.state === 'pending') this.unqueue(rec);
    this.records.delete(rec.id);
    this.verify();
    return true;
  }

  /** A new stream begins: no request of it is unanswered yet. */
  newStream(): void {
    this.requests = [];
  }

  /**
   * Own deployment after a reconnect: every image sent on an earlier stream and still unanswered
   * is queued again, first, in its original groups.
   */
  resendUnanswered(stream: number): void {
    const groups = new Map<SentRequest<R>, ImageRecord<R>[]>();
    for (const rec of this.records.values()) {
      if (rec.state !== 'sent' || !rec.request || rec.request.stream === stream) continue;
      const group = groups.get(rec.request) ?? [];
      group.push(rec);
      groups.set(rec.request, group);
    }
    const again: ImageRecord<R>[][] = [];
    for (const [req, recs] of groups) {
      req.timer?.unsubscribe();
      req.lateTimer?.unsubscribe();
      for (const rec of recs) {
        w(rec).state = 'pending';
        w(rec).resent = true;
        this.sent -= 1;
      }
      again.push(recs);
    }
    this.queue.unshift(...again);
    this.verify();
  }

  /**
   * The request a global error belongs to. Global errors carry no ids; the server sends them to
   * the sender at once (before answers of earlier requests still being classified), so "the
   * oldest unanswered request" alone would be wrong. The one unanswered probe is blamed first;
   * else the oldest unanswered request of the current stream.
   */
  blame(): SentRequest<R> | undefined {
    const unanswered = this.requests.filter((q) => !q.answered);
    return unanswered.find((q) => q.probe) ?? unanswered[0];
  }

  /** Forgets requests that are answered (after a response). */
  pruneAnswered(): void {
    this.requests = this.requests.filter((q) => !q.answered);
  }

  hasUnansweredProbe(): boolean {
    return this.requests.some((q) => q.probe && !q.answered);
  }

  /** An answer came for an image of `affiliate`: the service accepts it. */
  confirm(affiliate: string): void {
    this.confirmed.add(affiliate);
  }

  isConfirmed(affiliate: string): boolean {
    return this.confirmed.has(affiliate);
  }

  /** Images queued or in flight (what a dead transport fails). Empties the queue. */
  takeUnanswered(): ImageRecord<R>[] {
    this.queue.length = 0;
    const unanswered = [...this.records.values()].filter((r) => r.state === 'pending' || r.state === 'sent');
    // Taken out of the queue: they are no longer pending (the caller fails them at once).
    for (const rec of unanswered) if (rec.state === 'pending') w(rec).state = 'settled';
    return unanswered;
  }

  /** Lets go of every image (teardown); stops their timers; returns them. */
  clear(): ImageRecord<R>[] {
    const all = [...this.records.values()];
    for (const rec of all) {
      rec.request?.timer?.unsubscribe();
      w(rec).state = 'settled';
    }
    this.records.clear();
    this.queue.length = 0;
    this.requests = [];
    this.sent = 0;
    return all;
  }

  /** {@link check} after a change, in test and development builds. */
  private verify(): void {
    if (this.checking) this.check();
  }

  /** Throws if the bookkeeping is inconsistent (after every change in test and development builds). */
  check(): void {
    const fail = (what: string): never => {
      throw new Error(`ClassifyLedger invariant broken: ${what}`);
    };
    let sent = 0;
    const queued = new Set<ImageRecord<R>>();
    for (const group of this.queue) {
      if (group.length === 0) fail('an empty group is queued');
      for (const rec of group) {
        if (rec.state !== 'pending') fail(`'${rec.id}' is queued in state ${rec.state}`);
        if (this.records.get(rec.id) !== rec) fail(`'${rec.id}' is queued but not recorded`);
        if (queued.has(rec)) fail(`'${rec.id}' is queued twice`);
        queued.add(rec);
      }
    }
    for (const [id, rec] of this.records) {
      if (rec.id !== id) fail(`'${rec.id}' is recorded under '${id}'`);
      if (rec.state === 'sent') {
        sent += 1;
        if (!rec.request?.recs.includes(rec)) fail(`'${rec.id}' is sent without its request`);
      }
      if (rec.state === 'pending' && !queued.has(rec)) fail(`'${rec.id}' is pending but not queued`);
    }
    if (sent !== this.sent) fail(`inFlight is ${this.sent} but ${sent} images are sent`);
    for (const req of this.requests) if (req.recs.length === 0) fail('a request of no image is awaited');
  }

  private unqueue(rec: ImageRecord<R>): void {
    for (let i = 0; i < this.queue.length; i++) {
      const group = this.queue[i]!;
      const at = group.indexOf(rec);
      if (at < 0) continue;
      group.splice(at, 1);
      if (group.length === 0) this.queue.splice(i, 1);
      return;
    }
  }
}
