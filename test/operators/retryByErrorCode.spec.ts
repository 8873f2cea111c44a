import { defer, merge, mergeMap, of, Subject, tap, type MonoTypeOperatorFunction } from 'rxjs';
import { pipelineContext, type PipelineContext } from '../../src/operators/pipelineContext';
import { TestScheduler } from 'rxjs/testing';
import type { ClassificationEvent, ClassificationFailure, RetryCapability } from '../../src/operators/results';
import { DEFAULT_RETRY_RULES, retryByErrorCode, retryDelay, type RetryOptions } from '../../src/operators/retryByErrorCode';
import { failure, success } from './fixtures';

type E = ClassificationEvent<string>;

/** The capabilities of the images of a test, by correlation id (what classify's session would hold). */
let capabilities: Map<string, RetryCapability>;
let context: PipelineContext;

/** `failure`, whose image the stand-in for classify below keeps with `capability`. */
function withRetryCapability(f: ClassificationFailure<string>, capability: RetryCapability): ClassificationFailure<string> {
  capabilities.set(f.correlationId, capability);
  return f;
}

/**
 * Stands in for `classify` on `context`: attaches when subscribed, and keeps a failed image for the
 * retry stage when the stage says it will retry it, as the session does (by correlation id).
 */
function keeping(context: PipelineContext): MonoTypeOperatorFunction<E> {
  return (source) =>
    defer(() => {
      context.attachClassify();
      return source.pipe(
        tap((e) => {
          const capability = e.kind === 'failure' ? capabilities.get(e.correlationId) : undefined;
          if (e.kind === 'failure' && capability && context.wantsRetry(e.correlationId, e.code))
            context.keepForRetry(e.correlationId, capability);
        }),
      );
    });
}

/** `retryByErrorCode` linked to the stand-in for classify by a context of their own. */
function retrying(policy: Omit<RetryOptions, 'context'> = {}): MonoTypeOperatorFunction<E> {
  const context = pipelineContext();
  return (source) => source.pipe(keeping(context), retryByErrorCode<string>({ ...policy, context }));
}

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
    capabilities = new Map();
    context = pipelineContext();
  });
  const rules = { ERROR_CODE_MODEL_ERROR: { retries: 2, initialDelayMs: 4, jitter: 'full' as const } };

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
      const result = source.pipe(retrying({ rules, scheduler: testScheduler, random: () => 0.5 }));
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
      expectObservable(source.pipe(retrying({ rules, scheduler: testScheduler, random: () => 0.99 }))).toBe(expected, values);
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
      expectObservable(source.pipe(retrying({ rules, scheduler: testScheduler }))).toBe('-inrf|', values);
      testScheduler.flush();
      expect(refused.log).toEqual(['reserve@3']);
    });
  });

  it('lets a held failure go when the source completes before its retry could come back', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const { log, capability } = recorder(testScheduler);
      const values: Record<string, E> = { f: withRetryCapability(failure('a', 'ERROR_CODE_MODEL_ERROR', 1), capability) };
      const source = hot('-f|', values);
      expectObservable(source.pipe(retrying({ rules, scheduler: testScheduler, random: () => 0.99 }))).toBe('--(f|)', values);
      testScheduler.flush();
      expect(log).toEqual(['reserve@1', 'cancel@2']);
    });
  });

  it('completes on an empty source, emits nothing on a never-ending one', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const empty = cold<E>('|');
      expectObservable(empty.pipe(retrying({ scheduler: testScheduler }))).toBe('|');
      expectSubscriptions(empty.subscriptions).toBe('(^!)');
      const never = cold<E>('-');
      expectObservable(never.pipe(retrying({ scheduler: testScheduler })), '--!').toBe('-');
      expectSubscriptions(never.subscriptions).toBe('^-!');
    });
  });

  it('passes errors at once and mid-stream, cancelling held retries', () => {
    testScheduler.run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const first = cold<E>('#');
      expectObservable(first.pipe(retrying({ scheduler: testScheduler }))).toBe('#');
      expectSubscriptions(first.subscriptions).toBe('(^!)');
      const { log, capability } = recorder(testScheduler);
      const values: Record<string, E> = { f: withRetryCapability(failure('a', 'ERROR_CODE_MODEL_ERROR', 1), capability) };
      const second = hot('-f#', values);
      expectObservable(second.pipe(retrying({ rules, scheduler: testScheduler, random: () => 0.99 }))).toBe('--#');
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
        retrying({ rules, scheduler: testScheduler, random: () => 0.99 }),
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
      const result = merge(source, answers).pipe(retrying({ rules, scheduler: testScheduler, random: () => 0.5 }));
      expectObservable(result).toBe('---s-', { s: success('a', 3, 2) }); // merge waits for `answers` too
    });
  });

  it('follows the contract by default: MODEL_ERROR three retries, UNSPECIFIED once, others never', () => {
    expect(DEFAULT_RETRY_RULES.ERROR_CODE_MODEL_ERROR?.retries).toBe(3);
    expect(DEFAULT_RETRY_RULES.ERROR_CODE_UNSPECIFIED?.retries).toBe(1);
    expect(Object.keys(DEFAULT_RETRY_RULES).sort()).toEqual(['ERROR_CODE_MODEL_ERROR', 'ERROR_CODE_UNSPECIFIED']);
    expect(retryDelay({ retries: 3, initialDelayMs: 100, maxDelayMs: 300, jitter: 'none' }, 3)).toBe(300);
  });

  it('ends with an error notification when its random throws, never an uncaught exception', () => {
    const boom = new Error('random broke');
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const { log, capability } = recorder(testScheduler);
      const source = hot<E>('-f--', { f: withRetryCapability(failure('a', 'ERROR_CODE_MODEL_ERROR', 1), capability) });
      const random = () => {
        throw boom;
      };
      expectObservable(source.pipe(retrying({ rules, scheduler: testScheduler, random }))).toBe('-#', undefined, boom);
      expectSubscriptions(source.subscriptions).toBe('^!');
      testScheduler.flush();
      expect(log).toEqual([]); // the delay comes first: nothing was reserved
    });
  });

  it('releases a kept failure it cannot retry, after passing it on (the session is holding it)', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const log: string[] = [];
      const capability: RetryCapability = { reserve: () => undefined, release: () => log.push(`release@${testScheduler.now()}`) };
      const values: Record<string, E> = { f: withRetryCapability(failure('a', 'ERROR_CODE_MODEL_ERROR', 1), capability) };
      const source = hot('-f|', values);
      const result = source.pipe(
        retrying({ rules, scheduler: testScheduler }),
        tap((e) => log.push(`out ${e.kind}@${testScheduler.now()}`)),
      );
      expectObservable(result).toBe('-f|', values);
      testScheduler.flush();
      expect(log).toEqual(['out failure@1', 'release@1']);
    });
  });

  it('refuses at subscription a second retry stage on one pipeline context, saying what to change', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold<E>('-|');
      const result = source.pipe(
        retryByErrorCode({ context, scheduler: testScheduler }),
        retryByErrorCode({ context, scheduler: testScheduler }),
      );
      expectObservable(result).toBe(
        '#',
        undefined,
        new RangeError(
          'retryByErrorCode: this pipeline context already serves another retryByErrorCode subscription; give each pipeline its own pair (classifyStages(client), or one pipelineContext() per pipeline: classifyImages does), and put one retryByErrorCode per pipeline',
        ),
      );
    });
  });

  it('refuses at subscription a retry stage without a context (it is linked to no classify), saying what to change', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold<E>('-|');
      expectObservable(source.pipe(retryByErrorCode({ rules, scheduler: testScheduler }))).toBe(
        '#',
        undefined,
        expect.objectContaining({
          code: 'INVALID_OPTION',
          message: expect.stringContaining(
            'retryByErrorCode: no pipeline context, so it is linked to no classify and could retry nothing: make the pair with classifyStages(client)',
          ),
        }),
      );
      expectSubscriptions(source.subscriptions).toBe([]); // nothing upstream was started
    });
  });

  it('errors, instead of silently not retrying, when no classify was given its context', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      // A failure it would retry, from a pipeline where nothing attached to its context.
      const source = hot<E>('-f-', { f: failure('a', 'ERROR_CODE_MODEL_ERROR', 1) });
      const result = source.pipe(retryByErrorCode({ rules, scheduler: testScheduler, context }));
      expectObservable(result).toBe(
        '-#',
        undefined,
        expect.objectContaining({
          code: 'INVALID_OPTION',
          message: expect.stringContaining("cannot retry 'a' (ERROR_CODE_MODEL_ERROR): no classify() was given"),
        }),
      );
    });
  });
});
