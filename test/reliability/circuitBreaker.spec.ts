import { map, mergeMap, of, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { InvalidOptionError } from '../../src/core/invalidOptionError';
import { circuitBreaker, type CircuitBreaker } from '../../src/reliability/circuitBreaker';

/** o = open, h = half-open, c = closed: each event by the state it moved to. */
const letter = { open: 'o', 'half-open': 'h', closed: 'c' } as const;
const states = (breaker: CircuitBreaker): Observable<string> => breaker.events.pipe(map((e) => letter[e.to]));

/**
 * Plays outcomes on the breaker: f = recordFailure, s = recordSuccess, p = tryPass. Emits what
 * tryPass answered (y passed, n refused) at the frame it was asked.
 */
const drive = (outcomes: Observable<string>, breaker: CircuitBreaker): Observable<string> =>
  outcomes.pipe(
    mergeMap((o) => {
      if (o === 'f') breaker.recordFailure();
      else if (o === 's') breaker.recordSuccess();
      else if (o === 'p') return of(breaker.tryPass() ? 'y' : 'n');
      return [];
    }),
  );

describe('circuitBreaker', () => {
  let testScheduler: TestScheduler;
  beforeEach(() => {
    testScheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
  });

  it('opens after failureThreshold failures in the window, half-opens after the cool-down, closes when the probe succeeds', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const breaker = circuitBreaker({ failureThreshold: 3, window: 10, coolDown: 10, scheduler: testScheduler });
      const outcomes = hot('-f-f-f---p-------p-s--p-|');
      const passes = '      ---------n-------y----y-|';
      const expected = '    -----o---------h---c-----';
      expectObservable(states(breaker)).toBe(expected);
      expectObservable(drive(outcomes, breaker)).toBe(passes);
    });
  });

  it('forgets failures older than the window (sliding window)', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const breaker = circuitBreaker({ failureThreshold: 3, window: 10, coolDown: 10, scheduler: testScheduler });
      const outcomes = hot('-f-----f-----f-----f--f-|');
      const expected = '    ----------------------o---------h';
      expectObservable(states(breaker)).toBe(expected);
      expectObservable(drive(outcomes, breaker)).toBe('------------------------|');
    });
  });

  it('a failed probe opens the circuit again for a fresh cool-down', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const breaker = circuitBreaker({ failureThreshold: 2, window: 10, coolDown: 5, scheduler: testScheduler });
      const outcomes = hot('-ff-----p-f--p---p-s-|');
      const passes = '      --------y----n---y---|';
      const expected = '    --o----h--o----h---c--';
      expectObservable(states(breaker)).toBe(expected);
      expectObservable(drive(outcomes, breaker)).toBe(passes);
    });
  });

  it('lets exactly one probe through while half-open, however many ask', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const breaker = circuitBreaker({ failureThreshold: 1, window: 10, coolDown: 3, scheduler: testScheduler });
      const outcomes = hot('-f---pppp-s-pp-|');
      const passes = '      -----ynnn---yy-|';
      const expected = '    -o--h-----c-----';
      expectObservable(states(breaker)).toBe(expected);
      expectObservable(drive(outcomes, breaker)).toBe(passes);
    });
  });

  it('ignores failures while open (no second opening, the cool-down is not extended)', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const breaker = circuitBreaker({ failureThreshold: 1, window: 10, coolDown: 6, scheduler: testScheduler });
      const outcomes = hot('-f--f-f-----|');
      const expected = '    -o-----h-----';
      expectObservable(states(breaker)).toBe(expected);
      expectObservable(drive(outcomes, breaker)).toBe('------------|');
    });
  });

  it('successes alone never open it, and closing starts a clean window', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const breaker = circuitBreaker({ failureThreshold: 2, window: 100, coolDown: 2, scheduler: testScheduler });
      // One failure before opening must not count again after the circuit closed.
      const outcomes = hot('-sssf-f--ps--f-ss-|');
      const expected = '    ------o-h-c--------';
      expectObservable(states(breaker)).toBe(expected);
      expectObservable(drive(outcomes, breaker)).toBe('---------y--------|');
    });
  });

  it('with failureRate, opens on the share of failures once minimumCalls outcomes are in the window', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const breaker = circuitBreaker({
        failureRate: 0.5,
        minimumCalls: 4,
        failureThreshold: 1,
        window: 20,
        coolDown: 5,
        scheduler: testScheduler,
      });
      // f, f, f: 3 of 3 failed but fewer than 4 calls; then s: 3 of 4 is at least half.
      const outcomes = hot('-f-f-f-s-|');
      const expected = '    -------o----h';
      expectObservable(states(breaker)).toBe(expected);
      expectObservable(drive(outcomes, breaker)).toBe('---------|');
    });
  });

  it('with failureRate, stays closed while the share stays under it', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const breaker = circuitBreaker({ failureRate: 0.5, minimumCalls: 4, window: 20, scheduler: testScheduler });
      const outcomes = hot('-fsssfsss-|');
      expectObservable(states(breaker)).toBe('-----------');
      expectObservable(drive(outcomes, breaker)).toBe('----------|');
    });
  });

  it('dispose() cancels the cool-down and completes events; the breaker then refuses nothing', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const breaker = circuitBreaker({ failureThreshold: 1, coolDown: 5, scheduler: testScheduler });
      expectObservable(states(breaker)).toBe('-o-|');
      cold('-f-d').subscribe((o) => (o === 'f' ? breaker.recordFailure() : breaker.dispose()));
      testScheduler.flush();
      expect(breaker.state).toBe('open');
      expect(breaker.tryPass()).toBe(true);
    });
  });

  it('events carry the states, the time and the reason', () => {
    testScheduler.run(({ cold }) => {
      const breaker = circuitBreaker({ failureThreshold: 2, window: 10, coolDown: 4, scheduler: testScheduler });
      const seen: unknown[] = [];
      breaker.events.subscribe((e) => seen.push(e));
      cold('-ff---p-s').subscribe((o) => (o === 'f' ? breaker.recordFailure() : o === 's' ? breaker.recordSuccess() : breaker.tryPass()));
      testScheduler.flush();
      expect(seen).toEqual([
        { kind: 'circuit', at: 2, from: 'closed', to: 'open', reason: '2 failures in 10 ms' },
        { kind: 'circuit', at: 6, from: 'open', to: 'half-open', reason: 'cool-down of 4 ms over' },
        { kind: 'circuit', at: 8, from: 'half-open', to: 'closed', reason: 'probe succeeded' },
      ]);
      expect(breaker.counts).toEqual({ failures: 0, calls: 0 });
    });
  });

  it('refuses options out of range with an InvalidOptionError', () => {
    expect(() => circuitBreaker({ failureThreshold: 0 })).toThrow(InvalidOptionError);
    expect(() => circuitBreaker({ failureRate: 1.5 })).toThrow(/failureRate must be in \(0, 1\]/);
    expect(() => circuitBreaker({ coolDown: -1 })).toThrow(/coolDown must be a positive number/);
    expect(() => circuitBreaker({ minimumCalls: 2.5 })).toThrow(/minimumCalls must be a positive integer/);
  });
});
