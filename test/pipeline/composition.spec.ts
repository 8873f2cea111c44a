import {
  asapScheduler,
  concatMap,
  delay,
  from,
  lastValueFrom,
  map,
  observeOn,
  of,
  subscribeOn,
  toArray,
  type MonoTypeOperatorFunction,
} from 'rxjs';
import { bufferBatch } from '../../src/operators/bufferBatch';
import type { ClassifyItem } from '../../src/operators/classify';
import { correlate, createCorrelateStats } from '../../src/operators/correlate';
import { inFlightWindow } from '../../src/operators/inFlightWindow';
import { pipelineContext, type PipelineContext } from '../../src/operators/pipelineContext';
import { preprocess } from '../../src/operators/preprocess';
import type { ClassificationEvent, ClassificationResult } from '../../src/operators/results';
import { startAthenaServer, type AthenaTestServer } from '../../src/testing';
import { createAthenaClient, insecure, type AthenaGrpcClient } from '../../src/transport';
import { classify } from '../../src/operators/classify';
import { retryByErrorCode } from '../../src/operators/retryByErrorCode';
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
        bufferBatch<ClassifyItem<number>>({ maxCount: 2, maxWait: 5 }),
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
    const results = ours(
      await lastValueFrom(
        from(withIds(prefix, 5)).pipe(
          preprocess<number>({ window }),
          bufferBatch<ClassifyItem<number>>({ maxCount: 2, maxWait: 5 }),
          classify<number>(client(), { window }),
          correlate<number>({ stats }),
          between,
          retryByErrorCode<number>({ rules: { ERROR_CODE_MODEL_ERROR: { retries: 2, initialDelay: 5 } } }),
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
    const results = ours(
      await lastValueFrom(
        from(withIds(prefix, 7))
          .pipe(
            preprocess<number>({ window }),
            map((item) => ({ ...item })),
            observeOn(asapScheduler),
            bufferBatch<ClassifyItem<number>>({ maxCount: 2, maxWait: 5 }),
            map((batch) => batch.map((item) => ({ ...item }))),
            classify<number>(client(), { window }),
          )
          .pipe(
            delay(1),
            correlate<number>(),
            concatMap((e) => of(e).pipe(delay(0))),
            retryByErrorCode<number>({ rules: { ERROR_CODE_MODEL_ERROR: { retries: 1, initialDelay: 5 } } }),
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

  describe('subscribeOn between classify and retryByErrorCode (classify subscribes after the retry stage)', () => {
    const run = (prefix: string, context?: PipelineContext) => {
      server.faults.modelErrorFor([`${prefix}-1`], 1);
      const rules = { ERROR_CODE_MODEL_ERROR: { retries: 1, initialDelay: 5 } };
      return lastValueFrom(
        from(withIds(prefix, 3)).pipe(
          preprocess<number>(),
          bufferBatch<ClassifyItem<number>>({ maxCount: 3, maxWait: 5 }),
          classify<number>(client(), context ? { context } : {}),
          correlate<number>(),
          subscribeOn(asapScheduler),
          retryByErrorCode<number>(context ? { rules, context } : { rules }),
          toArray(),
        ),
      );
    };

    it('retries when both are given the same pipelineContext()', async () => {
      const results = ours(await run('so1', pipelineContext()));
      expect(Object.fromEntries(results.map((r) => [r.ref, `${r.kind} #${r.attempts}`]))).toEqual({
        0: 'success #1',
        1: 'success #2',
        2: 'success #1',
      });
    });

    it('without a shared context, errors with what to change instead of silently not retrying', async () => {
      await expect(run('so2')).rejects.toMatchObject({
        name: 'InvalidOptionError',
        code: 'INVALID_OPTION',
        message: expect.stringContaining('Pass the same pipelineContext() to classify({ context }) and retryByErrorCode({ context })'),
      });
    });
  });
});
