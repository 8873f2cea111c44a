import { bufferBatch } from '../../src/operators/bufferBatch';
import { classify } from '../../src/operators/classify';
import { classifyStages } from '../../src/operators/classifyStages';
import { correlate } from '../../src/operators/correlate';
import { preprocess } from '../../src/operators/preprocess';
import { retryByErrorCode, type RetryOptions } from '../../src/operators/retryByErrorCode';
import { classifyImages } from '../../src/pipeline/classifyImages';
import type { ClassifyTransport } from '../../src/transport/types';

/** Never called: the options are refused before anything would use it. */
const transport: ClassifyTransport = {
  classify: () => {
    throw new Error('not called');
  },
};

/** Bends the types: these are the values a JavaScript caller, or a config file, can pass. */
const bad = <T>(value: unknown): T => value as T;

/** Every option of every operator is checked when the operator is made (docs/api.md, "Options"). */
describe('option checks: a bad value is an InvalidOptionError at once, naming the operator, the option and the value', () => {
  it.each<[string, () => unknown, string]>([
    [
      'correlate rememberAnswered -1',
      () => correlate({ rememberAnswered: -1 }),
      'correlate: rememberAnswered must be an integer >= 1, got -1',
    ],
    [
      'correlate rememberAnswered 1.5',
      () => correlate({ rememberAnswered: 1.5 }),
      'correlate: rememberAnswered must be an integer >= 1, got 1.5',
    ],
    [
      'correlate stats {}',
      () => correlate({ stats: bad({}) }),
      'correlate: stats must have the number fields results, foreign, duplicates, unattributed',
    ],
    [
      'retry rule retries NaN',
      () => retryByErrorCode({ rules: { ERROR_CODE_MODEL_ERROR: { retries: NaN } } }),
      'retryByErrorCode: rules.ERROR_CODE_MODEL_ERROR.retries must be an integer >= 0, got NaN',
    ],
    [
      "retry rule jitter 'bogus'",
      () => retryByErrorCode({ rules: { ERROR_CODE_MODEL_ERROR: { retries: 1, jitter: bad('bogus') } } }),
      `retryByErrorCode: rules.ERROR_CODE_MODEL_ERROR.jitter must be 'full', 'equal', 'none', got "bogus"`,
    ],
    [
      'retry rule without retries',
      () => retryByErrorCode({ rules: { ERROR_CODE_MODEL_ERROR: bad({ initialDelay: 5 }) } }),
      'retryByErrorCode: rules.ERROR_CODE_MODEL_ERROR.retries is required (0 for none)',
    ],
    [
      'retry rule initialDelay -5',
      () => retryByErrorCode({ rules: { ERROR_CODE_UNSPECIFIED: { retries: 1, initialDelay: -5 } } }),
      'retryByErrorCode: rules.ERROR_CODE_UNSPECIFIED.initialDelayMs must be a number >= 0, got -5',
    ],
    [
      'retry random not a function',
      () => retryByErrorCode(bad<RetryOptions>({ random: 0.5 })),
      'retryByErrorCode: random must be a function, got 0.5',
    ],
    [
      'retry context not a context',
      () => retryByErrorCode(bad<RetryOptions>({ context: {} })),
      'retryByErrorCode: context must be a pipelineContext()',
    ],
    ['classify random', () => classify(transport, { random: bad(1) }), 'classify: random must be a function, got 1'],
    ['classify scheduler', () => classify(transport, { scheduler: bad({}) }), 'classify: scheduler must have schedule, now()'],
    [
      'classify reconnect.maxAttempts 0',
      () => classify(transport, { reconnect: { maxAttempts: 0 } }),
      'classify: reconnect.maxAttempts must be an integer >= 1, got 0',
    ],
    [
      'classify reconnect.initialDelay NaN',
      () => classify(transport, { reconnect: { initialDelay: NaN } }),
      'classify: reconnect.initialDelayMs must be a number >= 0, got NaN',
    ],
    [
      'classify window',
      () => classify(transport, { window: bad({ size: 4 }) }),
      'classify: window must have giveBack, heldBy, claim, unclaimed()',
    ],
    ['classify context', () => classify(transport, { context: bad({}) }), 'classify: context must be a pipelineContext()'],
    [
      'classifyStages retry rule',
      () => classifyStages(transport, { retry: { rules: { ERROR_CODE_MODEL_ERROR: { retries: -1 } } } }),
      'retries must be an integer >= 0, got -1',
    ],
    [
      'bufferBatch sizeOf',
      () => bufferBatch<unknown>({ sizeOf: bad<(item: unknown) => number>(3) }),
      'bufferBatch: sizeOf must be a function, got 3',
    ],
    ['preprocess prepare', () => preprocess({ prepare: bad<undefined>('x') }), 'preprocess: prepare must be a function, got "x"'],
    ['preprocess window', () => preprocess({ window: bad({}) }), 'preprocess: window must have acquire, release, hold()'],
    ['classifyImages window 0', () => classifyImages(transport, { window: 0 }), 'classifyImages: window must be an integer >= 1, got 0'],
    [
      'classifyImages retry',
      () => classifyImages(transport, { retry: bad(true) }),
      'classifyImages: retry must be rules by failure code or false, got true',
    ],
    [
      'classifyImages metrics',
      () => classifyImages(transport, { metrics: bad({}) }),
      'classifyImages: metrics must have tapClassifyEvents',
    ],
  ])('%s', (_, make, message) => {
    expect(make).toThrow(
      expect.objectContaining({ name: 'InvalidOptionError', code: 'INVALID_OPTION', message: expect.stringContaining(message) }),
    );
  });

  it.each<[string, () => unknown, string]>([
    [
      'classify keepAliveMs and keepAlive',
      () => classify(transport, { keepAliveMs: 5, keepAlive: 6 }),
      'classify: keepAliveMs and its deprecated name keepAlive disagree (5 and 6); give keepAliveMs only',
    ],
    [
      'classify responseRetention and responseWindow',
      () => classify(transport, { responseRetention: {}, responseWindow: {} }),
      'classify: give responseRetention only',
    ],
    [
      'bufferBatch maxWaitMs and maxWait',
      () => bufferBatch({ maxWaitMs: 5, maxWait: 6 }),
      'bufferBatch: maxWaitMs and its deprecated name maxWait disagree',
    ],
    [
      'classifyImages windowSize and window',
      () => classifyImages(transport, { windowSize: 4, window: 8 }),
      'classifyImages: windowSize and its deprecated name window disagree',
    ],
    [
      'a retry rule initialDelayMs and initialDelay',
      () => retryByErrorCode({ rules: { ERROR_CODE_MODEL_ERROR: { retries: 1, initialDelayMs: 1, initialDelay: 2 } } }),
      'initialDelayMs and its deprecated name initialDelay disagree',
    ],
  ])('renamed options: %s given both, with different values, is refused', (_, make, message) => {
    expect(make).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringContaining(message) }));
  });

  it('accepts the deprecated names for one minor version, and them with the new ones when they agree', () => {
    expect(() =>
      classify(transport, { keepAlive: 5, responseTimeout: 6, backlogGrace: 7, rotateBefore: 8, responseWindow: { lifetime: 10 } }),
    ).not.toThrow();
    expect(() =>
      classify(transport, { keepAliveMs: 5, keepAlive: 5, reconnect: { giveUpAfter: 10, initialDelay: 1, maxDelay: 2 } }),
    ).not.toThrow();
    expect(() => bufferBatch({ maxWait: 5 })).not.toThrow();
    expect(() => classifyImages(transport, { window: 8 })).not.toThrow();
    expect(() => retryByErrorCode({ rules: { ERROR_CODE_MODEL_ERROR: { retries: 1, initialDelay: 1, maxDelay: 2 } } })).not.toThrow();
  });

  it('accepts the documented values, Infinity where it means "no limit"', () => {
    expect(() => correlate({ rememberAnswered: 1 })).not.toThrow();
    expect(() =>
      retryByErrorCode({ rules: { ERROR_CODE_MODEL_ERROR: false, ERROR_CODE_UNSPECIFIED: { retries: 0, jitter: 'none' } } }),
    ).not.toThrow();
    expect(() => classify(transport, { reconnect: { maxAttempts: Infinity, initialDelay: 0 } })).not.toThrow();
    expect(() => classifyImages(transport, { window: 1, retry: false, metrics: false })).not.toThrow();
  });
});
