import { delay, map, mergeMap, Observable, observeOn, of, tap } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import type { ClassifyRequest, ClassifyResponse } from '../../../src/contract/messages';
import { classify, type ClassifyEvent, type ClassifyItem, type ClassifyOptions, type StreamBreak } from '../../../src/operators/classify';
import { correlate } from '../../../src/operators/correlate';
import { inFlightWindow } from '../../../src/operators/inFlightWindow';
import { pipelineContext } from '../../../src/operators/pipelineContext';
import type { ClassificationEvent } from '../../../src/operators/results';
import { retryByErrorCode } from '../../../src/operators/retryByErrorCode';
import { classifyStages } from '../../../src/operators/classifyStages';
import type { ClassifyTransport } from '../../../src/transport/types';
import { failure, modelError, ok, prepared } from '../fixtures';

/** One call opened on the fake transport: what was written when, and handles to answer it. */
interface FakeCall {
  readonly log: string[];
  respond(response: ClassifyResponse): void;
  fail(error: unknown): void;
  closedAt?: number;
  cancelledAt?: number;
}

/**
 * The operator's own seam: a `ClassifyTransport` whose calls log each request at the scheduler's
 * time (`t:ids`, `t:-` for an empty request, `t:end` for the half-close) and end when half-closed.
 */
function fakeTransport(scheduler: TestScheduler, deploymentId?: string) {
  const calls: FakeCall[] = [];
  const transport: ClassifyTransport = {
    deploymentId,
    classify: (requests$: Observable<ClassifyRequest>) =>
      new Observable<ClassifyResponse>((subscriber) => {
        const call: FakeCall = {
          log: [],
          respond: (r) => subscriber.next(r),
          fail: (e) => subscriber.error(e),
        };
        calls.push(call);
        const sub = requests$.subscribe({
          next: (r) => call.log.push(`${scheduler.now()}:${r.inputs.map((i) => i.correlationId).join(',') || '-'}`),
          complete: () => {
            call.log.push(`${scheduler.now()}:end`);
            call.closedAt = scheduler.now();
            subscriber.complete();
          },
        });
        return () => {
          sub.unsubscribe();
          if (call.closedAt === undefined) call.cancelledAt = scheduler.now();
        };
      }),
  };
  return { transport, calls };
}

const outputs = (...o: ReturnType<typeof ok>[]): ClassifyResponse => ({ globalError: null, outputs: o });

/** Events as short strings, so that marbles stay readable. */
function short(e: ClassifyEvent<string>): string {
  switch (e.kind) {
    case 'connection':
      return e.state;
    case 'sent':
      return `sent ${e.images.map((i) => `${i.image.correlationId}#${i.attempt}`).join(',')}`;
    case 'response':
      return e.response.globalError
        ? `global ${(e.request ?? []).map((i) => i.image.correlationId).join(',')}`
        : `resp ${e.response.outputs.map((o) => o.correlationId).join(',')}`;
    case 'failed':
      return `${e.failure.code} ${e.images.map((i) => i.image.correlationId).join(',')}`;
    case 'rejected':
      return `rejected ${e.result.correlationId}`;
    case 'late':
      return `late ${e.images.map((i) => i.image.correlationId).join(',')}`;
    case 'dropped':
      return `dropped ${e.correlationIds.join(',')}`;
  }
}

/** A result of `correlate` as a short string: `id code #attempts` for a failure, `id kind` otherwise. */
function shortResult(r: ClassificationEvent<string>): string {
  return r.kind === 'failure' ? `${r.correlationId} ${r.code} #${r.attempts}` : `${r.correlationId} ${r.kind}`;
}

const retryable = Object.assign(new Error('stream reset'), { retryable: true });
const fatal = Object.assign(new Error('UNAUTHENTICATED'), { retryable: false });

describe('classify', () => {
  let testScheduler: TestScheduler;
  beforeEach(() => {
    testScheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
  });
  const batches = (...ids: string[][]): Record<string, ClassifyItem<string>[]> =>
    Object.fromEntries(ids.map((group, k) => ['abcdefgh'[k], group.map((id) => prepared(id))]));
  const opts = (o: ClassifyOptions = {}): ClassifyOptions => ({
    deploymentId: 'dep',
    shared: false,
    keepAliveMs: 100,
    responseTimeoutMs: 100,
    backlogGraceMs: 2,
    random: () => 1,
    reconnect: { initialDelayMs: 2, maxAttempts: 2 },
    scheduler: testScheduler,
    ...o,
  });

  const V = {
    o: 'open',
    R: 'reconnecting',
    F: 'failed',
  };

  it('joins, sends each batch as a request (the first alone, to confirm the affiliate), and half-closes once all are answered', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const { transport, calls } = fakeTransport(testScheduler);
      const source = cold('-a-b|', batches(['a1', 'a2'], ['b1']));
      testScheduler.schedule(() => calls[0].respond(outputs(ok('a1'), ok('a2'))), 4);
      testScheduler.schedule(() => calls[0].respond(outputs(ok('b1'))), 8);
      const result = source.pipe(classify<string>(transport, opts()), map(short));
      expectObservable(result).toBe('ox--(ry)(s|)', {
        ...V,
        x: 'sent a1#1,a2#1',
        y: 'sent b1#1',
        r: 'resp a1,a2',
        s: 'resp b1',
      });
      expectSubscriptions(source.subscriptions).toBe('^---!');
      testScheduler.flush();
      expect(calls).toHaveLength(1);
      expect(calls[0].log).toEqual(['0:-', '1:a1,a2', '4:b1', '8:end']);
    });
  });

  it('sends an empty request every keepAlive ms while nothing else is written', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const { transport, calls } = fakeTransport(testScheduler);
      const source = cold('-----a--------', batches(['a1']));
      testScheduler.schedule(() => calls[0].respond(outputs(ok('a1'))), 6);
      const unsub = '      -------------!';
      const result = source.pipe(classify<string>(transport, opts({ keepAliveMs: 3 })), map(short));
      expectObservable(result, unsub).toBe('o----xr------', { ...V, x: 'sent a1#1', r: 'resp a1' });
      expectSubscriptions(source.subscriptions).toBe('^------------!');
      testScheduler.flush();
      expect(calls[0].log).toEqual(['0:-', '3:-', '5:a1', '8:-', '11:-']);
      expect(calls[0].cancelledAt).toBe(13);
    });
  });

  it('gives an image unanswered within responseTimeout a RESPONSE_TIMEOUT failure, and drops its late answer', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const { transport, calls } = fakeTransport(testScheduler);
      const source = cold('-a|', batches(['a1', 'a2']));
      testScheduler.schedule(() => calls[0].respond(outputs(ok('a1'))), 3);
      testScheduler.schedule(() => calls[0].respond(outputs(ok('a2'))), 9);
      const result = source.pipe(classify<string>(transport, opts({ responseTimeoutMs: 5 })), map(short));
      expectObservable(result).toBe('ox-r--(t|)', { ...V, x: 'sent a1#1,a2#1', r: 'resp a1', t: 'RESPONSE_TIMEOUT a2' });
      testScheduler.flush();
      expect(calls[0].log).toEqual(['0:-', '1:a1,a2', '6:end']);
    });
  });

  it('keeps at most maxInFlight images unanswered, holding whole batches and splitting larger ones', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const { transport, calls } = fakeTransport(testScheduler);
      const source = cold('-ab|', batches(['a1', 'a2'], ['b1', 'b2', 'b3']));
      testScheduler.schedule(() => calls[0].respond(outputs(ok('a1'))), 4);
      testScheduler.schedule(() => calls[0].respond(outputs(ok('a2'))), 6);
      testScheduler.schedule(() => calls[0].respond(outputs(ok('b1'), ok('b2'))), 11);
      testScheduler.schedule(() => calls[0].respond(outputs(ok('b3'))), 16);
      const result = source.pipe(classify<string>(transport, opts({ maxInFlight: 2 })), map(short));
      expectObservable(result).toBe('ox--r-(sy)-(qt)-(z|)', {
        ...V,
        x: 'sent a1#1,a2#1',
        r: 'resp a1',
        s: 'resp a2',
        y: 'sent b1#1,b2#1',
        q: 'resp b1,b2',
        t: 'sent b3#1',
        z: 'resp b3',
      });
      testScheduler.flush();
      expect(calls[0].log).toEqual(['0:-', '1:a1,a2', '6:b1,b2', '11:b3', '16:end']);
    });
  });

  it('reopens after a transient failure, waits for the backlog, then re-sends only the unanswered images', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const { transport, calls } = fakeTransport(testScheduler);
      const source = cold('-a|', batches(['a1', 'a2']));
      testScheduler.schedule(() => calls[0].fail(retryable), 3);
      testScheduler.schedule(() => calls[1].respond(outputs(ok('a1'))), 6); // from the backlog
      testScheduler.schedule(() => calls[1].respond(outputs(ok('a2'))), 9);
      const result = source.pipe(classify<string>(transport, opts()), map(short));
      expectObservable(result).toBe('ox-R-ory-(s|)', {
        ...V,
        x: 'sent a1#1,a2#1',
        r: 'resp a1',
        y: 'sent a2#2',
        s: 'resp a2',
      });
      testScheduler.flush();
      expect(calls.map((c) => c.log)).toEqual([
        ['0:-', '1:a1,a2'],
        ['5:-', '7:a2', '9:end'],
      ]);
    });
  });

  it('in a shared deployment does not re-send after a reconnect: the unanswered image times out', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const { transport, calls } = fakeTransport(testScheduler, 'shared-dep');
      const source = cold('-a|', batches(['a1', 'a2']));
      testScheduler.schedule(() => calls[0].fail(retryable), 3);
      testScheduler.schedule(() => calls[1].respond(outputs(ok('a1'))), 6);
      const options = opts({ responseTimeoutMs: 10 });
      const result = source.pipe(classify<string>(transport, { ...options, deploymentId: undefined, shared: undefined }), map(short));
      expectObservable(result).toBe('ox-R-or----(t|)', { ...V, x: 'sent a1#1,a2#1', r: 'resp a1', t: 'RESPONSE_TIMEOUT a2' });
      testScheduler.flush();
      expect(calls.map((c) => c.log)).toEqual([
        ['0:-', '1:a1,a2'],
        ['5:-', '11:end'],
      ]);
    });
  });

  it('fails every unanswered image with TRANSPORT_FAILED on a fatal error, and later images at once', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const { transport, calls } = fakeTransport(testScheduler);
      const source = cold('-a-----b|', batches(['a1', 'a2'], ['b1']));
      testScheduler.schedule(() => calls[0].fail(fatal), 2);
      const result = source.pipe(classify<string>(transport, opts()), map(short));
      expectObservable(result).toBe('ox(Ff)-g|', { ...V, x: 'sent a1#1,a2#1', f: 'TRANSPORT_FAILED a1,a2', g: 'TRANSPORT_FAILED b1' });
      expectSubscriptions(source.subscriptions).toBe('^-------!');
      testScheduler.flush();
      expect(calls).toHaveLength(1);
    });
  });

  it('reopens a stream refused as UNAUTHENTICATED after it worked: its token expired (contract section 5)', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const { transport, calls } = fakeTransport(testScheduler);
      const expired = Object.assign(new Error('UNAUTHENTICATED: token expired'), { code: 'UNAUTHENTICATED', retryable: false });
      const source = cold('-a---b|', batches(['a1'], ['b1']));
      testScheduler.schedule(() => calls[0].respond(outputs(ok('a1'))), 2);
      testScheduler.schedule(() => calls[0].fail(expired), 3);
      testScheduler.schedule(() => calls[1].respond(outputs(ok('b1'))), 8);
      const result = source.pipe(classify<string>(transport, opts()), map(short));
      expectObservable(result).toBe('oxrR-o-y(s|)', { ...V, x: 'sent a1#1', r: 'resp a1', y: 'sent b1#1', s: 'resp b1' });
      testScheduler.flush();
      expect(calls).toHaveLength(2);
    });
  });

  it('does not reopen a stream refused as UNAUTHENTICATED before any answer (a bad credential)', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const { transport, calls } = fakeTransport(testScheduler);
      const refused = Object.assign(new Error('UNAUTHENTICATED: bad token'), { code: 'UNAUTHENTICATED', retryable: false });
      const source = cold('-a|', batches(['a1']));
      testScheduler.schedule(() => calls[0].fail(refused), 2);
      const result = source.pipe(classify<string>(transport, opts()), map(short));
      expectObservable(result).toBe('ox(Ff|)', { ...V, x: 'sent a1#1', f: 'TRANSPORT_FAILED a1' });
      testScheduler.flush();
      expect(calls).toHaveLength(1);
    });
  });

  it('gives up after reconnect.maxAttempts failures in a row', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const { transport, calls } = fakeTransport(testScheduler);
      const source = cold('-a|', batches(['a1']));
      testScheduler.schedule(() => calls[0].fail(retryable), 2);
      testScheduler.schedule(() => calls[1].fail(retryable), 5); // opened at 4
      testScheduler.schedule(() => calls[2].fail(retryable), 10); // opened at 9 (delay 4)
      const result = source.pipe(classify<string>(transport, opts()), map(short));
      expectObservable(result).toBe('oxR-oR---o(Ff|)', { ...V, x: 'sent a1#1', f: 'TRANSPORT_FAILED a1' });
    });
  });

  it('blames a global error on the oldest unanswered request, preferring one with an affiliate not yet seen answered', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const { transport, calls } = fakeTransport(testScheduler);
      const values = { a: [prepared('a1')], c: [prepared('c1')], b: [{ ...prepared('b1'), affiliate: 'bad' }] };
      const source = cold('-a-cb|', values);
      const error = { code: 'ERROR_CODE_AFFILIATE_NOT_PERMITTED' as const, message: 'no', details: '' };
      testScheduler.schedule(() => calls[0].respond(outputs(ok('a1'))), 2);
      testScheduler.schedule(() => calls[0].respond({ globalError: error, outputs: [] }), 6);
      testScheduler.schedule(() => calls[0].respond(outputs(ok('c1'))), 7);
      const result = source.pipe(classify<string>(transport, opts()), map(short));
      expectObservable(result).toBe('oxryz-g(s|)', {
        ...V,
        x: 'sent a1#1',
        r: 'resp a1',
        y: 'sent c1#1',
        z: 'sent b1#1',
        g: 'global b1',
        s: 'resp c1',
      });
    });
  });

  it('passes failures that ride along as rejected, and gives credits back to the window as images finish', () => {
    const window = inFlightWindow(3);
    const inUse: number[] = [];
    testScheduler.run(({ cold, expectObservable }) => {
      for (let i = 0; i < 3; i++) window.acquire().subscribe();
      const { transport, calls } = fakeTransport(testScheduler);
      const pre = failure('p', 'DECODE_FAILED', 0, { attempts: 0, stage: 'preprocess' });
      const items = [prepared('a1'), pre, prepared('a2')];
      // As preprocess({ window }) does: each item's correlation id holds the credit taken for it.
      items.forEach((item) => window.hold(item.correlationId));
      const source = cold<ClassifyItem<string>[]>('-a|', { a: items });
      testScheduler.schedule(() => inUse.push(window.inUse), 3);
      testScheduler.schedule(() => calls[0].respond(outputs(ok('a1'))), 6);
      testScheduler.schedule(() => inUse.push(window.inUse), 7);
      testScheduler.schedule(() => calls[0].respond(outputs(ok('a2'))), 8);
      const result = source.pipe(classify<string>(transport, opts({ window })), map(short));
      expectObservable(result).toBe('o(px)-r-(s|)', { ...V, p: 'rejected p', x: 'sent a1#1,a2#1', r: 'resp a1', s: 'resp a2' });
    });
    expect(inUse).toEqual([2, 1]);
    expect(window.inUse).toBe(0);
  });

  it('gives back only the credits its items carry: items made without the window leave it untouched', () => {
    const window = inFlightWindow(2);
    testScheduler.run(({ cold, expectObservable }) => {
      window.acquire().subscribe();
      const { transport, calls } = fakeTransport(testScheduler);
      const mine = prepared('a1');
      window.hold(mine.correlationId);
      // A failure and an image that did not come through preprocess({ window }): no credit each.
      const stray = [failure('p', 'DECODE_FAILED', 0, { attempts: 0, stage: 'preprocess' }), prepared('a2')];
      const source = cold<ClassifyItem<string>[]>('-a|', { a: [mine, ...stray] });
      testScheduler.schedule(() => calls[0].respond(outputs(ok('a1'), ok('a2'))), 7);
      const result = source.pipe(classify<string>(transport, opts({ window })), map(short));
      expectObservable(result).toBe('o(px)--(r|)', { ...V, p: 'rejected p', x: 'sent a1#1,a2#1', r: 'resp a1,a2' });
    });
    expect(window.inUse).toBe(0);
  });

  it('gives back, after dropGraceMs, credits stuck on images that never reached it, and says so once', () => {
    const window = inFlightWindow(2);
    const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const granted: number[] = [];
    try {
      testScheduler.run(({ cold, expectObservable }) => {
        const { transport } = fakeTransport(testScheduler);
        // Two images took their credits in preprocess and were dropped on the way (a filter).
        for (const id of ['d1', 'd2']) {
          window.acquire().subscribe();
          window.hold(id);
        }
        testScheduler.schedule(() => window.acquire().subscribe(() => granted.push(testScheduler.now())), 3);
        const source = cold<ClassifyItem<string>[]>('-');
        const result = source.pipe(classify<string>(transport, opts({ window, dropGraceMs: 1000 })), map(short));
        // Blocked at 3: every credit held by an id that never arrived; still so 1 s later.
        expectObservable(result, '^ 1100ms !').toBe('o 1002ms x', { ...V, x: 'dropped d1,d2' });
      });
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn.mock.calls[0]?.[1]).toEqual({ code: 'ATHENA_RX_IMAGES_DROPPED' });
    } finally {
      warn.mockRestore();
    }
    expect(granted).toEqual([1003]);
    expect(window.inUse).toBe(1); // the credit the waiting acquire got
  });

  it('gives back at once, when its source completes, credits of images that never reached it', () => {
    const window = inFlightWindow(2);
    const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      testScheduler.run(({ cold, expectObservable }) => {
        const { transport, calls } = fakeTransport(testScheduler);
        for (const id of ['a1', 'd1']) {
          window.acquire().subscribe();
          window.hold(id);
        }
        const source = cold<ClassifyItem<string>[]>('-a|', { a: [prepared('a1')] });
        testScheduler.schedule(() => calls[0].respond(outputs(ok('a1'))), 4);
        const result = source.pipe(classify<string>(transport, opts({ window })), map(short));
        expectObservable(result).toBe('oxd-(r|)', { ...V, x: 'sent a1#1', d: 'dropped d1', r: 'resp a1' });
      });
    } finally {
      warn.mockRestore();
    }
    expect(window.inUse).toBe(0);
  });

  it('rejects a correlation id used twice in the pipeline', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const { transport, calls } = fakeTransport(testScheduler);
      const source = cold('-ab|', batches(['a1'], ['a1']));
      testScheduler.schedule(() => calls[0].respond(outputs(ok('a1'))), 4);
      expectObservable(source.pipe(classify<string>(transport, opts()), map(short))).toBe('oxp-(r|)', {
        ...V,
        x: 'sent a1#1',
        p: 'rejected a1',
        r: 'resp a1',
      });
    });
  });

  it('re-sends a failed image through its retry capability and stays open while a retry is reserved', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const { transport, calls } = fakeTransport(testScheduler);
      const source = cold('-a|', batches(['a1']));
      testScheduler.schedule(() => calls[0].respond(outputs(modelError('a1'))), 3);
      testScheduler.schedule(() => calls[0].respond(outputs(ok('a1'))), 7);
      const events = source.pipe(classify<string>(transport, opts()));
      let capability: import('../../../src/operators/results').RetryCapability | undefined;
      const result = new Observable<ClassifyEvent<string>>((subscriber) =>
        events.subscribe({
          next: (e) => {
            if (e.kind === 'sent') capability = e.images[0].retry;
            subscriber.next(e);
            if (e.kind === 'response' && e.response.outputs[0].error) {
              const ticket = capability!.reserve();
              expect(capability!.reserve()).toBeUndefined(); // once only
              testScheduler.schedule(() => ticket!.send(), 2);
            }
          },
          error: (err) => subscriber.error(err),
          complete: () => subscriber.complete(),
        }),
      ).pipe(map(short));
      expectObservable(result).toBe('ox-r-y-(s|)', { ...V, x: 'sent a1#1', r: 'resp a1', y: 'sent a1#2', s: 'resp a1' });
      testScheduler.flush();
      expect(calls[0].log).toEqual(['0:-', '1:a1', '5:a1', '7:end']);
    });
  });

  /** classify, correlate and one MODEL_ERROR retry after `delay`, as short result strings. */
  const resultsRetrying = (transport: ClassifyTransport, delay: number) => (source: Observable<ClassifyItem<string>[]>) => {
    const context = pipelineContext();
    return source.pipe(
      classify<string>(transport, opts({ context })),
      correlate<string>(),
      retryByErrorCode<string>({
        rules: { ERROR_CODE_MODEL_ERROR: { retries: 1, initialDelayMs: delay, jitter: 'none' } },
        scheduler: testScheduler,
        context,
      }),
      map(shortResult),
    );
  };

  it('an image whose retry is due after the stream failed for good still gets its one result (with correlate and retryByErrorCode)', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const { transport, calls } = fakeTransport(testScheduler);
      const source = cold('-a|', batches(['a1']));
      testScheduler.schedule(() => calls[0].respond(outputs(modelError('a1'))), 3);
      testScheduler.schedule(() => calls[0].fail(fatal), 5); // before the retry at 3 + 4
      const result = source.pipe(resultsRetrying(transport, 4));
      expectObservable(result).toBe('-------(f|)', { f: 'a1 TRANSPORT_FAILED #1' });
    });
  });

  it('an image re-sent through its retry capability while the stream reconnects, then failed for good, still gets its one result', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const { transport, calls } = fakeTransport(testScheduler);
      const source = cold('-a|', batches(['a1']));
      testScheduler.schedule(() => calls[0].respond(outputs(modelError('a1'))), 3);
      testScheduler.schedule(() => calls[0].fail(retryable), 4); // reopens at 6 (delay 2)
      testScheduler.schedule(() => calls[1].fail(fatal), 7); // the retry at 5 waits for the reopen, which fails
      const result = source.pipe(resultsRetrying(transport, 2));
      expectObservable(result).toBe('-------(f|)', { f: 'a1 TRANSPORT_FAILED #1' });
    });
  });

  it('a correlation id used again after its first answer, failed before it could be sent, still gets its result', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const { transport, calls } = fakeTransport(testScheduler);
      const source = cold('-a---b|', batches(['a1'], ['a1']));
      testScheduler.schedule(() => calls[0].respond(outputs(ok('a1'))), 2);
      testScheduler.schedule(() => calls[0].fail(fatal), 3);
      const result = source.pipe(classify<string>(transport, opts()), correlate<string>(), map(shortResult));
      expectObservable(result).toBe('--s--f|', { s: 'a1 success', f: 'a1 TRANSPORT_FAILED #0' });
    });
  });

  it('joins and half-closes at once on an empty source', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const { transport, calls } = fakeTransport(testScheduler);
      const source = cold<ClassifyItem<string>[]>('|');
      expectObservable(source.pipe(classify<string>(transport, opts()), map(short))).toBe('(o|)', V);
      expectSubscriptions(source.subscriptions).toBe('(^!)');
      testScheduler.flush();
      expect(calls[0].log).toEqual(['0:-', '0:end']);
    });
  });

  it('stays open on a never-ending source and cancels the call when unsubscribed', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const { transport, calls } = fakeTransport(testScheduler);
      const source = cold<ClassifyItem<string>[]>('-');
      expectObservable(source.pipe(classify<string>(transport, opts()), map(short)), '-----!').toBe('o----', V);
      expectSubscriptions(source.subscriptions).toBe('^----!');
      testScheduler.flush();
      expect(calls[0].cancelledAt).toBe(5);
    });
  });

  it('passes a source error at once and mid-stream, cancelling the call', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const { transport, calls } = fakeTransport(testScheduler);
      const first = cold<ClassifyItem<string>[]>('#');
      expectObservable(first.pipe(classify<string>(transport, opts()), map(short))).toBe('(o#)', V);
      expectSubscriptions(first.subscriptions).toBe('(^!)');
      const second = cold('-a-#', batches(['a1']));
      expectObservable(second.pipe(classify<string>(transport, opts()), map(short))).toBe('ox-#', { ...V, x: 'sent a1#1' });
      expectSubscriptions(second.subscriptions).toBe('^--!');
      testScheduler.flush();
      expect(calls.map((c) => c.cancelledAt)).toEqual([0, 3]);
    });
  });

  it('releases source, call, timers and credits when unsubscribed early, with operators around it', () => {
    const window = inFlightWindow(2);
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const { transport, calls } = fakeTransport(testScheduler);
      window.acquire().subscribe();
      window.acquire().subscribe();
      const items = batches(['a1', 'a2']);
      items.a.forEach((item) => window.hold(item.correlationId));
      const source = hot('-a---', items);
      const result = source.pipe(
        mergeMap((x) => of(x)),
        classify<string>(transport, opts({ window })),
        mergeMap((x) => of(x)),
        map(short),
      );
      expectObservable(result, '---!').toBe('ox-', { ...V, x: 'sent a1#1,a2#1' });
      expectSubscriptions(source.subscriptions).toBe('^--!');
      testScheduler.flush();
      expect(calls[0].cancelledAt).toBe(3);
    });
    expect(window.inUse).toBe(0);
  });

  it('announces images before writing them, so an answer during the write is matched (re-entrancy)', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const transport: ClassifyTransport = {
        classify: (requests$) =>
          new Observable<ClassifyResponse>((subscriber) =>
            requests$.subscribe({
              next: (r) => {
                if (r.inputs.length > 0) subscriber.next(outputs(...r.inputs.map((i) => ok(i.correlationId))));
              },
              complete: () => subscriber.complete(),
            }),
          ),
      };
      const source = cold('-a---|', batches(['a1']));
      expectObservable(source.pipe(classify<string>(transport, opts()), map(short))).toBe('o(xr)|', { ...V, x: 'sent a1#1', r: 'resp a1' });
    });
  });

  it('refuses an invalid deployment id as an error notification with a code', () => {
    let error: unknown;
    testScheduler.run(({ cold, expectObservable }) => {
      const { transport } = fakeTransport(testScheduler);
      const source = cold('-a|', batches(['a1']));
      const result = source.pipe(
        classify<string>(transport, opts({ deploymentId: 'x'.repeat(65) })),
        tap({ error: (e: unknown) => (error = e) }),
      );
      expectObservable(result).toBe(
        '#',
        undefined,
        new RangeError(`classify: deployment id must be 1-64 characters, got '${'x'.repeat(65)}'`),
      );
    });
    expect(error).toBeInstanceOf(RangeError);
    expect(error).toMatchObject({ name: 'InvalidOptionError', code: 'INVALID_OPTION' });
  });

  it('refuses a value that is not a batch (bufferBatch forgotten) as an error notification with a code, instead of hanging', () => {
    let error: unknown;
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const { transport, calls } = fakeTransport(testScheduler);
      const source = cold('-a|', { a: prepared('a1') as unknown as ClassifyItem<string>[] });
      const result = source.pipe(classify<string>(transport, opts()), tap({ error: (e: unknown) => (error = e) }), map(short));
      expectObservable(result).toBe(
        'o#',
        V,
        new RangeError('classify: expects batches (arrays) of prepared images and failures, as bufferBatch() emits; got Object'),
      );
      expectSubscriptions(source.subscriptions).toBe('^!');
      testScheduler.flush();
      expect(calls[0].cancelledAt).toBe(1);
    });
    expect(error).toMatchObject({ name: 'InvalidOptionError', code: 'INVALID_OPTION' });
  });

  it('refuses a batch item that is neither a prepared image nor a failure as an error notification with a code', () => {
    let error: unknown;
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const { transport, calls } = fakeTransport(testScheduler);
      const source = cold<ClassifyItem<string>[]>('-a|', { a: [{ kind: 'bogus' } as unknown as ClassifyItem<string>] });
      const result = source.pipe(classify<string>(transport, opts()), tap({ error: (e: unknown) => (error = e) }), map(short));
      expectObservable(result).toBe('o#', V, new RangeError('classify: a batch item must be a prepared image or a failure, got "bogus"'));
      expectSubscriptions(source.subscriptions).toBe('^!');
      testScheduler.flush();
      expect(calls[0].cancelledAt).toBe(1);
    });
    expect(error).toMatchObject({ name: 'InvalidOptionError', code: 'INVALID_OPTION' });
  });

  it('ends with an error notification when the reconnect jitter (random) throws, never an uncaught exception', () => {
    const boom = new Error('random broke');
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const { transport, calls } = fakeTransport(testScheduler);
      const source = cold('-a---', batches(['a1']));
      testScheduler.schedule(() => calls[0].fail(retryable), 2);
      const random = () => {
        throw boom;
      };
      const result = source.pipe(classify<string>(transport, opts({ random })), map(short));
      expectObservable(result).toBe('ox#', { ...V, x: 'sent a1#1' }, boom);
      expectSubscriptions(source.subscriptions).toBe('^-!');
    });
  });

  it('ends with an error notification when the caller’s transport throws as the call is opened', () => {
    const boom = new Error('no call for you');
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const transport: ClassifyTransport = {
        classify: () => {
          throw boom;
        },
      };
      const source = cold('-a|', batches(['a1']));
      expectObservable(source.pipe(classify<string>(transport, opts()), map(short))).toBe('(o#)', V, boom);
      expectSubscriptions(source.subscriptions).toBe([]);
    });
  });

  it('keeps a failure its retry stage will retry, with its credit, until that stage decides however late (here 3 frames later)', () => {
    const window = inFlightWindow(2);
    const inUse: number[] = [];
    testScheduler.run(({ cold, expectObservable }) => {
      const { transport, calls } = fakeTransport(testScheduler);
      window.acquire().subscribe();
      window.hold('a1');
      const source = cold('-a|', batches(['a1']));
      testScheduler.schedule(() => calls[0].respond(outputs(modelError('a1'))), 3);
      testScheduler.schedule(() => inUse.push(window.inUse), 5); // held: the credit is still out
      testScheduler.schedule(() => calls[0].respond(outputs(ok('a1'))), 10);
      const context = pipelineContext();
      const result = source.pipe(
        classify<string>(transport, opts({ window, context })),
        correlate<string>(),
        delay(3),
        retryByErrorCode<string>({
          rules: { ERROR_CODE_MODEL_ERROR: { retries: 1, initialDelayMs: 2, jitter: 'none' } },
          scheduler: testScheduler,
          context,
        }),
        map(shortResult),
      );
      expectObservable(result).toBe('-------------(s|)', { s: 'a1 success' });
      testScheduler.flush();
      expect(calls[0].log).toEqual(['0:-', '1:a1', '8:a1', '10:end']);
    });
    expect(inUse).toEqual([1]);
    expect(window.inUse).toBe(0);
  });

  it('lets a held failure go as final when the transport died before the retry stage (behind observeOn) decided', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const { transport, calls } = fakeTransport(testScheduler);
      const source = cold('-a|', batches(['a1']));
      testScheduler.schedule(() => calls[0].respond(outputs(modelError('a1'))), 2); // held for the retry stage
      testScheduler.schedule(() => calls[0].fail(fatal), 3); // nothing unanswered: the held image waits
      const { classify: linked, retry } = classifyStages<string>(transport, {
        ...opts(),
        retry: { rules: { ERROR_CODE_MODEL_ERROR: { retries: 1, initialDelayMs: 2, jitter: 'none' } } },
      });
      const result = source.pipe(linked, correlate<string>(), observeOn(testScheduler, 3), retry, map(shortResult));
      // The failure reaches the retry stage at 5: no retry can be sent, so it is final, and the
      // session (already dead) completes once it is let go (its completion is 3 frames behind).
      expectObservable(result).toBe('-----f--|', { f: 'a1 ERROR_CODE_MODEL_ERROR #1' });
      testScheduler.flush();
      expect(calls).toHaveLength(1);
    });
  });

  it('refuses at subscription a context that is not the one of the retry stage downstream, saying what to change', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const { transport, calls } = fakeTransport(testScheduler);
      const source = cold('-a|', batches(['a1']));
      const result = source.pipe(
        classify<string>(transport, opts({ context: pipelineContext() })),
        correlate<string>(),
        retryByErrorCode<string>({ context: pipelineContext(), scheduler: testScheduler }),
      );
      expectObservable(result).toBe(
        '#',
        undefined,
        new RangeError(
          'classify: its pipeline context has no retryByErrorCode subscribed, so failed images could not be retried; give the retryByErrorCode downstream the same context (classifyStages(client) makes the pair), or leave the context out for no retries',
        ),
      );
      expectSubscriptions(source.subscriptions).toBe([]);
      testScheduler.flush();
      expect(calls).toHaveLength(0);
    });
  });

  it('asks a reconnect policy of its own at each break (attempt, since, now) and gives up when it says so', () => {
    const breaks: string[] = [];
    testScheduler.run(({ cold, expectObservable }) => {
      const { transport, calls } = fakeTransport(testScheduler);
      const source = cold('-a|', batches(['a1']));
      testScheduler.schedule(() => calls[0].fail(retryable), 2);
      testScheduler.schedule(() => calls[1].fail(retryable), 5); // opened at 4
      testScheduler.schedule(() => calls[2].fail(retryable), 8); // opened at 7
      // A time budget: reopen after 2 frames while the outage is shorter than 6 frames.
      const budget = {
        delay: ({ attempt, since, now }: StreamBreak) => (breaks.push(`${attempt}:${since}:${now}`), now - since < 6 ? 2 : undefined),
      };
      const result = source.pipe(classify<string>(transport, opts({ reconnect: budget })), map(short));
      expectObservable(result).toBe('oxR-oR-o(Ff|)', { ...V, x: 'sent a1#1', f: 'TRANSPORT_FAILED a1' });
    });
    expect(breaks).toEqual(['1:2:2', '2:2:5', '3:2:8']);
  });
});
