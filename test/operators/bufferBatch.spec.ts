import { mergeMap, of, Subject } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { bufferBatch, defaultSizeOf } from '../../src/operators/bufferBatch';

describe('bufferBatch', () => {
  let testScheduler: TestScheduler;
  beforeEach(() => {
    testScheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
  });

  it('emits a batch when it holds maxCount items', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b-c-d-e-f-|');
      const subs = '      ^------------!';
      const expected = '  -----x-----y-|';
      const result = source.pipe(bufferBatch({ maxCount: 3, maxWaitMs: 100, scheduler: testScheduler }));
      expectObservable(result).toBe(expected, { x: ['a', 'b', 'c'], y: ['d', 'e', 'f'] });
      expectSubscriptions(source.subscriptions).toBe(subs);
    });
  });

  it('emits before the item that would pass maxBytes, and an oversized item alone', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-d-e-|', { a: 4, b: 4, c: 4, d: 20, e: 1 });
      const expected = '  -----x-(yz)(w|)';
      const result = source.pipe(
        bufferBatch<number>({ maxCount: 10, maxBytes: 10, maxWaitMs: 100, sizeOf: (n) => n, scheduler: testScheduler }),
      );
      expectObservable(result).toBe(expected, { x: [4, 4], y: [4], z: [20], w: [1] });
    });
  });

  it('emits a batch exactly at maxBytes', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const source = hot('-a-b-|', { a: 5, b: 5 });
      const result = source.pipe(bufferBatch<number>({ maxBytes: 10, maxWaitMs: 100, sizeOf: (n) => n, scheduler: testScheduler }));
      expectObservable(result).toBe('---x-|', { x: [5, 5] });
    });
  });

  it('emits maxWait after the first item of a batch', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const source = hot('-a-b--------c------|');
      const expected = '  ------x----------y-|';
      const result = source.pipe(bufferBatch({ maxCount: 10, maxWaitMs: 5, scheduler: testScheduler }));
      expectObservable(result).toBe(expected, { x: ['a', 'b'], y: ['c'] });
    });
  });

  it('restarts the timer for the batch after one closed by count', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const source = hot('-a-b---c---------|');
      const expected = '  ---x-------y-----|';
      const result = source.pipe(bufferBatch({ maxCount: 2, maxWaitMs: 4, scheduler: testScheduler }));
      expectObservable(result).toBe(expected, { x: ['a', 'b'], y: ['c'] });
    });
  });

  it('emits the remainder on completion, never an empty batch', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-|');
      const expected = '  ---x---(y|)';
      const result = source.pipe(bufferBatch({ maxCount: 2, maxWaitMs: 100, scheduler: testScheduler }));
      expectObservable(result).toBe(expected, { x: ['a', 'b'], y: ['c'] });
    });
  });

  it('completes without a batch on an empty source', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('|');
      expectObservable(source.pipe(bufferBatch({ scheduler: testScheduler }))).toBe('|');
      expectSubscriptions(source.subscriptions).toBe('(^!)');
    });
  });

  it('emits nothing on a never-ending silent source', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-');
      const unsub = '      -----!';
      expectObservable(source.pipe(bufferBatch({ scheduler: testScheduler })), unsub).toBe('-');
      expectSubscriptions(source.subscriptions).toBe('^----!');
    });
  });

  it('passes an error at once', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('#');
      expectObservable(source.pipe(bufferBatch({ scheduler: testScheduler }))).toBe('#');
      expectSubscriptions(source.subscriptions).toBe('(^!)');
    });
  });

  it('passes an error mid-stream, dropping the partial batch and its timer', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b-c-#');
      const subs = '      ^------!';
      const expected = '  ---x---#';
      const result = source.pipe(bufferBatch({ maxCount: 2, maxWaitMs: 3, scheduler: testScheduler }));
      expectObservable(result).toBe(expected, { x: ['a', 'b'] });
      expectSubscriptions(source.subscriptions).toBe(subs);
    });
  });

  it('turns a throwing sizeOf into an error notification and releases the source (no hang)', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b-c-');
      const subs = '      ^--!';
      const expected = '  ---#';
      const sizeOf = (item: string): number => {
        if (item === 'b') throw new Error('cannot size b');
        return 1;
      };
      const result = source.pipe(bufferBatch({ maxCount: 5, maxWaitMs: 10, sizeOf, scheduler: testScheduler }));
      expectObservable(result).toBe(expected, undefined, new Error('cannot size b'));
      expectSubscriptions(source.subscriptions).toBe(subs);
    });
  });

  it('releases the source and the timer when unsubscribed early', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b-c-d-');
      const subs = '      ^----!   ';
      const unsub = '     -----!   ';
      const result = source.pipe(bufferBatch({ maxCount: 10, maxWaitMs: 6, scheduler: testScheduler }));
      expectObservable(result, unsub).toBe('------');
      expectSubscriptions(source.subscriptions).toBe(subs);
    });
  });

  it('keeps the unsubscription chain with operators around it', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b-c-d-e-');
      const subs = '      ^------!   ';
      const unsub = '     -------!   ';
      const result = source.pipe(
        mergeMap((x) => of(x)),
        bufferBatch({ maxCount: 2, maxWaitMs: 100, scheduler: testScheduler }),
        mergeMap((x) => of(x)),
      );
      expectObservable(result, unsub).toBe('---x---', { x: ['a', 'b'] });
      expectSubscriptions(source.subscriptions).toBe(subs);
    });
  });

  it('keeps order when the source emits again while a batch is handled (re-entrancy)', () => {
    const source = new Subject<number>();
    const seen: number[][] = [];
    source.pipe(bufferBatch<number>({ maxCount: 2, maxBytes: 10, sizeOf: (n) => n, maxWaitMs: 1000 })).subscribe((batch) => {
      seen.push(batch);
      if (batch[0] === 5) source.next(3);
    });
    source.next(5);
    source.next(6); // closes [5] by bytes and starts [6]; 3 is pushed while [5] is handled
    source.complete();
    expect(seen).toEqual([[5], [6, 3]]);
  });

  it('sizes prepared images by their data and anything else as 0', () => {
    expect(defaultSizeOf({ kind: 'prepared', data: Buffer.alloc(7) })).toBe(7);
    expect(defaultSizeOf({ kind: 'failure', code: 'DECODE_FAILED' })).toBe(0);
    expect(defaultSizeOf(42)).toBe(0);
  });

  it('still reads the deprecated maxWait (renamed maxWaitMs) for one minor version', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const source = hot('-a---|');
      expectObservable(source.pipe(bufferBatch({ maxWait: 2, scheduler: testScheduler }))).toBe('---x-|', { x: ['a'] });
    });
  });
});
