import { merge, mergeMap, of, Subject, tap } from 'rxjs';
import { pipelineContext } from '../../src/operators/pipelineContext';
import { TestScheduler } from 'rxjs/testing';
import { withRetryCapability, type ClassificationEvent, type RetryCapability } from '../../src/operators/results';
import { DEFAULT_RETRY_RULES, retryByErrorCode, retryDelay } from '../../src/operators/retryByErrorCode';
import { failure, success } from './fixtures';

type E = ClassificationEvent<string>;

/** A capability that records what happens to its tickets, on the test scheduler's clock. */
function recorder(scheduler: TestScheduler, grant = true) {
  const log: string[] = [];
  const capability: RetryCapability = {
    reserve: () => {
      log.push(`reserve@${scheduler.now()}`);
      if (!grant) return undefined;
      return { send: () => log.push(`send@${scheduler.now()}`), cancel: () => log.push(`cancel@${scheduler.now()}`) };
    },
  };
  return { log, capability };
}

describe('retryByErrorCode', () => {
  let testScheduler: TestScheduler;
  beforeEach(() => {
    testScheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
  });
  const rules = { ERROR_CODE_MODEL_ERROR: { retries: 2, initialDelay: 4, jitter: 'full' as const } };

  it('holds a retryable failure back, re-sends after the jittered delay, and lets the new result through', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const { log, capability } = recorder(testScheduler);
      const values: Record<string, E> = {
        f: withRetryCapability(failure('a', 'ERROR_CODE_MODEL_ERROR', 1), capability),
        s: success('a', 6, 2),
        b: success('b', 2),
      };
      const source = hot('-fb---s-|', values);
      const subs = '      ^-------!';
      const expected = '  --b---s-|';
      const result = source.pipe(retryByErrorCode({ rules, scheduler: testScheduler, random: () => 0.5 }));
      expectObservable(result).toBe(expected, values);
      expectSubscriptions(source.subscriptions).toBe(subs);
      testScheduler.flush();
      expect(log).toEqual(['reserve@1', 'send@3']); // floor(0.5 * 4) = 2 ms later
    });
  });

  it('doubles the backoff each retry and gives up after the rule’s retries with the last failure', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const { log, capability } = recorder(testScheduler);
      const f = (attempts: number) => withRetryCapability(failure('a', 'ERROR_CODE_MODEL_ERROR', 1, { attempts }), capability);
      const values: Record<string, E> = { x: f(1), y: f(2), z: f(3) };
      const source = hot('x-----y---------z-|', values);
      const expected = '  ----------------z-|';
      expectObservable(source.pipe(retryByErrorCode({ rules, scheduler: testScheduler, random: () => 0.99 }))).toBe(expected, values);
      testScheduler.flush();
      // delays floor(0.99 * 4) = 3 and floor(0.99 * 8) = 7
      expect(log).toEqual(['reserve@0', 'send@3', 'reserve@6', 'send@13']);
    });
  });

  it('passes through codes without a rule, failures without a capability and refused reservations', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const refused = recorder(testScheduler, false);
      const values: Record<string, E> = {
        i: withRetryCapability(failure('i', 'ERROR_CODE_IMAGE_TOO_LARGE', 1), recorder(testScheduler).capability),
        n: failure('n', 'ERROR_CODE_MODEL_ERROR', 1),
        r: withRetryCapability(failure('r', 'ERROR_CODE_MODEL_ERROR', 1), refused.capability),
        f: { kind: 'foreign', correlationId: 'f', output: { correlationId: 'f', classifications: [], error: null } },
      };
      const source = hot('-inrf|', values);
      expectObservable(source.pipe(retryByErrorCode({ rules, scheduler: testScheduler }))).toBe('-inrf|', values);
      testScheduler.flush();
      expect(refused.log).toEqual(['reserve@3']);
    });
  });

  it('lets a held failure go when the source completes before its retry could come back', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const { log, capability } = recorder(testScheduler);
      const values: Record<string, E> = { f: withRetryCapability(failure('a', 'ERROR_CODE_MODEL_ERROR', 1), capability) };
      const source = hot('-f|', values);
      expectObservable(source.pipe(retryByErrorCode({ rules, scheduler: testScheduler, random: () => 0.99 }))).toBe('--(f|)', values);
      testScheduler.flush();
      expect(log).toEqual(['reserve@1', 'cancel@2']);
    });
  });

  it('completes on an empty source, emits nothing on a never-ending one', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const empty = cold<E>('|');
      expectObservable(empty.pipe(retryByErrorCode({ scheduler: testScheduler }))).toBe('|');
      expectSubscriptions(empty.subscriptions).toBe('(^!)');
      const never = cold<E>('-');
      expectObservable(never.pipe(retryByErrorCode({ scheduler: testScheduler })), '--!').toBe('-');
      expectSubscriptions(never.subscriptions).toBe('^-!');
    });
  });

  it('passes errors at once and mid-stream, cancelling held retries', () => {
    testScheduler.run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const first = cold<E>('#');
      expectObservable(first.pipe(retryByErrorCode({ scheduler: testScheduler }))).toBe('#');
      expectSubscriptions(first.subscriptions).toBe('(^!)');
      const { log, capability } = recorder(testScheduler);
      const values: Record<string, E> = { f: withRetryCapability(failure('a', 'ERROR_CODE_MODEL_ERROR', 1), capability) };
      const second = hot('-f#', values);
      expectObservable(second.pipe(retryByErrorCode({ rules, scheduler: testScheduler, random: () => 0.99 }))).toBe('--#');
      expectSubscriptions(second.subscriptions).toBe('^-!');
      testScheduler.flush();
      expect(log).toEqual(['reserve@1', 'cancel@2']);
    });
  });

  it('cancels held retries and their timers when unsubscribed early, with operators around it', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const { log, capability } = recorder(testScheduler);
      const values: Record<string, E> = {
        b: success('b', 1),
        f: withRetryCapability(failure('a', 'ERROR_CODE_MODEL_ERROR', 1), capability),
      };
      const source = hot('-bf-----', values);
      const result = source.pipe(
        mergeMap((x) => of(x)),
        retryByErrorCode({ rules, scheduler: testScheduler, random: () => 0.99 }),
        mergeMap((x) => of(x)),
      );
      expectObservable(result, '---!').toBe('-b--', values);
      expectSubscriptions(source.subscriptions).toBe('^--!');
      testScheduler.flush();
      expect(log).toEqual(['reserve@2', 'cancel@3']);
    });
  });

  it('handles a retry that answers synchronously while it is being sent (re-entrancy)', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const answers = new Subject<E>();
      const capability: RetryCapability = {
        reserve: () => ({ send: () => answers.next(success('a', 3, 2)), cancel: () => undefined }),
      };
      const source = hot<E>('-f--|', { f: withRetryCapability(failure('a', 'ERROR_CODE_MODEL_ERROR', 1), capability) });
      const result = merge(source, answers).pipe(retryByErrorCode({ rules, scheduler: testScheduler, random: () => 0.5 }));
      expectObservable(result).toBe('---s-', { s: success('a', 3, 2) }); // merge waits for `answers` too
    });
  });

  it('follows the contract by default: MODEL_ERROR three retries, UNSPECIFIED once, others never', () => {
    expect(DEFAULT_RETRY_RULES.ERROR_CODE_MODEL_ERROR?.retries).toBe(3);
    expect(DEFAULT_RETRY_RULES.ERROR_CODE_UNSPECIFIED?.retries).toBe(1);
    expect(Object.keys(DEFAULT_RETRY_RULES).sort()).toEqual(['ERROR_CODE_MODEL_ERROR', 'ERROR_CODE_UNSPECIFIED']);
    expect(retryDelay({ retries: 3, initialDelay: 100, maxDelay: 300, jitter: 'none' }, 3)).toBe(300);
  });

  it('ends with an error notification when its random throws, never an uncaught exception', () => {
    const boom = new Error('random broke');
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const { log, capability } = recorder(testScheduler);
      const source = hot<E>('-f--', { f: withRetryCapability(failure('a', 'ERROR_CODE_MODEL_ERROR', 1), capability) });
      const random = () => {
        throw boom;
      };
      expectObservable(source.pipe(retryByErrorCode({ rules, scheduler: testScheduler, random }))).toBe('-#', undefined, boom);
      expectSubscriptions(source.subscriptions).toBe('^!');
      testScheduler.flush();
      expect(log).toEqual([]); // the delay comes first: nothing was reserved
    });
  });

  it('releases a failure it will not retry, after passing it on (the session may be holding it)', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const log: string[] = [];
      const capability: RetryCapability = { reserve: () => undefined, release: () => log.push(`release@${testScheduler.now()}`) };
      const values: Record<string, E> = { f: withRetryCapability(failure('a', 'ERROR_CODE_IMAGE_TOO_LARGE', 1), capability) };
      const source = hot('-f|', values);
      const result = source.pipe(
        retryByErrorCode({ rules, scheduler: testScheduler }),
        tap((e) => log.push(`out ${e.kind}@${testScheduler.now()}`)),
      );
      expectObservable(result).toBe('-f|', values);
      testScheduler.flush();
      expect(log).toEqual(['out failure@1', 'release@1']);
    });
  });

  it('refuses at subscription a second retry stage on one pipeline context, saying what to change', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const context = pipelineContext();
      const source = cold<E>('-|');
      const result = source.pipe(
        retryByErrorCode({ context, scheduler: testScheduler }),
        retryByErrorCode({ context, scheduler: testScheduler }),
      );
      expectObservable(result).toBe(
        '#',
        undefined,
        new RangeError(
          'retryByErrorCode: this pipeline context already serves another retryByErrorCode subscription; give each pipeline its own pipelineContext() (classifyImages does), and put one retryByErrorCode per pipeline',
        ),
      );
    });
  });

  it('errors, instead of silently not retrying, on a failure from a classify that is not linked to it', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      // A capability of a session whose context has no retry stage: it did not keep the image.
      const capability: RetryCapability = { reserve: () => undefined, context: pipelineContext() };
      const source = hot<E>('-f-', { f: withRetryCapability(failure('a', 'ERROR_CODE_MODEL_ERROR', 1), capability) });
      const result = source.pipe(retryByErrorCode({ rules, scheduler: testScheduler }));
      expectObservable(result).toBe(
        '-#',
        undefined,
        expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringContaining("cannot retry 'a'") }),
      );
    });
  });
});
