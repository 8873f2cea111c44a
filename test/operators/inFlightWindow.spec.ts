import { concatMap, map, mergeMap, of, tap } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { inFlightWindow } from '../../src/operators/inFlightWindow';

describe('inFlightWindow', () => {
  let testScheduler: TestScheduler;
  beforeEach(() => {
    testScheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
  });

  it('grants at once while credits are free, then in order as they come back', () => {
    testScheduler.run(({ cold, hot, expectObservable }) => {
      const window = inFlightWindow(2);
      const wants = cold('  a-b-c-d|      ');
      const releases = hot('-------r-r----');
      const expected = '    a-b----c-(d|)';
      releases.subscribe(() => window.release());
      expectObservable(wants.pipe(mergeMap((x) => window.acquire().pipe(map(() => x))))).toBe(expected);
    });
  });

  it('counts credits in use, the high-water mark and the waiters', () => {
    const window = inFlightWindow(2);
    const granted: string[] = [];
    for (const x of ['a', 'b', 'c']) window.acquire().subscribe(() => granted.push(x));
    expect(granted).toEqual(['a', 'b']);
    expect([window.inUse, window.waiting, window.highWater]).toEqual([2, 1, 2]);
    window.release(2);
    expect(granted).toEqual(['a', 'b', 'c']);
    expect([window.inUse, window.waiting, window.highWater]).toEqual([1, 0, 2]);
  });

  it('withdraws a waiting request when it is unsubscribed before the grant', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const window = inFlightWindow(1);
      window.acquire().subscribe();
      const trigger = hot('-x-----');
      const unsub = '      ---!   ';
      const result = trigger.pipe(mergeMap(() => window.acquire()));
      expectObservable(result, unsub).toBe('-------');
      expectSubscriptions(trigger.subscriptions).toBe('^--!');
    });
    const window = inFlightWindow(1);
    window.acquire().subscribe();
    const sub = window.acquire().subscribe();
    expect(window.waiting).toBe(1);
    sub.unsubscribe();
    expect(window.waiting).toBe(0);
    window.release();
    expect(window.inUse).toBe(0);
  });

  it('keeps the unsubscription chain with operators around it', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const window = inFlightWindow(1);
      const source = hot('-a-b-c-');
      const subs = '      ^----! ';
      const unsub = '     -----! ';
      const result = source.pipe(
        mergeMap((x) => of(x)),
        concatMap((x) => window.acquire().pipe(map(() => x))),
        mergeMap((x) => of(x)),
      );
      expectObservable(result, unsub).toBe('-a----');
      expectSubscriptions(source.subscriptions).toBe(subs);
    });
  });

  it('handles re-entrant release and acquire inside a grant', () => {
    const window = inFlightWindow(1);
    const order: string[] = [];
    window.acquire().subscribe(() => order.push('a'));
    window
      .acquire()
      .pipe(
        tap(() => {
          order.push('b');
          window.release(); // gives b's credit back while granting it
          window.acquire().subscribe(() => order.push('d'));
        }),
      )
      .subscribe();
    window.acquire().subscribe(() => order.push('c'));
    window.release();
    expect(order).toEqual(['a', 'b', 'c']);
    window.release();
    expect(order).toEqual(['a', 'b', 'c', 'd']);
    expect(window.inUse).toBe(1);
    expect(window.highWater).toBe(1);
  });

  it('tells which held credits reached their stage (claim) and which are still on their way, and when an acquire waits', () => {
    const window = inFlightWindow(3);
    let waits = 0;
    window.waits.subscribe(() => (waits += 1));
    for (let i = 0; i < 3; i++) window.acquire().subscribe();
    window.hold('a');
    window.hold('b');
    window.hold('b'); // one id, two images
    expect(window.unclaimed()).toEqual(['a', 'b', 'b']);
    window.claim('b');
    window.claim('x'); // holds nothing: ignored
    expect(window.unclaimed()).toEqual(['a', 'b']);
    expect(waits).toBe(0);
    window.acquire().subscribe();
    expect(waits).toBe(1); // every credit taken: the acquire waits
    window.giveBack('b'); // the unclaimed one (the claimed one is still held)
    expect(window.unclaimed()).toEqual(['a']);
    expect(window.inUse).toBe(3); // the waiting acquire got the credit
    window.giveBack('b');
    window.giveBack('a');
    expect(window.unclaimed()).toEqual([]);
  });

  it('refuses nonsense sizes and over-release', () => {
    expect(() => inFlightWindow(0)).toThrow(RangeError);
    expect(() => inFlightWindow(1.5)).toThrow(RangeError);
    expect(() => inFlightWindow(1).release()).toThrow(RangeError);
    expect(() => inFlightWindow(0)).toThrow(expect.objectContaining({ name: 'InvalidOptionError', code: 'INVALID_OPTION' }));
  });
});
