import { mergeMap, of } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import type { ClassifyEvent } from '../../src/operators/classify';
import { correlate, createCorrelateStats } from '../../src/operators/correlate';
import { failure, modelError, noRetry, ok, sent, success } from './fixtures';

type E = ClassifyEvent<string>;

describe('correlate', () => {
  let testScheduler: TestScheduler;
  beforeEach(() => {
    testScheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
  });

  it('makes one result per sent image, foreign events for ids it never sent, and drops duplicates', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const events: Record<string, E> = {
        s: { kind: 'sent', at: 1, images: [sent('a', 1, 1), sent('b', 1, 1)] },
        r: { kind: 'response', at: 4, response: { globalError: null, outputs: [ok('a'), modelError('b')] } },
        d: { kind: 'response', at: 6, response: { globalError: null, outputs: [ok('a'), ok('x')] } },
        e: { kind: 'response', at: 8, response: { globalError: null, outputs: [ok('x')] } },
      };
      const source = hot('-s--r---d-e-|', events);
      const subs = '      ^-----------!';
      const expected = '  ----(ab)d---|';
      const stats = createCorrelateStats();
      expectObservable(source.pipe(correlate({ stats }))).toBe(expected, {
        a: success('a', 4, 1, 1),
        b: failure('b', 'ERROR_CODE_MODEL_ERROR', 3),
        d: { kind: 'foreign', correlationId: 'x', output: ok('x') },
      });
      expectSubscriptions(source.subscriptions).toBe(subs);
      testScheduler.flush();
      expect(stats).toEqual({ results: 2, foreign: 1, duplicates: 2, unattributed: 0 });
    });
  });

  it('remembers at most rememberAnswered answered ids, forgetting the oldest (bounded memory)', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const events: Record<string, E> = {
        s: { kind: 'sent', at: 1, images: [sent('a', 1, 1), sent('b', 1, 1)] },
        r: { kind: 'response', at: 2, response: { globalError: null, outputs: [ok('a'), ok('b')] } },
        // b is still remembered (a duplicate, dropped); a was forgotten, so it comes out as foreign.
        d: { kind: 'response', at: 3, response: { globalError: null, outputs: [ok('b'), ok('a')] } },
      };
      const source = hot('-s-r---d-|', events);
      const stats = createCorrelateStats();
      expectObservable(source.pipe(correlate({ stats, rememberAnswered: 1 }))).toBe('---(ab)c-|', {
        a: success('a', 2, 1, 1),
        b: success('b', 2, 1, 1),
        c: { kind: 'foreign', correlationId: 'a', output: ok('a') },
      });
      testScheduler.flush();
      expect(stats).toEqual({ results: 2, foreign: 1, duplicates: 1, unattributed: 0 });
    });
  });

  it('turns a global error into a failure for every image of the request it was attributed to', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const error = { code: 'ERROR_CODE_AFFILIATE_NOT_PERMITTED' as const, message: 'no', details: '' };
      const events: Record<string, E> = {
        s: { kind: 'sent', at: 0, images: [sent('a'), sent('b')] },
        g: { kind: 'response', at: 2, response: { globalError: error, outputs: [] }, request: [sent('a'), sent('b')] },
        u: { kind: 'response', at: 3, response: { globalError: error, outputs: [] } },
      };
      const source = hot('s-g-u---|', events);
      const expected = '  --(ab)--|';
      const f = (id: string) => failure(id, 'ERROR_CODE_AFFILIATE_NOT_PERMITTED', 2, { message: 'no', retryable: false });
      const stats = createCorrelateStats();
      expectObservable(source.pipe(correlate({ stats }))).toBe(expected, { a: f('a'), b: f('b') });
      testScheduler.flush();
      expect(stats.unattributed).toBe(1);
    });
  });

  it('passes rejected results through and makes failures of failed images, sent or not', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const pre = failure('p', 'DECODE_FAILED', 0, { attempts: 0, stage: 'preprocess', retryable: false, timings: { prepareMs: 0 } });
      const fail = { code: 'RESPONSE_TIMEOUT' as const, message: 'late', details: '', retryable: true };
      const never = { image: sent('n').image, attempt: 0, retry: noRetry };
      const events: Record<string, E> = {
        s: { kind: 'sent', at: 0, images: [sent('a')] },
        p: { kind: 'rejected', at: 1, result: pre },
        f: { kind: 'failed', at: 5, images: [sent('a'), never], failure: fail },
        c: { kind: 'connection', at: 6, state: 'open', attempt: 0 },
      };
      const source = hot('sp---f-c--|', events);
      const expected = '  -p---(an)-|';
      expectObservable(source.pipe(correlate())).toBe(expected, {
        p: pre,
        a: failure('a', 'RESPONSE_TIMEOUT', 5, { message: 'late', stage: 'transport' }),
        n: failure('n', 'RESPONSE_TIMEOUT', 0, { message: 'late', stage: 'transport', attempts: 0, timings: { prepareMs: 1 } }),
      });
    });
  });

  it('expects an image again after it is re-sent (a retry), with its new attempt count', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const events: Record<string, E> = {
        s: { kind: 'sent', at: 0, images: [sent('a')] },
        r: { kind: 'response', at: 1, response: { globalError: null, outputs: [modelError('a')] } },
        t: { kind: 'sent', at: 3, images: [sent('a', 2, 0)] },
        u: { kind: 'response', at: 4, response: { globalError: null, outputs: [ok('a')] } },
      };
      const source = hot('sr-tu|', events);
      const stats = createCorrelateStats();
      const counted: number[] = [];
      for (const at of [2, 4, 6]) testScheduler.schedule(() => counted.push(stats.results), at);
      expectObservable(source.pipe(correlate({ stats }))).toBe('-a--b|', {
        a: failure('a', 'ERROR_CODE_MODEL_ERROR', 1),
        b: success('a', 4, 2, 0),
      });
      testScheduler.flush();
      // One image, one final result: the failure stops counting when the image is sent again.
      expect(counted).toEqual([1, 0, 1]);
    });
  });

  it('makes failures plain data: nothing hidden on them, so a copy is as good as the original for the retry stage', () => {
    const capability = { reserve: () => undefined };
    const results: unknown[] = [];
    of<E[]>(
      { kind: 'sent', at: 0, images: [sent('a', 1, 0, capability)] },
      { kind: 'response', at: 1, response: { globalError: null, outputs: [modelError('a')] } },
    )
      .pipe(correlate())
      .subscribe((r) => results.push(r));
    expect(Object.getOwnPropertySymbols(results[0])).toEqual([]);
    expect(Object.getOwnPropertyNames(results[0]).sort()).toEqual(Object.keys(results[0] as object).sort());
  });

  it('completes on an empty source', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold<E>('|');
      expectObservable(source.pipe(correlate())).toBe('|');
      expectSubscriptions(source.subscriptions).toBe('(^!)');
    });
  });

  it('emits nothing on a never-ending source', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold<E>('-');
      expectObservable(source.pipe(correlate()), '---!').toBe('-');
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
  });

  it('passes an error at once and mid-stream', () => {
    testScheduler.run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const first = cold<E>('#');
      expectObservable(first.pipe(correlate())).toBe('#');
      expectSubscriptions(first.subscriptions).toBe('(^!)');
      const events: Record<string, E> = {
        s: { kind: 'sent', at: 1, images: [sent('a', 1, 1)] },
        r: { kind: 'response', at: 2, response: { globalError: null, outputs: [ok('a')] } },
      };
      const second = hot('-sr-#', events);
      expectObservable(second.pipe(correlate())).toBe('--a-#', { a: success('a', 2, 1, 1) });
      expectSubscriptions(second.subscriptions).toBe('^---!');
    });
  });

  it('releases the source when unsubscribed early, with operators around it', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const events: Record<string, E> = {
        s: { kind: 'sent', at: 1, images: [sent('a', 1, 1), sent('b', 1, 1)] },
        r: { kind: 'response', at: 2, response: { globalError: null, outputs: [ok('a')] } },
        t: { kind: 'response', at: 5, response: { globalError: null, outputs: [ok('b')] } },
      };
      const source = hot('-sr--t-', events);
      const result = source.pipe(
        mergeMap((x) => of(x)),
        correlate(),
        mergeMap((x) => of(x)),
      );
      expectObservable(result, '----!').toBe('--a--', { a: success('a', 2, 1, 1) });
      expectSubscriptions(source.subscriptions).toBe('^---!');
    });
  });
});
