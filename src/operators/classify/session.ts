import { Subscription, type Observable, type Subscriber } from 'rxjs';
import type { ClassifyResponse } from '../../contract/messages';
import type { FailureCode } from '../../core/codes';
import { THREW } from '../../core/guard';
import { InvalidOptionError } from '../../core/invalidOptionError';
import type { ClassificationFailure, PipelineErrorCode } from '../results';
import { matchAnswers } from './answers';
import { BreakStreak, isRetryableError, StreamConnection } from './connection';
import type { ClassifyConnectionEvent, ClassifyDroppedEvent, ClassifyEvent, ClassifyItem, SentImage } from './events';
import { readBatch, wireInputs } from './items';
import { ClassifyLedger, type ImageRecord, type SentRequest } from './ledger';
import { retryCapability, type RetryHooks } from './retry';
import { TokenRotation } from './rotation';
import type { SessionConfig } from './sessionConfig';
import { lateDelay, recordOutcome } from './watch';
import { DropWatch } from './drops';

/**
 * - `joining`: a reopened stream waits `backlogGrace` for the deployment's backlog before sending;
 * - `open`: sending; `connecting`: waiting to reopen a broken stream; `closing`: half-closed;
 * - `dead`: the transport gave up (every image fails at once); `over`: completed or torn down.
 */
type Phase = 'joining' | 'open' | 'connecting' | 'closing' | 'dead' | 'over';

/**
 * One subscription of `classify`: the ledger of its images, its stream, its phase, and the
 * events it emits. Every timer hangs off `subscriptions`, so teardown is one `unsubscribe()`;
 * every call into user code (the transport, the reconnect policy's `random`) goes through
 * `callUser`, so a throw ends the Observable with an error notification.
 */
export class ClassifySession<R> {
  private readonly ledger = new ClassifyLedger<R>();
  private readonly subscriptions = new Subscription();
  private phase: Phase = 'joining';
  private stream: StreamConnection | undefined;
  private streamNo = 0;
  /** Breaks in a row since the last response, and when the first of them happened. */
  private readonly breaks = new BreakStreak();
  private lastError: unknown;
  private sourceDone = false;
  private phaseTimer: Subscription | undefined;
  private pumping = false;
  private readonly retryHooks: RetryHooks<R>;
  /** Fresh streams ahead of token expiry; the replaced ones still deliver their answers. */
  private readonly rotation: TokenRotation;
  /** Credits stuck on images dropped between preprocess and classify (with a window). */
  private readonly drops: DropWatch | undefined;

  constructor(
    private readonly c: SessionConfig,
    private readonly subscriber: Subscriber<ClassifyEvent<R>>,
  ) {
    this.retryHooks = {
      ledger: this.ledger,
      context: this.c.context,
      state: () => (this.over ? 'over' : this.phase === 'dead' ? 'dead' : 'live'),
      letGo: (rec) => {
        this.giveBack(rec);
        this.checkDone();
      },
      resend: (rec) => {
        if (this.phase === 'dead') {
          this.failDead([rec]);
        } else {
          this.ledger.requeue(rec);
          this.pump();
        }
        this.checkDone();
      },
    };
    const clock = { now: () => this.now(), after: (delay: number, work: () => void) => this.after(delay, work) };
    const drops = { held: () => this.ledger.size, over: () => this.over, emit: (e: ClassifyDroppedEvent) => this.emit(e) };
    this.drops = c.window && new DropWatch({ ...clock, ...drops, window: c.window, grace: c.dropGrace });
    const { client: transport, rotateBefore } = c;
    this.rotation = new TokenRotation({ ...clock, transport, rotateBefore, sink: subscriber, replace: (old) => this.rotate(old) });
  }

  /** Opens the stream, subscribes to the batches; returns the teardown. */
  start(source: Observable<readonly ClassifyItem<R>[]>): () => void {
    const { breaker } = this.c;
    // A breaker that half-opens or closes lets requests go again: send what waits.
    if (breaker) this.subscriptions.add(breaker.events.subscribe((e) => e.to !== 'open' && this.pump()));
    if (this.drops) this.subscriptions.add(this.drops.start());
    this.open();
    if (!this.over) {
      this.subscriptions.add(
        source.subscribe({
          next: (batch) => this.accept(batch),
          error: (err: unknown) => this.subscriber.error(err),
          complete: () => {
            this.sourceDone = true;
            this.drops?.sourceDone();
            this.checkDone();
          },
        }),
      );
    }
    return () => this.teardown();
  }

  private get over(): boolean {
    return this.phase === 'over' || this.subscriber.closed;
  }

  private now(): number {
    return this.c.scheduler.now();
  }

  private emit(event: ClassifyEvent<R>): void {
    if (!this.over) this.subscriber.next(event);
  }

  /** Runs `work` after `delay` ms, as a child of the session's one Subscription. */
  private after(delay: number, work: () => void): Subscription {
    const timer: Subscription = this.c.scheduler.schedule(() => {
      this.subscriptions.remove(timer);
      work();
    }, delay);
    this.subscriptions.add(timer);
    return timer;
  }

  /** `attempt`: the reconnects since the last answer (0 for the first open). */
  private emitConnection(state: ClassifyConnectionEvent['state'], more: Pick<ClassifyConnectionEvent, 'reason' | 'error'>): void {
    this.emit({ kind: 'connection', at: this.now(), state, attempt: this.breaks.attempts, deploymentId: this.c.deploymentId, ...more });
  }

  private view(rec: ImageRecord<R>): SentImage<R> {
    return { image: rec.image, attempt: rec.attempt, firstSentAt: rec.firstSentAt, retry: rec.retry };
  }

  // --- letting images go ---

  private giveBack(rec: ImageRecord<R>): void {
    if (this.ledger.takeCredit(rec)) this.c.window?.giveBack(rec.id);
  }

  /** After an event about settled images was delivered: those nobody keeps for a retry are done. */
  private finalize(recs: readonly ImageRecord<R>[]): void {
    for (const rec of this.ledger.finalize(recs)) this.giveBack(rec);
  }

  /** Settles `rec`; a failure the pipeline's retry stage will retry is held for its decision. */
  private settle(rec: ImageRecord<R>, failure?: FailureCode): void {
    this.ledger.settle(rec);
    if (failure !== undefined && this.phase !== 'dead' && this.c.context?.wantsRetry(rec.id, failure)) {
      this.ledger.hold(rec);
      this.c.context?.keepForRetry(rec.id, rec.retry);
    }
  }

  private fail(recs: ImageRecord<R>[], code: PipelineErrorCode, message: string, retryable: boolean): void {
    if (recs.length === 0) return;
    for (const rec of recs) this.settle(rec, code);
    this.emit({
      kind: 'failed',
      at: this.now(),
      images: recs.map((r) => this.view(r)),
      failure: { code, message, details: '', retryable },
    });
    this.finalize(recs);
  }

  private failDead(recs: ImageRecord<R>[]): void {
    const error = this.lastError;
    const message = `the stream to the Athena service failed for good: ${error instanceof Error ? error.message : String(error)}`;
    this.fail(recs, 'TRANSPORT_FAILED', message, isRetryableError(error));
  }

  // --- the stream ---

  /**
   * Opens a stream: the first, a reopen after a break (which waits `backlogGrace` for the
   * deployment's backlog, then re-sends what is unanswered), or a rotation ahead of token expiry
   * (the old stream is alive and still answers: nothing to wait for, nothing to re-send).
   */
  private open(reason?: 'rotation'): void {
    this.streamNo += 1;
    this.ledger.newStream();
    const first = this.streamNo === 1 || reason === 'rotation';
    this.phase = first ? 'open' : 'joining';
    const { client: transport, deploymentId, keepAlive } = this.c;
    this.emitConnection('open', reason ? { reason } : {});
    const after = (delay: number, work: () => void): Subscription => this.after(delay, work);
    const stream: StreamConnection = new StreamConnection(
      { transport, deploymentId, keepAlive, after, sink: this.subscriber },
      {
        response: (r) => this.onResponse(r, stream),
        end: (err) => (this.stream === stream ? this.onStreamEnd(err) : this.onRetiredEnd(stream, err)),
        writable: () => this.pump(),
      },
    );
    this.stream = stream;
    stream.open();
    if (this.stream !== stream || !stream.isLive || this.over) return;
    if (first) return this.pump();
    this.phaseTimer = this.after(this.c.backlogGrace, () => {
      if (this.stream !== stream || this.phase !== 'joining') return;
      this.phase = 'open';
      if (!this.c.shared) this.ledger.resendUnanswered(this.streamNo);
      this.pump();
      this.checkDone();
    });
  }

  private onStreamEnd(err: unknown): void {
    const answered = this.stream?.answered ?? false;
    this.stream = undefined;
    this.phaseTimer?.unsubscribe();
    if (this.phase === 'closing') return this.complete();
    // A stream the server ends without our half-close is as good as broken: reopen it.
    const error = err ?? Object.assign(new Error('the server ended the Classify stream'), { code: 'STREAM_ENDED', retryable: true });
    this.lastError = error;
    this.c.breaker?.recordFailure();
    const delay = this.breaks.next(error, answered, this.now(), this.c.reconnect, this.subscriber);
    if (delay === THREW) return;
    if (delay !== undefined) {
      this.phase = 'connecting';
      this.emitConnection('reconnecting', { error });
      this.phaseTimer = this.after(delay, () => {
        if (this.phase === 'connecting') this.open();
      });
      return;
    }
    this.phase = 'dead';
    this.emitConnection('failed', { error });
    this.failDead(this.ledger.takeUnanswered());
    this.checkDone();
  }

  private onResponse(response: ClassifyResponse, stream: StreamConnection): void {
    this.breaks.reset();
    if (stream === this.stream) this.rotation.answered(stream);
    recordOutcome(this.c.breaker, response);
    const { settled, outputs, refused } = matchAnswers(
      response,
      this.ledger,
      (rec, failure) => this.settle(rec, failure),
      this.c.defaultAffiliate,
    );
    const request = refused ? settled.map((r) => this.view(r)) : undefined;
    this.ledger.pruneAnswered();
    // A response whose every output was a swallowed collision says nothing to anyone downstream.
    if (outputs.length === 0 && response.outputs.length > 0 && !response.globalError) return;
    this.emit({
      kind: 'response',
      at: this.now(),
      response: outputs === response.outputs ? response : { ...response, outputs },
      ...(request ? { request } : {}),
    });
    this.finalize(settled);
    this.pump();
    this.checkDone();
  }

  // --- token expiry (see TokenRotation) ---

  /** Replaces `old`, still the stream we send on, by a fresh one; `old` goes on delivering its answers. */
  private rotate(old: StreamConnection): void {
    if (this.stream !== old || this.phase !== 'open' || this.over) return;
    this.rotation.retire(old);
    this.open('rotation');
  }

  /**
   * A replaced stream ended. Normally after its answers (the server ends a half-closed call once it
   * has written them); if it broke instead, its unanswered images go again on the current stream
   * (own deployment; in a shared one their answers may come through another member).
   */
  private onRetiredEnd(stream: StreamConnection, err: unknown): void {
    this.rotation.ended(stream);
    if (err === undefined || this.c.shared || this.phase !== 'open') return;
    this.ledger.resendUnanswered(this.streamNo);
    this.pump();
  }

  // --- the 1-hour response window ---

  /** Reports the images of `req` still unanswered `lateAfter` after their first send, if that comes before the timeout. */
  private watchLate(req: SentRequest<R>): void {
    const { after, lifetime } = this.c.lateAfter;
    const due = lateDelay(req.recs, this.now(), after, this.c.responseTimeout);
    if (due === undefined) return;
    const lateTimer = this.after(due, () => {
      const late = req.recs.filter((r) => r.state === 'sent' && r.request === req);
      if (late.length > 0)
        this.emit({ kind: 'late', at: this.now(), images: late.map((r) => this.view(r)), lifetimeMs: lifetime, lifetime });
    });
    this.ledger.setTimers(req, { lateTimer });
  }

  // --- sending ---

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      const { maxInFlight, shared } = this.c;
      for (
        let head = this.ledger.head;
        head && this.phase === 'open' && this.stream && !this.stream.blocked && !this.over;
        head = this.ledger.head
      ) {
        const want = Math.min(head.length, maxInFlight);
        if (maxInFlight - this.ledger.inFlight < want) break;
        // In a shared deployment answers may go to another member, so nothing can be confirmed.
        const probe = !shared && head.slice(0, want).some((r) => !this.ledger.isConfirmed(r.image.affiliate ?? this.c.defaultAffiliate));
        if (probe && this.ledger.hasUnansweredProbe()) break;
        // Asked last, right before sending: in half-open, a yes is the one probe.
        if (this.c.breaker && !this.c.breaker.tryPass()) break;
        this.send(want, probe);
      }
    } finally {
      this.pumping = false;
    }
  }

  private send(count: number, probe: boolean): void {
    const at = this.now();
    const req = this.ledger.sendHead(count, this.streamNo, probe, at);
    if (!req) return;
    const { recs } = req;
    const timer = this.after(this.c.responseTimeout, () => {
      const late = req.recs.filter((r) => r.state === 'sent' && r.request === req);
      if (late.length > 0) this.c.breaker?.recordFailure();
      this.fail(late, 'RESPONSE_TIMEOUT', `no response within ${this.c.responseTimeout} ms`, true);
      this.pump();
      this.checkDone();
    });
    this.ledger.setTimers(req, { timer });
    this.watchLate(req);
    const stream = this.stream;
    // `sent` goes first, so a correlator downstream knows the ids before any answer can arrive.
    this.emit({ kind: 'sent', at, images: recs.map((r) => this.view(r)) });
    if (this.stream !== stream || this.over) return;
    stream?.write({ deploymentId: this.c.deploymentId, inputs: wireInputs(recs, this.c.defaultAffiliate) });
  }

  private accept(batch: readonly ClassifyItem<R>[]): void {
    if (Array.isArray(batch) && batch.length > 0) this.drops?.arrived();
    const group = readBatch(batch, {
      known: (id) => this.ledger.get(id) !== undefined,
      reject: (result) => this.reject(result),
      record: (image) => {
        const id = image.correlationId;
        const credit = (this.c.window?.heldBy(id) ?? 0) > 0;
        if (credit) this.c.window?.claim(id);
        // Judged dropped, then here after all: it gets its result; its credit was given back then.
        else this.drops?.late(id);
        return ClassifyLedger.record(image, credit, retryCapability(id, this.retryHooks));
      },
    });
    if (group instanceof InvalidOptionError) return this.subscriber.error(group);
    if (group.length === 0) return;
    if (this.phase === 'dead') {
      this.ledger.register(group);
      return this.failDead(group);
    }
    this.ledger.admit(group);
    this.pump();
  }

  /** Emits a failure that is final before sending, and gives back the credit its id holds. */
  private reject(result: ClassificationFailure<R>): void {
    this.emit({ kind: 'rejected', at: this.now(), result });
    if (this.c.window?.giveBack(result.correlationId) === false) this.drops?.late(result.correlationId);
  }

  // --- the end ---

  private complete(): void {
    if (this.over) return;
    this.phase = 'over';
    this.subscriber.complete();
  }

  private checkDone(): void {
    if (!this.sourceDone) return this.drops?.check();
    if (this.ledger.size > 0 || this.over) return;
    if (this.phase === 'dead' || this.phase === 'connecting') return this.complete();
    if (this.phase === 'closing') return;
    this.phase = 'closing';
    this.phaseTimer?.unsubscribe();
    // Half-close; the server ends the call once it has written our answers. If it never does,
    // give up waiting after responseTimeout.
    this.phaseTimer = this.after(this.c.responseTimeout, () => this.complete());
    this.stream?.end();
  }

  private teardown(): void {
    this.phase = 'over';
    this.subscriptions.unsubscribe();
    this.stream?.close();
    this.stream = undefined;
    this.rotation.close();
    for (const rec of this.ledger.clear()) this.giveBack(rec);
  }
}
