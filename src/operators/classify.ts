import { randomUUID } from 'node:crypto';
import { asyncScheduler, Observable, type OperatorFunction, type SchedulerLike, type Subscriber, type Subscription } from 'rxjs';
import { MAX_ID_LENGTH, type ClassifyRequest, type ClassifyResponse } from '../contract/messages';
import type { PreparedImage } from '../preprocess/types';
import type { ClassifyTransport, ClassifyWriteState } from '../transport/types';
import type { InFlightWindow } from './inFlightWindow';
import type { ClassificationFailure, PipelineErrorCode, RetryCapability, RetryTicket } from './results';
import { InvalidOptionError } from '../core/invalidOptionError';
import { isValidId } from '../core/ids';

/** One image as `classify` sent it (or tried to). */
export interface SentImage<R = unknown> {
  readonly image: PreparedImage<R>;
  /** How many times the image has been written to a stream so far (0 if it never was). */
  readonly attempt: number;
  /** `scheduler.now()` of its first send; absent if it was never sent. */
  readonly firstSentAt?: number;
  /** Lets `retryByErrorCode` send the same prepared image again (see {@link RetryCapability}). */
  readonly retry: RetryCapability;
}

/** Images were written in one `ClassifyRequest`. */
export interface ClassifySentEvent<R = unknown> {
  readonly kind: 'sent';
  readonly at: number;
  readonly images: readonly SentImage<R>[];
}

/**
 * A `ClassifyResponse` arrived. Outputs may answer our images, duplicates, or images of another
 * member of a shared deployment. For a `globalError`, `request` holds the images of the request it
 * was attributed to (absent when no request could be blamed).
 */
export interface ClassifyResponseEvent<R = unknown> {
  readonly kind: 'response';
  readonly at: number;
  readonly response: ClassifyResponse;
  readonly request?: readonly SentImage<R>[];
}

/** Images that will get no answer from the service: timed out, or the transport gave up. */
export interface ClassifyFailedEvent<R = unknown> {
  readonly kind: 'failed';
  readonly at: number;
  readonly images: readonly SentImage<R>[];
  readonly failure: {
    readonly code: PipelineErrorCode;
    readonly message: string;
    readonly details: string;
    readonly retryable: boolean;
  };
}

/** An item that was never sendable (a preprocess failure, or a correlation id used twice): its final result. */
export interface ClassifyRejectedEvent<R = unknown> {
  readonly kind: 'rejected';
  readonly at: number;
  readonly result: ClassificationFailure<R>;
}

/** The stream opened, broke and is being reopened, or was given up. For logs and metrics. */
export interface ClassifyConnectionEvent {
  readonly kind: 'connection';
  readonly at: number;
  readonly state: 'open' | 'reconnecting' | 'failed';
  /** Reconnect attempt (0 for the first open). */
  readonly attempt: number;
  readonly error?: unknown;
}

/** What `classify` emits; `correlate()` turns it into one result per image. */
export type ClassifyEvent<R = unknown> =
  | ClassifySentEvent<R>
  | ClassifyResponseEvent<R>
  | ClassifyFailedEvent<R>
  | ClassifyRejectedEvent<R>
  | ClassifyConnectionEvent;

/** What `classify` accepts in a batch: prepared images, and failures that ride along. */
export type ClassifyItem<R = unknown> = PreparedImage<R> | ClassificationFailure<R>;

/** Reopening the stream after a transient failure. */
export interface ReconnectOptions {
  /** Reopen attempts in a row (without a response in between) before giving up. Default 5. */
  readonly maxAttempts?: number;
  /** Delay before the first reopen, ms; doubles each attempt. Default 200. */
  readonly initialDelay?: number;
  /** Largest delay, ms. Default 10,000. */
  readonly maxDelay?: number;
}

/** Options of {@link classify}. */
export interface ClassifyOptions {
  /** The deployment to use. Default: the client's, else a fresh `athena-rx-<uuid>` of this pipeline's own. */
  readonly deploymentId?: string;
  /**
   * Whether other clients may join the deployment. Default: true when a deployment id was given
   * (here or on the client), false for the pipeline's own. When shared, images unanswered at a
   * reconnect are not sent again (their answer may have gone to another member): they end as
   * `RESPONSE_TIMEOUT` if it does not come.
   */
  readonly shared?: boolean;
  /** Affiliate for images that name none. Default: the client's, else `''`. */
  readonly affiliate?: string;
  /** The pipeline's credit gate: a credit is given back when an image's final answer has left. */
  readonly window?: InFlightWindow;
  /** Most images sent and unanswered at once. Default: the window's size, else 256. */
  readonly maxInFlight?: number;
  /** An empty request after this many ms without a request (keeps the stream alive). Default 30,000. */
  readonly keepAlive?: number;
  /** An image unanswered this long after its (last) send gets `RESPONSE_TIMEOUT`. Default 120,000. */
  readonly responseTimeout?: number;
  /** After a reopen, how long to wait for the deployment's backlog before re-sending, ms. Default 250. */
  readonly backlogGrace?: number;
  readonly reconnect?: ReconnectOptions;
  /** Jitter of reconnect delays, in [0, 1). Default `Math.random`. */
  readonly random?: () => number;
  /** Time of timers and timestamps. Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
}

type RecState = 'pending' | 'sent' | 'settled' | 'reserved';

interface Rec<R> {
  readonly id: string;
  readonly image: PreparedImage<R>;
  state: RecState;
  attempt: number;
  firstSentAt?: number;
  request?: Req<R>;
  /** Re-sent after a reconnect: a CORRELATION_ID_INVALID "in use" answer then means the first send is still alive. */
  resent: boolean;
  credit: boolean;
  readonly retry: RetryCapability;
}

interface Req<R> {
  readonly recs: Rec<R>[];
  readonly stream: number;
  /** Carries an affiliate no answer has confirmed yet: at most one such request is unanswered at a time. */
  readonly probe: boolean;
  answered: boolean;
  timer?: Subscription;
}

const DEFAULTS = {
  maxInFlight: 256,
  keepAlive: 30_000,
  responseTimeout: 120_000,
  backlogGrace: 250,
  reconnect: { maxAttempts: 5, initialDelay: 200, maxDelay: 10_000 },
} as const;

function isRetryableError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { retryable?: unknown }).retryable === true;
}

/**
 * A stream keeps the token it opened with (contract section 5), so a long-lived stream is refused
 * with `UNAUTHENTICATED` once that token expires. After the stream has worked (it got an answer),
 * that means an expired token, not a bad credential: reopening fetches a fresh one (the client
 * drops the refused token). A stream refused before any answer is not reopened for this reason.
 */
function isExpiredToken(err: unknown, streamAnswered: boolean): boolean {
  return streamAnswered && typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'UNAUTHENTICATED';
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}


/**
 * Sends batches of prepared images as `ClassifyRequest`s on one duplex stream per subscription and
 * emits what happens to them: `sent`, `response`, `failed` (timeout or transport given up),
 * `rejected` (items that could not be sent) and `connection` events.
 *
 * Use it after `bufferBatch()` and before `correlate()`; it keeps at most `maxInFlight` images
 * unanswered, keeps the stream alive, reopens it after a transient failure without losing or
 * repeating an image, and half-closes once the source completed and every image has its answer.
 *
 * ```text
 * batches:   -[a,b]------[c]---------|
 *            classify(client)
 * events:    -s------r---s-------r---(|)      s = sent, r = response (after the server half-closes)
 * wire:      j[a,b]------[c]---------end      j = empty join request
 * ```
 *
 * Every image leaves exactly once as an answer (`response`) or a `failed`/`rejected` event; a dead
 * transport is reported per image (`TRANSPORT_FAILED`), never as an error notification. Only
 * programming errors (an invalid deployment id, a value that is not a batch, an item that is not
 * a prepared image or a failure: `InvalidOptionError`) and an error of the source are error
 * notifications.
 *
 * @example
 * ```ts
 * const window = inFlightWindow(256);
 * inputs$.pipe(preprocess({ window }), bufferBatch(), classify(client, { window }), correlate());
 * ```
 *
 * @param client What the operator needs of a client: `classify` (a duplex call), and optional
 *   `deploymentId`/`affiliate` defaults. `createAthenaClient` returns one.
 * @param options.deploymentId Default: the client's, else `athena-rx-<uuid>` of its own.
 * @param options.shared Default true for a given deployment id, false for its own.
 * @param options.affiliate Default: the client's, else `''`.
 * @param options.window Shared credit gate; default none (then the source is not slowed down).
 * @param options.maxInFlight Default the window's size, else 256.
 * @param options.keepAlive Default 30,000 ms.
 * @param options.responseTimeout Default 120,000 ms.
 * @param options.backlogGrace Default 250 ms.
 * @param options.reconnect Default `{ maxAttempts: 5, initialDelay: 200, maxDelay: 10_000 }`.
 * @param options.random Default `Math.random`.
 * @param options.scheduler Default `asyncScheduler`.
 * @see bufferBatch
 * @see correlate
 * @see inFlightWindow
 * @see classifyImages
 */
export function classify<R = unknown>(
  client: ClassifyTransport,
  options: ClassifyOptions = {},
): OperatorFunction<readonly ClassifyItem<R>[], ClassifyEvent<R>> {
  const scheduler = options.scheduler ?? asyncScheduler;
  const window = options.window;
  const maxInFlight = options.maxInFlight ?? window?.size ?? DEFAULTS.maxInFlight;
  const keepAlive = options.keepAlive ?? DEFAULTS.keepAlive;
  const responseTimeout = options.responseTimeout ?? DEFAULTS.responseTimeout;
  const backlogGrace = options.backlogGrace ?? DEFAULTS.backlogGrace;
  const maxAttempts = options.reconnect?.maxAttempts ?? DEFAULTS.reconnect.maxAttempts;
  const initialDelay = options.reconnect?.initialDelay ?? DEFAULTS.reconnect.initialDelay;
  const maxDelay = options.reconnect?.maxDelay ?? DEFAULTS.reconnect.maxDelay;
  const random = options.random ?? Math.random;
  const givenId = options.deploymentId ?? client.deploymentId;
  const shared = options.shared ?? givenId !== undefined;
  const defaultAffiliate = options.affiliate ?? client.affiliate ?? '';
  if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw new InvalidOptionError(`classify: maxInFlight must be an integer >= 1, got ${maxInFlight}`);

  return (source) =>
    new Observable<ClassifyEvent<R>>((subscriber) => {
      const deploymentId = givenId ?? `athena-rx-${randomUUID()}`;
      if (!isValidId(deploymentId)) {
        subscriber.error(new InvalidOptionError(`classify: deployment id must be 1-${MAX_ID_LENGTH} characters, got '${deploymentId}'`));
        return undefined;
      }
      return session<R>(source, subscriber, {
        client, scheduler, window, maxInFlight, keepAlive, responseTimeout, backlogGrace,
        maxAttempts, initialDelay, maxDelay, random, deploymentId, shared, defaultAffiliate,
      });
    });
}

interface SessionConfig {
  readonly client: ClassifyTransport;
  readonly scheduler: SchedulerLike;
  readonly window: InFlightWindow | undefined;
  readonly maxInFlight: number;
  readonly keepAlive: number;
  readonly responseTimeout: number;
  readonly backlogGrace: number;
  readonly maxAttempts: number;
  readonly initialDelay: number;
  readonly maxDelay: number;
  readonly random: () => number;
  readonly deploymentId: string;
  readonly shared: boolean;
  readonly defaultAffiliate: string;
}

/** One subscription of `classify`: all of its state, and the teardown that releases it. */
function session<R>(
  source: Observable<readonly ClassifyItem<R>[]>,
  subscriber: Subscriber<ClassifyEvent<R>>,
  c: SessionConfig,
): () => void {
  const { scheduler, window } = c;
  const records = new Map<string, Rec<R>>();
  const pending: Rec<R>[][] = [];
  let inFlight = 0;
  /** Requests written on the current stream that have had no answer yet (for global errors). */
  let streamRequests: Req<R>[] = [];
  const confirmedAffiliates = new Set<string>();
  let phase: 'joining' | 'open' | 'connecting' | 'closing' | 'dead' | 'over' = 'joining';
  let streamNo = 0;
  /** The current stream has had at least one response. */
  let streamAnswered = false;
  let reconnects = 0;
  let lastError: unknown;
  let sourceDone = false;
  let call: { sub?: Subscription; write(r: ClassifyRequest): void; end(): void } | undefined;
  let keepAliveTimer: Subscription | undefined;
  let phaseTimer: Subscription | undefined;
  let sourceSub: Subscription | undefined;
  let pumping = false;
  /** The transport's write side is saturated (`ClassifyWriteState`): hold requests until it drains. */
  let writeBlocked = false;

  const now = (): number => scheduler.now();
  const affiliateOf = (rec: Rec<R>): string => rec.image.affiliate ?? c.defaultAffiliate;
  const over = (): boolean => phase === 'over' || subscriber.closed;
  const emit = (event: ClassifyEvent<R>): void => {
    if (!over()) subscriber.next(event);
  };
  const view = (rec: Rec<R>): SentImage<R> => ({ image: rec.image, attempt: rec.attempt, firstSentAt: rec.firstSentAt, retry: rec.retry });

  const releaseCredit = (rec: Rec<R>): void => {
    if (!rec.credit) return;
    rec.credit = false;
    window?.giveBack(rec.id);
  };

  /** After an event about settled images was delivered: images nobody reserved for a retry are done. */
  const finalize = (recs: readonly Rec<R>[]): void => {
    for (const rec of recs) {
      if (rec.state !== 'settled' || records.get(rec.id) !== rec) continue;
      records.delete(rec.id);
      releaseCredit(rec);
    }
  };

  const settle = (rec: Rec<R>): void => {
    if (rec.state === 'sent') inFlight -= 1;
    rec.state = 'settled';
    const req = rec.request;
    if (req && req.recs.every((r) => r.state !== 'sent' || r.request !== req)) {
      req.timer?.unsubscribe();
      req.answered = true; // nothing of it is awaited any more (answered, timed out or failed)
    }
  };

  const makeCapability = (id: string): RetryCapability => ({
    reserve: (): RetryTicket | undefined => {
      const rec = records.get(id);
      if (!rec || rec.state !== 'settled' || over() || phase === 'dead') return undefined;
      rec.state = 'reserved';
      let used = false;
      return {
        send: () => {
          if (used || records.get(id) !== rec || rec.state !== 'reserved') return;
          used = true;
          if (phase === 'dead') {
            fail([rec], 'TRANSPORT_FAILED', transportMessage(), isRetryableError(lastError));
          } else {
            rec.state = 'pending';
            pending.push([rec]);
            pump();
          }
          checkDone();
        },
        cancel: () => {
          if (used || records.get(id) !== rec || rec.state !== 'reserved') return;
          used = true;
          records.delete(id);
          releaseCredit(rec);
          checkDone();
        },
      };
    },
  });

  const transportMessage = (): string => `the stream to the Athena service failed for good: ${describe(lastError)}`;

  const fail = (recs: Rec<R>[], code: PipelineErrorCode, message: string, retryable: boolean): void => {
    if (recs.length === 0) return;
    for (const rec of recs) settle(rec);
    emit({ kind: 'failed', at: now(), images: recs.map(view), failure: { code, message, details: '', retryable } });
    finalize(recs);
  };

  /** Emits a failure that is final before sending, and gives back the credit its id holds. */
  const reject = (result: ClassificationFailure<R>): void => {
    emit({ kind: 'rejected', at: now(), result });
    window?.giveBack(result.correlationId);
  };

  // --- the wire ---

  const scheduleKeepAlive = (): void => {
    keepAliveTimer?.unsubscribe();
    keepAliveTimer = scheduler.schedule(() => {
      if (call && (phase === 'open' || phase === 'joining')) write({ deploymentId: c.deploymentId, inputs: [] });
    }, c.keepAlive);
  };

  const write = (request: ClassifyRequest): void => {
    call?.write(request);
    scheduleKeepAlive();
  };

  const open = (): void => {
    streamNo += 1;
    streamAnswered = false;
    const queue: ClassifyRequest[] = [];
    let writer: Subscriber<ClassifyRequest> | undefined;
    let ended = false;
    const requests$ = new Observable<ClassifyRequest>((w) => {
      writer = w;
      for (const r of queue.splice(0)) w.next(r);
      if (ended) w.complete();
      return () => {
        writer = undefined;
      };
    });
    const current: NonNullable<typeof call> = {
      write: (r) => (writer ? writer.next(r) : queue.push(r)),
      end: () => {
        ended = true;
        writer?.complete();
      },
    };
    call = current;
    streamRequests = [];
    const first = reconnects === 0 && streamNo === 1;
    phase = first ? 'open' : 'joining';
    emit({ kind: 'connection', at: now(), state: 'open', attempt: reconnects });
    writeBlocked = false;
    const onWriteState = (state: ClassifyWriteState): void => {
      if (call !== current) return;
      const blocked = state.waitingForDrain || state.queued > 0;
      if (blocked === writeBlocked) return;
      writeBlocked = blocked;
      if (!blocked) pump();
    };
    current.sub = c.client.classify(requests$, { onWriteState }).subscribe({
      next: (response) => {
        if (call === current) onResponse(response);
      },
      error: (err: unknown) => {
        if (call === current) onStreamEnd(err);
      },
      complete: () => {
        if (call === current) onStreamEnd(undefined);
      },
    });
    if (call !== current || over()) return;
    // The empty request joins the deployment (and, after a reconnect, brings its backlog).
    write({ deploymentId: c.deploymentId, inputs: [] });
    if (!first) {
      phaseTimer = scheduler.schedule(() => {
        if (call !== current || phase !== 'joining') return;
        phase = 'open';
        if (!c.shared) resendUnanswered();
        pump();
        checkDone();
      }, c.backlogGrace);
    } else {
      pump();
    }
  };

  /** Own deployment after a reconnect: whatever the backlog did not answer goes again, first. */
  const resendUnanswered = (): void => {
    const groups = new Map<Req<R>, Rec<R>[]>();
    for (const rec of records.values()) {
      if (rec.state !== 'sent' || !rec.request || rec.request.stream === streamNo) continue;
      const group = groups.get(rec.request) ?? [];
      group.push(rec);
      groups.set(rec.request, group);
    }
    const again: Rec<R>[][] = [];
    for (const [req, recs] of groups) {
      req.timer?.unsubscribe();
      for (const rec of recs) {
        rec.state = 'pending';
        rec.resent = true;
        inFlight -= 1;
      }
      again.push(recs);
    }
    pending.unshift(...again);
  };

  const onStreamEnd = (err: unknown): void => {
    const ended = call;
    call = undefined;
    ended?.sub?.unsubscribe();
    keepAliveTimer?.unsubscribe();
    phaseTimer?.unsubscribe();
    if (phase === 'closing') return complete();
    // A stream the server ends without our half-close is as good as broken: reopen it.
    const error = err ?? Object.assign(new Error('the server ended the Classify stream'), { code: 'STREAM_ENDED', retryable: true });
    lastError = error;
    if ((isRetryableError(error) || isExpiredToken(error, streamAnswered)) && reconnects < c.maxAttempts) {
      reconnects += 1;
      phase = 'connecting';
      emit({ kind: 'connection', at: now(), state: 'reconnecting', attempt: reconnects, error });
      const base = Math.min(c.maxDelay, c.initialDelay * 2 ** (reconnects - 1));
      phaseTimer = scheduler.schedule(() => {
        if (phase === 'connecting') open();
      }, base / 2 + (base / 2) * c.random());
      return;
    }
    phase = 'dead';
    emit({ kind: 'connection', at: now(), state: 'failed', attempt: reconnects, error });
    const left = [...records.values()].filter((r) => r.state === 'pending' || r.state === 'sent');
    pending.length = 0;
    fail(left, 'TRANSPORT_FAILED', transportMessage(), isRetryableError(error));
    checkDone();
  };

  /**
   * The request a global error belongs to. Global errors carry no ids; the server sends them to
   * the sender at once (before answers of earlier requests still being classified), so "the
   * oldest unanswered request" alone would be wrong. The one unanswered probe (a request with an
   * affiliate no answer has confirmed yet) is blamed first; else the oldest unanswered request.
   */
  const blame = (): Req<R> | undefined => {
    const unanswered = streamRequests.filter((q) => !q.answered);
    return unanswered.find((q) => q.probe) ?? unanswered[0];
  };

  const onResponse = (response: ClassifyResponse): void => {
    reconnects = 0;
    streamAnswered = true;
    const settled: Rec<R>[] = [];
    let request: SentImage<R>[] | undefined;
    let outputs = response.outputs ?? [];
    if (response.globalError) {
      const req = blame();
      if (req) {
        req.answered = true;
        const recs = req.recs.filter((r) => r.state === 'sent' && r.request === req);
        for (const rec of recs) settle(rec);
        settled.push(...recs);
        request = recs.map(view);
      }
    } else {
      let swallowed = false;
      const kept = outputs.filter((output) => {
        const rec = records.get(output.correlationId);
        if (rec && rec.state === 'pending' && rec.attempt > 0) {
          unqueue(rec); // a late answer to an earlier send, while the image waits to be re-sent
          rec.state = 'sent';
          inFlight += 1;
        }
        if (!rec || rec.state !== 'sent') return true; // foreign or duplicate: correlate decides
        if (rec.resent && output.error?.code === 'ERROR_CODE_CORRELATION_ID_INVALID') {
          swallowed = true; // the first send is still being answered: wait for that answer
          return false;
        }
        if (rec.request) rec.request.answered = true;
        confirmedAffiliates.add(affiliateOf(rec));
        settle(rec);
        settled.push(rec);
        return true;
      });
      if (swallowed) outputs = kept;
    }
    streamRequests = streamRequests.filter((q) => !q.answered);
    // A response whose every output was a swallowed collision says nothing to anyone downstream.
    if (outputs.length === 0 && response.outputs.length > 0 && !response.globalError) return;
    emit({
      kind: 'response',
      at: now(),
      response: outputs === response.outputs ? response : { ...response, outputs },
      ...(request ? { request } : {}),
    });
    finalize(settled);
    pump();
    checkDone();
  };

  // --- sending ---

  const unqueue = (rec: Rec<R>): void => {
    for (let i = 0; i < pending.length; i++) {
      const at = pending[i].indexOf(rec);
      if (at < 0) continue;
      pending[i].splice(at, 1);
      if (pending[i].length === 0) pending.splice(i, 1);
      return;
    }
  };

  const pump = (): void => {
    if (pumping) return;
    pumping = true;
    try {
      while (phase === 'open' && call && !writeBlocked && pending.length > 0 && !over()) {
        const head = pending[0];
        const want = Math.min(head.length, c.maxInFlight);
        if (c.maxInFlight - inFlight < want) break;
        // In a shared deployment answers may go to another member, so nothing can be confirmed.
        const probe = !c.shared && head.slice(0, want).some((r) => !confirmedAffiliates.has(affiliateOf(r)));
        if (probe && streamRequests.some((q) => q.probe && !q.answered)) break;
        const recs = head.length === want ? pending.shift()! : head.splice(0, want);
        send(recs, probe);
      }
    } finally {
      pumping = false;
    }
  };

  const send = (recs: Rec<R>[], probe: boolean): void => {
    const at = now();
    const req: Req<R> = { recs, stream: streamNo, probe, answered: false };
    for (const rec of recs) {
      rec.state = 'sent';
      rec.attempt += 1;
      rec.firstSentAt ??= at;
      rec.request = req;
      inFlight += 1;
    }
    streamRequests.push(req);
    req.timer = scheduler.schedule(() => {
      const late = req.recs.filter((r) => r.state === 'sent' && r.request === req);
      fail(late, 'RESPONSE_TIMEOUT', `no response within ${c.responseTimeout} ms`, true);
      pump();
      checkDone();
    }, c.responseTimeout);
    const current = call;
    // `sent` goes first, so a correlator downstream knows the ids before any answer can arrive.
    emit({ kind: 'sent', at, images: recs.map(view) });
    if (call !== current || over()) return;
    write({
      deploymentId: c.deploymentId,
      inputs: recs.map(({ image }) => ({
        affiliate: image.affiliate ?? c.defaultAffiliate,
        correlationId: image.correlationId,
        encoding: image.encoding,
        data: image.data,
        format: image.format,
        hashes: [...image.hashes],
      })),
    });
  };

  const accept = (batch: readonly ClassifyItem<R>[]): void => {
    if (!Array.isArray(batch)) {
      const got = batch === null || typeof batch !== 'object' ? String(batch) : ((batch as object).constructor?.name ?? 'object');
      subscriber.error(new InvalidOptionError(`classify: expects batches (arrays) of prepared images and failures, as bufferBatch() emits; got ${got}`));
      return;
    }
    const group: Rec<R>[] = [];
    for (const item of batch) {
      if (item?.kind === 'failure') {
        reject(item);
        continue;
      }
      if (item?.kind !== 'prepared') {
        subscriber.error(new InvalidOptionError(`classify: a batch item must be a prepared image or a failure, got ${JSON.stringify((item as { kind?: unknown })?.kind)}`));
        return;
      }
      const id = item.correlationId;
      if (records.has(id)) {
        reject({
          kind: 'failure', correlationId: id, ref: item.ref, attempts: 0,
          timings: { prepareMs: 0 }, code: 'ERROR_CODE_CORRELATION_ID_INVALID',
          message: `correlation id '${id}' is already in use in this pipeline`, details: '', retryable: false, stage: 'preprocess',
        });
        continue;
      }
      const rec: Rec<R> = { id, image: item, state: 'pending', attempt: 0, resent: false, credit: (window?.heldBy(id) ?? 0) > 0, retry: makeCapability(id) };
      records.set(id, rec);
      group.push(rec);
    }
    if (group.length === 0) return;
    if (phase === 'dead') {
      fail(group, 'TRANSPORT_FAILED', transportMessage(), isRetryableError(lastError));
      return;
    }
    pending.push(group);
    pump();
  };

  // --- the end ---

  const complete = (): void => {
    if (over()) return;
    phase = 'over';
    subscriber.complete();
  };

  const checkDone = (): void => {
    if (!sourceDone || records.size > 0 || over()) return;
    if (phase === 'dead' || phase === 'connecting') return complete();
    if (phase === 'closing') return;
    phase = 'closing';
    keepAliveTimer?.unsubscribe();
    phaseTimer?.unsubscribe();
    // Half-close; the server ends the call once it has written our answers. If it never does,
    // give up waiting after responseTimeout.
    phaseTimer = scheduler.schedule(complete, c.responseTimeout);
    call?.end();
  };

  open();
  if (!over()) {
    sourceSub = source.subscribe({
      next: (batch) => accept(batch),
      error: (err: unknown) => subscriber.error(err),
      complete: () => {
        sourceDone = true;
        checkDone();
      },
    });
  }

  return () => {
    phase = 'over';
    sourceSub?.unsubscribe();
    keepAliveTimer?.unsubscribe();
    phaseTimer?.unsubscribe();
    const ended = call;
    call = undefined;
    ended?.sub?.unsubscribe();
    for (const rec of records.values()) {
      rec.request?.timer?.unsubscribe();
      rec.state = 'settled';
    }
    const held = [...records.values()];
    records.clear();
    pending.length = 0;
    for (const rec of held) releaseCredit(rec);
  };
}
