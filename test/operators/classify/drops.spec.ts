import { asyncScheduler, concatMap, delay, filter, from, map, Observable, observeOn, of, timer, type MonoTypeOperatorFunction } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import type { ClassifyRequest, ClassifyResponse } from '../../../src/contract/messages';
import { InvalidOptionError } from '../../../src/core/invalidOptionError';
import { classify, type ClassifyEvent, type ClassifyItem, type ClassifyOptions } from '../../../src/operators/classify';
import { correlate } from '../../../src/operators/correlate';
import { inFlightWindow, type InFlightWindow } from '../../../src/operators/inFlightWindow';
import type { ClassificationEvent } from '../../../src/operators/results';
import type { ClassifyTransport } from '../../../src/transport/types';
import { ok, prepared } from '../fixtures';

/** A `ClassifyTransport` that answers every image 1 ms after its request, and ends when half-closed. */
function answeringTransport(scheduler: TestScheduler): ClassifyTransport {
  return {
    classify: (requests$: Observable<ClassifyRequest>) =>
      new Observable<ClassifyResponse>((subscriber) => {
        const sub = requests$.subscribe({
          next: (r) => {
            const ids = r.inputs.map((i) => i.correlationId);
            if (ids.length > 0) scheduler.schedule(() => subscriber.next({ globalError: null, outputs: ids.map((id) => ok(id)) }), 1);
          },
          complete: () => scheduler.schedule(() => subscriber.complete(), 2),
        });
        return () => sub.unsubscribe();
      }),
  };
}

/**
 * The virtual pipeline: `ids` take a credit each, in order, as `preprocess({ window })` does
 * (acquire, then hold by id), pass `between` (the user's operator), and reach `classify` one per
 * batch. Counts the images alive between "left preprocess" and their result.
 */
function pipeline(
  scheduler: TestScheduler,
  window: InFlightWindow,
  ids: string[],
  between: MonoTypeOperatorFunction<string>,
  options: ClassifyOptions = {},
  /** The user's operator on the batches themselves (a map that copies them). */
  onBatches: MonoTypeOperatorFunction<ClassifyItem<string>[]> = (batches) => batches,
) {
  const seen = { alive: 0, mostAlive: 0, dropped: [] as string[], results: [] as string[], droppedAt: [] as number[] };
  const events$ = from(ids).pipe(
    concatMap((id) =>
      window.acquire().pipe(
        map(() => {
          window.hold(id);
          seen.alive += 1;
          seen.mostAlive = Math.max(seen.mostAlive, seen.alive);
          return id;
        }),
      ),
    ),
    between,
    map((id): ClassifyItem<string>[] => [prepared(id)]),
    onBatches,
    classify<string>(answeringTransport(scheduler), {
      deploymentId: 'dep',
      shared: false,
      window,
      scheduler,
      keepAliveMs: 60_000,
      ...options,
    }),
    map((e: ClassifyEvent<string>) => {
      if (e.kind === 'dropped') {
        seen.dropped.push(...e.correlationIds);
        seen.droppedAt.push(scheduler.now());
      }
      return e;
    }),
    correlate<string>(),
    map((r: ClassificationEvent<string>) => {
      seen.alive -= 1;
      seen.results.push(r.kind === 'foreign' ? `foreign ${r.correlationId}` : `${r.correlationId} ${r.kind}`);
      return r;
    }),
  );
  return { events$, seen };
}

const allOnce = (ids: string[]): string[] => ids.map((id) => `${id} success`);

describe('classify: images held back between the stages are not taken for dropped ones', () => {
  let testScheduler: TestScheduler;
  let warn: jest.SpyInstance;
  const warnings = (code: string): unknown[] => warn.mock.calls.filter(([, o]) => (o as { code?: string } | undefined)?.code === code);
  beforeEach(() => {
    testScheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
    warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
  });
  afterEach(() => warn.mockRestore());

  it.each<[string, MonoTypeOperatorFunction<string>]>([
    ['a delay(5000)', delay(5000)],
    ['a slow concatMap (each image 4 s, one at a time)', concatMap((id) => timer(4000).pipe(map(() => id)))],
  ])('%s of yours: every image once, no drop judged, never more images alive than the window', (_, between) => {
    const window = inFlightWindow(2);
    const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
    testScheduler.run(() => {
      const { events$, seen } = pipeline(testScheduler, window, ids, between);
      events$.subscribe();
      testScheduler.flush();
      expect(seen.results).toEqual(allOnce(ids));
      expect(seen.dropped).toEqual([]);
      expect(seen.mostAlive).toBe(2);
    });
    expect(warnings('ATHENA_RX_IMAGES_DROPPED')).toEqual([]);
    expect(window.inUse).toBe(0);
  });

  it('an image arriving after it was judged dropped gets exactly one result, its credit is not given back twice, and the grace is raised', () => {
    const window = inFlightWindow(2);
    const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
    // 'a' and 'e' are held 2.5 s by an operator of the user's, the others 10 ms: longer than the 1 s grace given.
    const slow = concatMap((id: string) => timer(id === 'a' || id === 'e' ? 2500 : 10).pipe(map(() => id)));
    const givenBack: string[] = [];
    const giveBack = window.giveBack.bind(window);
    const watched: InFlightWindow = Object.assign(Object.create(window) as InFlightWindow, {
      giveBack: (id: string) => {
        const did = giveBack(id);
        // Every call: a second one for an id returns false, and must show here too.
        givenBack.push(did ? id : `again ${id}`);
        return did;
      },
    });
    testScheduler.run(() => {
      const { events$, seen } = pipeline(testScheduler, watched, ids, slow, { dropGraceMs: 1000 });
      events$.subscribe();
      testScheduler.flush();
      // Wrongly judged at 1 s ('b' waits behind 'a'); 'e' later, held as long, is not: the grace grew.
      expect(seen.dropped).toEqual(['a', 'b']);
      expect(seen.droppedAt).toEqual([1000]);
      expect([...seen.results].sort()).toEqual(allOnce(ids));
      expect(seen.alive).toBe(0);
    });
    // Each credit given back once: 'a' and 'b' when judged dropped, not again after their answers.
    expect([...givenBack].sort()).toEqual([...ids].sort());
    expect(window.inUse).toBe(0);
    expect(window.unclaimed()).toEqual([]);
    expect(warnings('ATHENA_RX_IMAGES_DROPPED')).toHaveLength(1);
    const late = warnings('ATHENA_RX_DROP_GRACE_RAISED');
    expect(late).toHaveLength(1);
    expect(String((late[0] as unknown[])[0])).toMatch(/'a'.*reached classify .* after it was reported dropped/);
  });

  const same: MonoTypeOperatorFunction<string> = (ids) => ids;
  it.each<[string, MonoTypeOperatorFunction<string>, MonoTypeOperatorFunction<ClassifyItem<string>[]>]>([
    ['a map that copies each batch and item', same, map((batch) => batch.map((item) => ({ ...item })))],
    ['observeOn (another scheduler turn for each image)', observeOn(asyncScheduler), (b) => b],
    ['a concatMap holding each image 4 s', concatMap((id) => of(id).pipe(delay(4000))), (b) => b],
  ])('%s of yours beside a real filter: the filtered image is found dropped, every other gets one result', (_, between, onBatches) => {
    const window = inFlightWindow(2);
    const ids = ['a', 'b', 'c', 'd', 'e'];
    testScheduler.run(() => {
      const dropC: MonoTypeOperatorFunction<string> = (s) =>
        s.pipe(
          between,
          filter((id) => id !== 'c'),
        );
      const { events$, seen } = pipeline(testScheduler, window, ids, dropC, {}, onBatches);
      events$.subscribe();
      testScheduler.flush();
      expect(seen.dropped).toEqual(['c']);
      expect(seen.results).toEqual(allOnce(['a', 'b', 'd', 'e']));
    });
    expect(window.inUse).toBe(0);
  });

  it('a filter that drops every image is still found, after dropGraceMs of no image arriving', () => {
    const window = inFlightWindow(2);
    testScheduler.run(() => {
      const { events$, seen } = pipeline(testScheduler, window, ['a', 'b', 'c'], (s) => s.pipe(concatMap(() => [] as string[])), {
        dropGraceMs: 3000,
      });
      events$.subscribe();
      testScheduler.flush();
      // a, b stall the window for 3 s; then c takes a credit, and the source's completion gives it back at once.
      expect(seen.droppedAt).toEqual([3000, 3000]);
      expect(seen.dropped).toEqual(['a', 'b', 'c']);
      expect(seen.results).toEqual([]);
    });
    expect(warnings('ATHENA_RX_IMAGES_DROPPED')).toHaveLength(1);
    expect(window.inUse).toBe(0);
  });

  it('dropGraceMs: Infinity judges no drop by time (only at the source completion)', () => {
    const window = inFlightWindow(1);
    testScheduler.run(({ cold, expectObservable }) => {
      window.acquire().subscribe();
      window.hold('d1');
      testScheduler.schedule(() => window.acquire().subscribe(), 3);
      const source = cold<ClassifyItem<string>[]>('1000000ms |');
      const result = source.pipe(
        classify<string>(answeringTransport(testScheduler), {
          deploymentId: 'dep',
          window,
          scheduler: testScheduler,
          keepAliveMs: 10_000_000,
          dropGraceMs: Infinity,
        }),
        map((e) => (e.kind === 'dropped' ? `dropped ${e.correlationIds.join(',')}` : e.kind)),
      );
      expectObservable(result).toBe('c 999999ms d 1ms |', { c: 'connection', d: 'dropped d1' });
    });
  });

  it.each([-1, 0, NaN, '1000' as unknown as number])('refuses dropGraceMs %p with InvalidOptionError', (value) => {
    const client = answeringTransport(testScheduler);
    expect(() => classify(client, { dropGraceMs: value })).toThrow(InvalidOptionError);
    expect(() => classify(client, { dropGraceMs: value })).toThrow(/dropGraceMs must be a number of ms > 0 \(Infinity: never\)/);
  });
});
