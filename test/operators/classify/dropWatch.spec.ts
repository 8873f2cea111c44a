import { TestScheduler } from 'rxjs/testing';
import { DropWatch } from '../../../src/operators/classify/drops';
import { inFlightWindow, type InFlightWindow } from '../../../src/operators/inFlightWindow';

/**
 * DropWatch on its own, in virtual time: the window's credits held by ids that never reach the
 * session (none is ever claimed here), as a `filter` between `preprocess` and `classify` leaves them.
 */
function watched(scheduler: TestScheduler, window: InFlightWindow, grace: number) {
  const judgedAt: number[] = [];
  const judged: (readonly string[])[] = [];
  const watch = new DropWatch({
    window,
    grace,
    held: () => 0,
    over: () => false,
    now: () => scheduler.now(),
    after: (delay, work) => scheduler.schedule(work, delay),
    emit: (e) => {
      judgedAt.push(e.at);
      judged.push(e.correlationIds);
    },
  });
  return { watch, judgedAt, judged };
}

/** Takes a credit for each id in turn, as preprocess does: the next waits until one is given back. */
function takeInTurn(window: InFlightWindow, ids: string[]): void {
  const next = (k: number): void => {
    if (k >= ids.length) return;
    window.acquire().subscribe(() => {
      window.hold(ids[k]!);
      next(k + 1);
    });
  };
  next(0);
}

describe('DropWatch', () => {
  let scheduler: TestScheduler;
  let warn: jest.SpyInstance;
  beforeEach(() => {
    scheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
    warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
  });
  afterEach(() => warn.mockRestore());

  it.each([
    ['with nothing arriving, each judgement in a row waits twice as long', undefined, [1000, 3000, 7000]],
    ['an arrival between judgements brings the wait back to the grace', 1200, [1000, 3000, 5000]],
  ])('%s', (_, arrivalAt, expected) => {
    scheduler.run(() => {
      const window = inFlightWindow(1);
      const { watch, judgedAt, judged } = watched(scheduler, window, 1000);
      const sub = watch.start();
      takeInTurn(window, ['a', 'b', 'c', 'd']);
      if (arrivalAt !== undefined) scheduler.schedule(() => watch.arrived(), arrivalAt);
      scheduler.schedule(() => sub.unsubscribe(), 10_000);
      scheduler.flush();
      expect(judged).toEqual([['a'], ['b'], ['c']]);
      expect(judgedAt).toEqual(expected);
    });
  });

  it('remembers at most 1,024 ids judged dropped: the oldest forgotten is no longer taken for a late one', () => {
    scheduler.run(() => {
      const ids = Array.from({ length: 1100 }, (_, k) => `id${k}`);
      const window = inFlightWindow(ids.length);
      const { watch, judged } = watched(scheduler, window, 1000);
      const sub = watch.start();
      for (const id of ids) window.acquire().subscribe(() => window.hold(id));
      window.acquire().subscribe(() => window.hold('waiting'));
      scheduler.flush();
      sub.unsubscribe();
      expect(judged).toEqual([ids]);
      // The first 76 are forgotten; the last 1,024 are still known, each once.
      expect(watch.late('id0')).toBe(false);
      expect(watch.late('id75')).toBe(false);
      expect(watch.late('id76')).toBe(true);
      expect(watch.late('id1099')).toBe(true);
      expect(watch.late('id1099')).toBe(false);
    });
  });
});
