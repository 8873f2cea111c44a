import { concatMap, from, lastValueFrom, takeUntil, tap, toArray } from 'rxjs';
import { bufferBatch } from '../../src/operators/bufferBatch';
import { classify, type ClassifyItem } from '../../src/operators/classify';
import { classifyAll } from '../../src/pipeline/classifyAll';
import { classifyImages, type ClassifyImagesOptions } from '../../src/pipeline/classifyImages';
import { classifyIterable } from '../../src/pipeline/classifyIterable';
import { correlate, createCorrelateStats } from '../../src/operators/correlate';
import { inFlightWindow } from '../../src/operators/inFlightWindow';
import { preprocess } from '../../src/operators/preprocess';
import type { ClassificationEvent, ClassificationResult, ForeignOutput } from '../../src/operators/results';
import { retryByErrorCode } from '../../src/operators/retryByErrorCode';
import { pipelineContext } from '../../src/operators/pipelineContext';
import type { ImageInput, PreparedImage } from '../../src/preprocess/types';
import { startAthenaServer, type AthenaTestServer } from '../../src/testing';
import { createAthenaClient, insecure, type AthenaGrpcClient } from '../../src/transport';
import { accountedOnce, rawImages, testEnded } from './helpers';

const fast: ClassifyImagesOptions<number> = {
  preprocess: { encoding: 'brotli', brotliQuality: 1 },
  batch: { maxCount: 16, maxWait: 5 },
  retry: { ERROR_CODE_MODEL_ERROR: { retries: 3, initialDelay: 10 } },
};

const ours = <R>(events: ClassificationEvent<R>[]): ClassificationResult<R>[] =>
  events.filter((e): e is ClassificationResult<R> => e.kind !== 'foreign');

function withIds(prefix: string, n: number): ImageInput<number>[] {
  return [...rawImages(n)].map((input) => ({ ...input, correlationId: `${prefix}-${input.ref}` }));
}

describe('pipeline over loopback: reliability rules', () => {
  let server: AthenaTestServer;
  const clients: AthenaGrpcClient[] = [];
  const client = (token?: string): AthenaGrpcClient => {
    const c = createAthenaClient({ address: server.address, credentials: insecure(token) });
    clients.push(c);
    return c;
  };
  beforeAll(async () => {
    server = await startAthenaServer({ tokens: { open: '*', narrow: ['good'] } });
  });
  afterEach(() => {
    testEnded.next();
    server.faults.clear();
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(() => server.stop());

  it('a stream reset in the middle loses nothing and repeats nothing', async () => {
    server.faults.resetAfter(4); // the 4th request message of the next stream (join included) kills it
    const connection: string[] = [];
    const stats = createCorrelateStats();
    const window = inFlightWindow(64);
    const context = pipelineContext();
    const results = await lastValueFrom(
      from(rawImages(200)).pipe(
        preprocess<number>({ window, encoding: 'brotli', brotliQuality: 1 }),
        bufferBatch<ClassifyItem<number>>({ maxCount: 16, maxWait: 5 }),
        classify<number>(client('open'), { window, backlogGrace: 50, reconnect: { initialDelay: 20 }, context }),
        tap((e) => {
          if (e.kind === 'connection') connection.push(e.state);
        }),
        correlate<number>({ stats }),
        retryByErrorCode<number>({ context }),
        takeUntil(testEnded),
        toArray(),
      ),
    );
    expect(connection).toEqual(['open', 'reconnecting', 'open']);
    expect(
      accountedOnce(
        ours(results).map((r) => r.ref),
        200,
      ),
    ).toEqual({ missing: [], twice: [] });
    expect(ours(results).filter((r) => r.kind !== 'success')).toEqual([]);
    expect(stats.foreign).toBe(0);
    expect(window.inUse).toBe(0);
  });

  it('a global error fails every image of that one request, and only those', async () => {
    const inputs = [...rawImages(40, (i) => (i === 21 ? 'bad' : undefined))];
    const results = ours(
      await lastValueFrom(
        from(inputs).pipe(
          classifyImages<number>(createAthenaClient({ address: server.address, credentials: insecure('narrow'), affiliate: 'good' }), {
            ...fast,
            preprocess: { ...fast.preprocess, order: 'source' },
            // Batches by count alone (40 = 5 x 8): no timer may cut a batch short on a loaded machine.
            batch: { maxCount: 8, maxWait: 600_000 },
          }),
          takeUntil(testEnded),
          toArray(),
        ),
      ),
    );
    expect(
      accountedOnce(
        results.map((r) => r.ref),
        40,
      ),
    ).toEqual({ missing: [], twice: [] });
    const refused = results.filter((r) => r.kind === 'failure');
    expect(refused.map((r) => r.ref).sort((a, b) => a! - b!)).toEqual([16, 17, 18, 19, 20, 21, 22, 23]);
    for (const r of refused)
      expect(r).toMatchObject({ code: 'ERROR_CODE_AFFILIATE_NOT_PERMITTED', stage: 'server', retryable: false, attempts: 1 });
  });

  it('MODEL_ERROR is retried to success without preparing the image again', async () => {
    server.faults.modelErrorFor(['m-3', 'm-7'], 1);
    server.faults.modelErrorFor(['m-9'], 10); // never recovers within 3 retries
    let prepared = 0;
    const results = ours(
      await lastValueFrom(
        from(withIds('m', 12)).pipe(
          tap(() => (prepared += 1)),
          classifyImages<number>(client('open'), fast),
          takeUntil(testEnded),
          toArray(),
        ),
      ),
    );
    expect(prepared).toBe(12);
    expect(
      accountedOnce(
        results.map((r) => r.ref),
        12,
      ),
    ).toEqual({ missing: [], twice: [] });
    const byRef = new Map(results.map((r) => [r.ref, r]));
    expect(byRef.get(3)).toMatchObject({ kind: 'success', attempts: 2 });
    expect(byRef.get(7)).toMatchObject({ kind: 'success', attempts: 2 });
    expect(byRef.get(9)).toMatchObject({ kind: 'failure', code: 'ERROR_CODE_MODEL_ERROR', attempts: 4 });
    expect(byRef.get(0)).toMatchObject({ kind: 'success', attempts: 1 });
    expect(server.audit.filter((a) => a.correlationId === 'm-3')).toHaveLength(2);
  });

  it('an undecodable image among good ones fails alone, before anything is sent', async () => {
    const inputs: ImageInput<number>[] = [...rawImages(10)];
    inputs.splice(4, 0, { source: Buffer.from('this is not an image at all'), ref: 100 });
    const results = await classifyAll(client('open'), inputs, fast);
    expect(results).toHaveLength(11);
    expect(results[4]).toMatchObject({ kind: 'failure', stage: 'preprocess', attempts: 0, ref: 100 });
    expect(results.filter((r) => r.kind === 'success').map((r) => r.ref)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('two pipelines sharing a deployment each get their own results, and the other’s as foreign events', async () => {
    // Images flow only once both pipelines have joined (each joins with an empty request when it
    // subscribes), so the deployment really is shared however the machine schedules them.
    const bothJoined = (async () => {
      while ((server.deployments().find((d) => d.deploymentId === 'shared-pipelines')?.streams ?? 0) < 2) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    const run = (prefix: string, start: Promise<unknown>) =>
      lastValueFrom(
        from(start).pipe(
          concatMap(() => withIds(prefix, 40)),
          classifyImages<number>(client('open'), {
            ...fast,
            // Images answered to the other member end as timeouts; the timeout is long enough that an
            // answer delayed by a loaded CI machine still arrives in time (1.5 s was not, under load).
            classify: { deploymentId: 'shared-pipelines', responseTimeout: 6000 },
          }),
          takeUntil(testEnded),
          toArray(),
        ),
      );
    // A sends while B is joined and idle, so answers to A's requests go round robin to both
    // members: some of them must reach B (as foreign) and be lost to A. B sends once A is done.
    // (Sending both at once let the rotation line up with the senders now and then: no foreign.)
    const aResults = run('A', bothJoined);
    const bResults = run(
      'B',
      bothJoined.then(() => aResults),
    );
    const [a, b] = await Promise.all([aResults, bResults]);
    const foreign = (events: ClassificationEvent<number>[]) =>
      events.filter((e): e is ForeignOutput => e.kind === 'foreign').map((e) => e.correlationId);
    for (const [mine, theirs, prefix] of [
      [a, b, 'A'],
      [b, a, 'B'],
    ] as const) {
      const results = ours(mine);
      expect(
        accountedOnce(
          results.map((r) => r.ref),
          40,
        ),
      ).toEqual({ missing: [], twice: [] });
      // What we did not get went to the other member, which saw it as foreign; nothing else is missing.
      const lost = results
        .filter((r) => r.kind === 'failure')
        .map((r) => r.correlationId)
        .sort();
      for (const r of results.filter((r) => r.kind === 'failure')) expect(r).toMatchObject({ code: 'RESPONSE_TIMEOUT' });
      expect(
        foreign(theirs)
          .filter((id) => id.startsWith(prefix))
          .sort(),
      ).toEqual(lost);
      expect(foreign(mine).every((id) => !id.startsWith(prefix))).toBe(true);
    }
    expect(foreign(b).length).toBeGreaterThan(0);
  });

  it('a 2,000-image source (31 windows) with a slow server never has more prepared images alive than the window', async () => {
    server.faults.latency(15);
    const size = 64;
    const window = inFlightWindow(size);
    const stats = createCorrelateStats();
    let prepared = 0;
    let maxAlive = 0;
    let pulled = 0;
    let consumed = 0;
    let maxAhead = 0;
    function* sources(): Generator<ImageInput<number>> {
      for (let i = 0; i < 2000; i++) {
        pulled += 1;
        maxAhead = Math.max(maxAhead, pulled - consumed);
        yield { source: Buffer.alloc(0), ref: i, correlationId: `w-${i}` };
      }
    }
    // A cheap `prepare` (a hash-only image) keeps the test fast. It counts the images alive:
    // prepared, and not yet out of the pipeline as a result (correlate counts those).
    const prepare = (input: ImageInput<number>): Promise<PreparedImage<number>> => {
      prepared += 1;
      maxAlive = Math.max(maxAlive, prepared - stats.results);
      return Promise.resolve({
        kind: 'prepared',
        correlationId: input.correlationId!,
        format: 'IMAGE_FORMAT_UNSPECIFIED',
        encoding: 'REQUEST_ENCODING_UNCOMPRESSED',
        data: Buffer.alloc(0),
        hashes: [{ type: 'HASH_TYPE_MD5', value: 'd41d8cd98f00b204e9800998ecf8427e' }],
        pixelHashes: [],
        passedThrough: false,
        sourceFormat: 'IMAGE_FORMAT_UNSPECIFIED',
        sizes: { original: 0, prepared: 0, wire: 0 },
        timings: { readMs: 0, decodeMs: 0, resizeMs: 0, hashMs: 0, compressMs: 0, totalMs: 0 },
        ref: input.ref,
      });
    };
    let count = 0;
    const refs: number[] = [];
    for await (const event of classifyIterable<number>(client('open'), sources(), {
      window,
      stats,
      preprocess: { prepare: prepare as never, concurrency: 8 },
      batch: { maxCount: 16, maxWait: 5 },
    })) {
      if (event.kind === 'foreign') continue;
      consumed += 1;
      count += 1;
      refs.push(event.ref!);
      expect(event.kind).toBe('success');
    }
    expect(count).toBe(2000);
    expect(accountedOnce(refs, 2000)).toEqual({ missing: [], twice: [] });
    expect(window.highWater).toBeLessThanOrEqual(size);
    expect(maxAlive).toBeLessThanOrEqual(size);
    expect(maxAhead).toBeLessThanOrEqual(size + 1);
    expect(window.inUse).toBe(0);
  });
});
