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

/** One image of a session. */
export interface ImageRecord<R> {
  readonly id: string;
  readonly image: PreparedImage<R>;
  state: RecordState;
  /** Sends so far. */
  attempt: number;
  firstSentAt?: number;
  /** The request of its latest send. */
  request?: SentRequest<R>;
  /** Re-sent after a reconnect: a CORRELATION_ID_INVALID "in use" answer then means the first send is still alive. */
  resent: boolean;
  /** Its correlation id held a window credit when it was admitted; given back when it is let go. */
  credit: boolean;
  readonly retry: RetryCapability;
}

/** One `ClassifyRequest` written on a stream. */
export interface SentRequest<R> {
  readonly recs: ImageRecord<R>[];
  /** The stream (1-based count of opens) it was written on. */
  readonly stream: number;
  /** Carries an affiliate no answer has confirmed yet: at most one such request is unanswered at a time. */
  readonly probe: boolean;
  /** Nothing of it is awaited any more (answered, timed out or failed). */
  answered: boolean;
  /** Its response timeout. */
  timer?: Cancellable;
  /** Its warning late in the response window (only when that comes before the timeout). */
  lateTimer?: Cancellable;
}

/**
 * The bookkeeping of one `classify` session, without RxJS and without time: which images it has
 * (by correlation id), which wait to be sent (in their batches), which are in flight on which
 * request, and which request a global error is blamed on. The session decides when; the ledger
 * keeps the counts consistent ({@link ClassifyLedger.check}).
 */
export class ClassifyLedger<R> {
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

  /** Records a batch of new images (state `pending`, ids not in use) and queues them as one group. */
  admit(group: ImageRecord<R>[]): void {
    if (group.length === 0) return;
    for (const rec of group) this.records.set(rec.id, rec);
    this.queue.push(group);
  }

  /** Records images that never get queued (they fail at once); they still leave through `finalize`. */
  register(recs: readonly ImageRecord<R>[]): void {
    for (const rec of recs) this.records.set(rec.id, rec);
  }

  /** Queues a reserved image to be sent again (a retry). */
  requeue(rec: ImageRecord<R>): void {
    rec.state = 'pending';
    this.queue.push([rec]);
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
      rec.state = 'sent';
      rec.attempt += 1;
      rec.firstSentAt ??= at;
      rec.request = req;
      this.sent += 1;
    }
    this.requests.push(req);
    return req;
  }

  /**
   * An answer for `rec` while it is queued to be sent again (a late answer to an earlier send):
   * it is taken off the queue and counts as sent again, so the answer settles it.
   */
  reclaim(rec: ImageRecord<R>): void {
    if (rec.state !== 'pending' || rec.attempt === 0) return;
    this.unqueue(rec);
    rec.state = 'sent';
    this.sent += 1;
  }

  /** Nothing more is awaited for `rec`; its request's timer stops once nothing of it is awaited. */
  settle(rec: ImageRecord<R>): void {
    if (rec.state === 'sent') this.sent -= 1;
    rec.state = 'settled';
    const req = rec.request;
    if (req && req.recs.every((r) => r.state !== 'sent' || r.request !== req)) {
      req.timer?.unsubscribe();
      req.lateTimer?.unsubscribe();
      req.answered = true;
    }
  }

  /** Keeps a settled image for the retry stage's decision. */
  hold(rec: ImageRecord<R>): void {
    if (rec.state === 'settled') rec.state = 'held';
  }

  /** Lets go of the images of `recs` that are settled (not held or reserved); returns them. */
  finalize(recs: readonly ImageRecord<R>[]): ImageRecord<R>[] {
    const gone: ImageRecord<R>[] = [];
    for (const rec of recs) {
      if (rec.state !== 'settled' || this.records.get(rec.id) !== rec) continue;
      this.records.delete(rec.id);
      gone.push(rec);
    }
    return gone;
  }

  /** Lets go of one image whatever its state (a cancelled or refused retry). */
  remove(rec: ImageRecord<R>): boolean {
    if (this.records.get(rec.id) !== rec) return false;
    if (rec.state === 'sent') this.sent -= 1;
    if (rec.state === 'pending') this.unqueue(rec);
    this.records.delete(rec.id);
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
        rec.state = 'pending';
        rec.resent = true;
        this.sent -= 1;
      }
      again.push(recs);
    }
    this.queue.unshift(...again);
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
    return [...this.records.values()].filter((r) => r.state === 'pending' || r.state === 'sent');
  }

  /** Lets go of every image (teardown); stops their timers; returns them. */
  clear(): ImageRecord<R>[] {
    const all = [...this.records.values()];
    for (const rec of all) {
      rec.request?.timer?.unsubscribe();
      rec.state = 'settled';
    }
    this.records.clear();
    this.queue.length = 0;
    this.requests = [];
    this.sent = 0;
    return all;
  }

  /** Throws if the bookkeeping is inconsistent (used by the tests after every step). */
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
    for (const rec of this.records.values()) {
      if (rec.state === 'sent') {
        sent += 1;
        if (!rec.request?.recs.includes(rec)) fail(`'${rec.id}' is sent without its request`);
      }
      if (rec.state === 'pending' && !queued.has(rec)) fail(`'${rec.id}' is pending but not queued`);
    }
    if (sent !== this.sent) fail(`inFlight is ${this.sent} but ${sent} images are sent`);
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
