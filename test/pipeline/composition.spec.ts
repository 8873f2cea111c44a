import {
  asapScheduler,
  asyncScheduler,
  concatMap,
  connectable,
  delay,
  filter,
  from,
  lastValueFrom,
  map,
  mergeMap,
  observeOn,
  of,
  Subject,
  subscribeOn,
  tap,
  toArray,
  type MonoTypeOperatorFunction,
} from 'rxjs';
import { bufferBatch } from '../../src/operators/bufferBatch';
import type { ClassifyItem } from '../../src/operators/classify';
import { correlate, createCorrelateStats } from '../../src/operators/correlate';
import { inFlightWindow } from '../../src/operators/inFlightWindow';
import { pipelineContext } from '../../src/operators/pipelineContext';
import { preprocess } from '../../src/operators/preprocess';
import type { ClassificationEvent, ClassificationResult } from '../../src/operators/results';
import { startAthenaServer, type AthenaTestServer } from '../../src/testing';
import { createAthenaClient, insecure, type AthenaGrpcClient } from '../../src/transport';
import { classify } from '../../src/operators/classify';
import { retryByErrorCode } from '../../src/operators/retryByErrorCode';
import { classifyStages } from '../../src/operators/classifyStages';
import type { ImageInput } from '../../src/preprocess/types';
import { accountedOnce, rawImages } from './helpers';

const ours = <R>(events: ClassificationEvent<R>[]): ClassificationResult<R>[] =>
  events.filter((e): e is ClassificationResult<R> => e.kind !== 'foreign');

function withIds(prefix: string, n: number): ImageInput<number>[] {
  return [...rawImages(n)].map((input) => ({ ...input, correlationId: `${prefix}-${input.ref}` }));
}

type Between = MonoTypeOperatorFunction<ClassificationEvent<number>>;
let run = 0;

/** Composition rules: the user's own operators between ours (docs/reliability.md#composition). */
describe('pipeline over loopback: operators of yours between the stages', () => {
  let server: AthenaTestServer;
  const clients: AthenaGrpcClient[] = [];
  const client = (): AthenaGrpcClient => {
    const c = createAthenaClient({ address: server.address, credentials: insecure() });
    clients.push(c);
    return c;
  };
  beforeAll(async () => {
    server = await startAthenaServer();
  });
  afterEach(() => {
    server.faults.clear();
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(() => server.stop());

  it('a spreading map between preprocess and bufferBatch keeps every credit: all images once, the window back at 0', async () => {
    const window = inFlightWindow(4);
    const results = await lastValueFrom(
      from(rawImages(6)).pipe(
        preprocess<number>({ window }),
        // A new object for every image: a credit must follow the correlation id, not the object.
        map((item) => ({ ...item, meta: { seen: true } })),
        bufferBatch<ClassifyItem<number>>({ maxCount: 2, maxWaitMs: 5 }),
        classify<number>(client(), { window }),
        correlate<number>(),
        toArray(),
      ),
    );
    expect(
      accountedOnce(
        ours(results).map((r) => r.ref),
        6,
      ),
    ).toEqual({ missing: [], twice: [] });
    expect(ours(results).every((r) => r.kind === 'success')).toBe(true);
    expect(window.inUse).toBe(0);
    expect(window.highWater).toBe(4);
  });

  it('a filter dropping 12 of 20 images between preprocess and bufferBatch: 8 results, the drop reported (event and one warning), no stall', async () => {
    const window = inFlightWindow(4);
    // Recorded instead of printed, to keep the test's output clean.
    const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const dropped: string[] = [];
    const messages: string[] = [];
    try {
      const results = await lastValueFrom(
        from(rawImages(20)).pipe(
          preprocess<number>({ window }),
          filter((item) => item.ref! % 5 < 2), // keeps 0, 1, 5, 6, 10, 11, 15, 16
          bufferBatch<ClassifyItem<number>>({ maxCount: 2, maxWaitMs: 5 }),
          classify<number>(client(), { window, dropGraceMs: 1000 }),
          tap((e) => {
            if (e.kind !== 'dropped') return;
            dropped.push(...e.correlationIds);
            messages.push(e.message);
          }),
          correlate<number>(),
          toArray(),
        ),
      );
      expect(
        ours(results)
          .map((r) => r.ref)
          .sort((a, b) => a! - b!),
      ).toEqual([0, 1, 5, 6, 10, 11, 15, 16]);
      expect(ours(results).every((r) => r.kind === 'success')).toBe(true);
      expect(dropped).toHaveLength(12);
      expect(window.inUse).toBe(0);
      for (const m of messages)
        expect(m).toContain(
          'took a window credit in preprocess but never reached classify: an operator between preprocess and classify dropped them (a filter?)',
        );
      // Said once, however many times credits were given back.
      expect(warn.mock.calls.filter(([, o]) => (o as { code?: string } | undefined)?.code === 'ATHENA_RX_IMAGES_DROPPED')).toHaveLength(1);
    } finally {
      warn.mockRestore();
    }
  });

  /** Runs 6 images through a window of 2 with `between` after preprocess; counts images alive (left preprocess, no result yet). */
  async function heldBack(between: MonoTypeOperatorFunction<ClassifyItem<number>>, options: { dropGraceMs?: number } = {}) {
    const window = inFlightWindow(2);
    const seen = { alive: 0, mostAlive: 0, dropped: [] as string[] };
    const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      const results = await lastValueFrom(
        from(rawImages(6)).pipe(
          preprocess<number>({ window }),
          tap(() => (seen.mostAlive = Math.max(seen.mostAlive, (seen.alive += 1)))),
          between,
          bufferBatch<ClassifyItem<number>>({ maxCount: 2, maxWaitMs: 5 }),
          classify<number>(client(), { window, ...options }),
          tap((e) => e.kind === 'dropped' && seen.dropped.push(...e.correlationIds)),
          correlate<number>(),
          tap(() => (seen.alive -= 1)),
          toArray(),
        ),
      );
      const codes = warn.mock.calls.map(([, o]) => (o as { code?: string } | undefined)?.code);
      return { results: ours(results), seen, window, codes };
    } finally {
      warn.mockRestore();
    }
  }

  it.each<[string, MonoTypeOperatorFunction<ClassifyItem<number>>]>([
    ['delay(1500)', delay(1500)],
    ['a concatMap holding each image 1.2 s', concatMap((item) => of(item).pipe(delay(1200)))],
  ])(
    '%s between preprocess and bufferBatch (longer than 1 s): every image once, no drop reported, never more alive than the window',
    async (_, between) => {
      const { results, seen, window, codes } = await heldBack(between);
      expect(
        accountedOnce(
          results.map((r) => r.ref),
          6,
        ),
      ).toEqual({ missing: [], twice: [] });
      expect(results.every((r) => r.kind === 'success')).toBe(true);
      expect(seen.dropped).toEqual([]);
      expect(codes).not.toContain('ATHENA_RX_IMAGES_DROPPED');
      expect(seen.mostAlive).toBeLessThanOrEqual(2);
      expect(window.inUse).toBe(0);
    },
  );

  it('an image held longer than dropGraceMs is reported dropped, then still gets exactly one result; the window ends at 0', async () => {
    // Image 0 is held 3 s, well over the 300 ms grace given (even on a loaded machine); the others pass at once.
    const between = concatMap((item: ClassifyItem<number>) => of(item).pipe(delay(item.ref === 0 ? 3000 : 0)));
    const { results, seen, window, codes } = await heldBack(between, { dropGraceMs: 300 });
    expect(
      accountedOnce(
        results.map((r) => r.ref),
        6,
      ),
    ).toEqual({ missing: [], twice: [] });
    expect(results.every((r) => r.kind === 'success')).toBe(true);
    expect(seen.dropped.length).toBeGreaterThan(0);
    expect(codes.filter((c) => c === 'ATHENA_RX_IMAGES_DROPPED')).toHaveLength(1);
    expect(codes.filter((c) => c === 'ATHENA_RX_DROP_GRACE_RAISED')).toHaveLength(1);
    expect(window.inUse).toBe(0);
    expect(window.unclaimed()).toEqual([]);
    expect(seen.alive).toBe(0);
  });

  it.each<[string, Between]>([
    ['observeOn(asapScheduler)', observeOn(asapScheduler)],
    ['delay(1)', delay(1)],
    ['concatMap to a delayed inner', concatMap((e) => of(e).pipe(delay(0)))],
    // A copy has none of the original's hidden properties: the retry stage finds the image by id.
    ['a copying map', map((e) => ({ ...e }))],
  ])('%s between correlate and retryByErrorCode still retries MODEL_ERROR, attempts counted right', async (_, between) => {
    const prefix = `m${(run += 1)}`;
    server.faults.modelErrorFor([`${prefix}-1`, `${prefix}-3`], 1);
    server.faults.modelErrorFor([`${prefix}-4`], 10); // never recovers within 2 retries
    const window = inFlightWindow(4);
    const stats = createCorrelateStats();
    const stages = classifyStages<number>(client(), {
      window,
      retry: { rules: { ERROR_CODE_MODEL_ERROR: { retries: 2, initialDelayMs: 5 } } },
    });
    const results = ours(
      await lastValueFrom(
        from(withIds(prefix, 5)).pipe(
          preprocess<number>({ window }),
          bufferBatch<ClassifyItem<number>>({ maxCount: 2, maxWaitMs: 5 }),
          stages.classify,
          correlate<number>({ stats }),
          between,
          stages.retry,
          toArray(),
        ),
      ),
    );
    expect(
      accountedOnce(
        results.map((r) => r.ref),
        5,
      ),
    ).toEqual({ missing: [], twice: [] });
    const attempts = Object.fromEntries(results.map((r) => [r.ref, `${r.kind} #${r.attempts}`]));
    expect(attempts).toEqual({ 0: 'success #1', 1: 'success #2', 2: 'success #1', 3: 'success #2', 4: 'failure #3' });
    expect(server.audit.filter((a) => a.correlationId === `${prefix}-4`)).toHaveLength(3);
    expect(stats.results).toBe(5); // final results only: the failures sent again do not count
    expect(window.inUse).toBe(0);
  });

  it('operators of yours at every joint at once: all images once, retries counted right, the window back at 0', async () => {
    const prefix = 'every';
    server.faults.modelErrorFor([`${prefix}-2`], 1);
    const window = inFlightWindow(3);
    const context = pipelineContext();
    const results = ours(
      await lastValueFrom(
        from(withIds(prefix, 7))
          .pipe(
            preprocess<number>({ window }),
            map((item) => ({ ...item })),
            observeOn(asapScheduler),
            bufferBatch<ClassifyItem<number>>({ maxCount: 2, maxWaitMs: 5 }),
            map((batch) => batch.map((item) => ({ ...item }))),
            classify<number>(client(), { window, context }),
          )
          .pipe(
            delay(1),
            correlate<number>(),
            concatMap((e) => of(e).pipe(delay(0))),
            retryByErrorCode<number>({ rules: { ERROR_CODE_MODEL_ERROR: { retries: 1, initialDelayMs: 5 } }, context }),
            toArray(),
          ),
      ),
    );
    expect(
      accountedOnce(
        results.map((r) => r.ref),
        7,
      ),
    ).toEqual({ missing: [], twice: [] });
    expect(results.filter((r) => r.kind !== 'success')).toEqual([]);
    expect(results.find((r) => r.ref === 2)?.attempts).toBe(2);
    expect(window.inUse).toBe(0);
  });

  /** What each composition of the link gives: the table of docs/reliability.md#the-link-between-classify-and-retrybyerrorcode. */
  describe('the explicit link between classify and retryByErrorCode (classifyStages, or one pipelineContext() given to both)', () => {
    const rules = { ERROR_CODE_MODEL_ERROR: { retries: 1, initialDelayMs: 5 } };
    const attempts = (results: ClassificationEvent<number>[]) =>
      Object.fromEntries(ours(results).map((r) => [r.ref, `${r.kind} #${r.attempts}`]));

    it.each([
      ['subscribeOn(asyncScheduler)', subscribeOn<ClassificationEvent<number>>(asyncScheduler)],
      ['subscribeOn(asapScheduler)', subscribeOn<ClassificationEvent<number>>(asapScheduler)],
    ])('%s between the stages (classify subscribes after its retry stage): retries', async (_, between) => {
      const prefix = `so${(run += 1)}`;
      server.faults.modelErrorFor([`${prefix}-1`], 1);
      const { classify: linked, retry } = classifyStages<number>(client(), { retry: { rules } });
      const results = await lastValueFrom(
        from(withIds(prefix, 3)).pipe(
          preprocess<number>(),
          bufferBatch<ClassifyItem<number>>({ maxCount: 3, maxWaitMs: 5 }),
          linked,
          correlate<number>(),
          between,
          retry,
          toArray(),
        ),
      );
      expect(attempts(results)).toEqual({ 0: 'success #1', 1: 'success #2', 2: 'success #1' });
    });

    it('a classify inside a mergeMap (one session per group, all on one context): retries, every image once', async () => {
      const prefix = `mm${(run += 1)}`;
      server.faults.modelErrorFor([`${prefix}-1`, `${prefix}-4`], 1);
      const transport = client();
      const context = pipelineContext();
      const groups = [withIds(prefix, 6).slice(0, 3), withIds(prefix, 6).slice(3)];
      const results = await lastValueFrom(
        from(groups).pipe(
          mergeMap((group) =>
            from(group).pipe(
              preprocess<number>(),
              bufferBatch<ClassifyItem<number>>({ maxCount: 3, maxWaitMs: 5 }),
              classify<number>(transport, { context }),
              correlate<number>(),
            ),
          ),
          retryByErrorCode<number>({ rules, context }),
          toArray(),
        ),
      );
      expect(attempts(results)).toEqual({
        0: 'success #1',
        1: 'success #2',
        2: 'success #1',
        3: 'success #1',
        4: 'success #2',
        5: 'success #1',
      });
    });

    /** The refused compositions: each fails at subscription, before an image is read. */
    const refused = (pipeline: (read: () => void) => Promise<unknown>) => {
      let read = 0;
      return { result: pipeline(() => (read += 1)), read: () => read };
    };
    const sources = (count: () => void) => from(withIds(`r${(run += 1)}`, 3)).pipe(map((input) => (count(), input)));

    it('refuses a retryByErrorCode without a context, at subscription, saying what to change', async () => {
      const { result, read } = refused((count) =>
        lastValueFrom(
          sources(count).pipe(
            preprocess<number>(),
            bufferBatch<ClassifyItem<number>>(),
            classify<number>(client()),
            correlate<number>(),
            subscribeOn(asyncScheduler),
            retryByErrorCode<number>({ rules }),
            toArray(),
          ),
        ),
      );
      await expect(result).rejects.toMatchObject({
        name: 'InvalidOptionError',
        code: 'INVALID_OPTION',
        message: expect.stringContaining('make the pair with classifyStages(client)'),
      });
      expect(read()).toBe(0);
    });

    it('refuses a classify whose context is not its retry stage’s, at subscription, saying what to change', async () => {
      const { result, read } = refused((count) =>
        lastValueFrom(
          sources(count).pipe(
            preprocess<number>(),
            bufferBatch<ClassifyItem<number>>(),
            classify<number>(client(), { context: pipelineContext() }),
            correlate<number>(),
            retryByErrorCode<number>({ rules, context: pipelineContext() }),
            toArray(),
          ),
        ),
      );
      await expect(result).rejects.toMatchObject({
        code: 'INVALID_OPTION',
        message: expect.stringContaining('classify: its pipeline context has no retryByErrorCode subscribed'),
      });
      expect(read()).toBe(0);
    });

    it('refuses a classify subscribed before its retry stage (a connectable connected first), at subscription', async () => {
      // Its retry stage would subscribe later: too late, classify has already started.
      const { classify: linked } = classifyStages<number>(client(), { retry: { rules } });
      const errors = new Subject<unknown>();
      const failed = lastValueFrom(errors);
      let read = 0;
      const events = connectable(
        from(withIds(`c${(run += 1)}`, 3)).pipe(
          map((input) => ((read += 1), input)),
          preprocess<number>(),
          bufferBatch<ClassifyItem<number>>(),
          linked,
        ),
        { connector: () => new Subject(), resetOnDisconnect: false },
      );
      events.subscribe({ error: (err: unknown) => (errors.next(err), errors.complete()) });
      events.connect();
      await expect(failed).resolves.toMatchObject({
        code: 'INVALID_OPTION',
        message: expect.stringContaining('has no retryByErrorCode subscribed'),
      });
      expect(read).toBe(0);
    });

    it('refuses a second running retry stage of one pair, at subscription', async () => {
      const { classify: linked, retry } = classifyStages<number>(client(), { retry: { rules } });
      const pipeline = () =>
        lastValueFrom(
          from(withIds(`d${(run += 1)}`, 2)).pipe(
            preprocess<number>(),
            bufferBatch<ClassifyItem<number>>({ maxCount: 2, maxWaitMs: 5 }),
            linked,
            correlate<number>(),
            retry,
            toArray(),
          ),
        );
      const [first, second] = await Promise.allSettled([pipeline(), pipeline()]);
      expect(first).toMatchObject({ status: 'fulfilled' });
      expect(second).toMatchObject({
        status: 'rejected',
        reason: { message: expect.stringContaining('already serves another retryByErrorCode subscription') },
      });
    });
  });
});
