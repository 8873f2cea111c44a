import { ClassifyLedger, type ImageRecord } from '../../../src/operators/classify/ledger';
import { noRetry, prepared } from '../fixtures';

/** Plain bookkeeping, no RxJS and no time: every step is followed by the invariants check. */
describe('ClassifyLedger', () => {
  const rec = (id: string, affiliate?: string): ImageRecord<string> => ({
    id,
    image: affiliate ? { ...prepared(id), affiliate } : prepared(id),
    state: 'pending',
    attempt: 0,
    resent: false,
    credit: false,
    retry: noRetry,
  });
  const ids = (recs: readonly ImageRecord<string>[] | undefined) => (recs ?? []).map((r) => r.id);
  let ledger: ClassifyLedger<string>;
  const step = <T>(value: T): T => {
    ledger.check();
    return value;
  };
  beforeEach(() => {
    ledger = new ClassifyLedger<string>();
  });

  it('queues each batch as a group and splits a group only when asked for fewer', () => {
    const [a, b, c] = [rec('a'), rec('b'), rec('c')];
    step(ledger.admit([a, b]));
    step(ledger.admit([c]));
    expect(ids(ledger.head)).toEqual(['a', 'b']);
    expect(ids(step(ledger.sendHead(1, 1, false, 0))?.recs)).toEqual(['a']);
    expect(ids(ledger.head)).toEqual(['b']);
    expect(ids(step(ledger.sendHead(5, 1, false, 0))?.recs)).toEqual(['b']);
    expect(ids(ledger.head)).toEqual(['c']);
    expect(ledger.size).toBe(3);
  });

  it('counts images in flight from send to settle, and stops a request’s timer once nothing of it is awaited', () => {
    const [a, b] = [rec('a'), rec('b')];
    ledger.admit([a, b]);
    const timer = { unsubscribe: jest.fn() };
    const req = step(ledger.sendHead(2, 1, false, 10))!;
    ledger.setTimers(req, { timer });
    expect([ledger.inFlight, a.attempt, a.firstSentAt, a.state]).toEqual([2, 1, 10, 'sent']);
    step(ledger.settle(a));
    expect([ledger.inFlight, req.answered, timer.unsubscribe.mock.calls.length]).toEqual([1, false, 0]);
    step(ledger.settle(b));
    expect([ledger.inFlight, req.answered, timer.unsubscribe.mock.calls.length]).toEqual([0, true, 1]);
  });

  it('lets settled images go, but keeps held and reserved ones until they are removed', () => {
    const [a, b, c] = [rec('a'), rec('b'), rec('c')];
    ledger.admit([a, b, c]);
    ledger.sendHead(3, 1, false, 0);
    for (const r of [a, b, c]) ledger.settle(r);
    step(ledger.hold(b));
    expect(ledger.reserve(c)).toBe(true);
    expect(ids(step(ledger.finalize([a, b, c])))).toEqual(['a']);
    expect([ledger.size, b.state]).toEqual([2, 'held']);
    expect(step(ledger.remove(b))).toBe(true);
    expect(step(ledger.remove(b))).toBe(false);
    step(ledger.requeue(c)); // a retry: queued again, alone
    expect(ids(ledger.head)).toEqual(['c']);
    step(ledger.sendHead(1, 1, false, 5));
    expect([c.attempt, c.firstSentAt]).toEqual([2, 0]);
  });

  it('after a reconnect queues the unanswered images of earlier streams first, in their groups', () => {
    const [a, b, c, d] = [rec('a'), rec('b'), rec('c'), rec('d')];
    ledger.admit([a, b]);
    ledger.admit([c]);
    ledger.sendHead(2, 1, false, 0);
    ledger.sendHead(1, 1, false, 0);
    ledger.settle(b);
    ledger.newStream();
    step(ledger.admit([d]));
    step(ledger.resendUnanswered(2));
    expect([a.resent, a.state, ledger.inFlight]).toEqual([true, 'pending', 0]);
    const next = () => ids(step(ledger.sendHead(9, 2, false, 0))?.recs);
    expect([next(), next(), next()]).toEqual([['a'], ['c'], ['d']]);
  });

  it('takes a late answer for an image queued to be re-sent off the queue, as sent again', () => {
    const a = rec('a');
    ledger.admit([a]);
    ledger.sendHead(1, 1, false, 0);
    ledger.resendUnanswered(2);
    step(ledger.reclaim(a));
    expect([a.state, ledger.inFlight, ledger.head]).toEqual(['sent', 1, undefined]);
    step(ledger.settle(a));
  });

  it('blames a global error on the unanswered probe first, else on the oldest unanswered request', () => {
    const [a, b, c] = [rec('a'), rec('b'), rec('c', 'new')];
    ledger.admit([a]);
    ledger.admit([b]);
    ledger.admit([c]);
    const first = ledger.sendHead(1, 1, false, 0)!;
    ledger.sendHead(1, 1, false, 0);
    expect(ledger.blame()).toBe(first);
    const probe = ledger.sendHead(1, 1, true, 0)!;
    expect(ledger.hasUnansweredProbe()).toBe(true);
    expect(ledger.blame()).toBe(probe);
    ledger.markAnswered(probe);
    ledger.markAnswered(first);
    step(ledger.pruneAnswered());
    expect(ids(ledger.blame()?.recs)).toEqual(['b']);
    expect(ledger.hasUnansweredProbe()).toBe(false);
  });

  it('hands every queued or sent image to a dead transport, and clears everything on teardown', () => {
    const [a, b, c] = [rec('a'), rec('b'), rec('c')];
    ledger.admit([a, b]);
    ledger.admit([c]);
    ledger.sendHead(2, 1, false, 0);
    ledger.settle(a);
    ledger.hold(a);
    expect(ids(ledger.takeUnanswered()).sort()).toEqual(['b', 'c']);
    expect(ledger.head).toBeUndefined();
    for (const r of [b, c]) ledger.settle(r);
    step(ledger.finalize([b, c]));
    const timer = { unsubscribe: jest.fn() };
    ledger.setTimers(a.request!, { timer });
    expect(ids(step(ledger.clear()))).toEqual(['a']);
    expect([ledger.size, ledger.inFlight, timer.unsubscribe.mock.calls.length]).toEqual([0, 0, 1]);
  });

  it('check() names what is inconsistent', () => {
    const a = rec('a');
    ledger.admit([a]);
    Object.assign(a, { state: 'sent' }); // a write from outside, as a bug would make it
    expect(() => ledger.check()).toThrow("ClassifyLedger invariant broken: 'a' is queued in state sent");
  });

  it('checks itself after every change in test builds, so every session in every test is checked', () => {
    const a = rec('a');
    ledger.admit([a]);
    Object.assign(a, { state: 'sent' });
    expect(() => ledger.admit([rec('b')])).toThrow("ClassifyLedger invariant broken: 'a' is queued in state sent");
  });

  it('reserves only a settled or held image of its own', () => {
    const [a, b] = [rec('a'), rec('b')];
    ledger.admit([a, b]);
    expect(ledger.reserve(a)).toBe(false); // pending
    ledger.sendHead(2, 1, false, 0);
    step(ledger.settle(a));
    expect(step(ledger.reserve(a))).toBe(true);
    expect(ledger.reserve(a)).toBe(false); // already reserved
    expect(ledger.reserve(rec('b'))).toBe(false); // not the recorded one
    expect(ledger.takeCredit(b)).toBe(false);
  });
});
