import { backoffDelay } from '../../src/core/backoff';

describe('backoffDelay (the one formula of reconnects and retries)', () => {
  const backoff = { initialDelay: 100, maxDelay: 500 };

  it('doubles from initialDelay and stops at maxDelay', () => {
    const delays = [1, 2, 3, 4, 5].map((n) => backoffDelay({ ...backoff, jitter: 'none' }, n, () => 0.5));
    expect(delays).toEqual([100, 200, 400, 500, 500]);
  });

  it('jitters fully (uniform below the backoff) or equally (half fixed), in whole milliseconds', () => {
    expect([0, 0.5, 0.999].map((r) => backoffDelay({ ...backoff, jitter: 'full' }, 2, () => r))).toEqual([0, 100, 199]);
    expect([0, 0.5, 0.999].map((r) => backoffDelay({ ...backoff, jitter: 'equal' }, 2, () => r))).toEqual([100, 150, 199]);
  });

  it('calls random only when it jitters', () => {
    const random = jest.fn(() => 0.5);
    backoffDelay({ ...backoff, jitter: 'none' }, 1, random);
    expect(random).not.toHaveBeenCalled();
  });
});
